// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

// Package samples loads the shared real CloudTrail records (../shared beside
// the repository) that tests compare against Elastic's expected values. The
// records are read in place, never copied into the project.
package samples // import "github.com/cloudtrail-detect/ssmsession/internal/testsupport/samples"

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/corpus"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/repo"
)

// Sample is one line of events.ndjson with the matching lines of the other
// files.
type Sample struct {
	Line int
	// Raw is the CloudTrail event exactly as published.
	Raw string
	// Elastic is the line of elastic-pipeline-emulation.ndjson: ECS field
	// name to value, plus the rule and hunt results.
	Elastic map[string]any
	// Expected holds the values from Elastic's own pipeline tests, where
	// there are any (nil otherwise).
	Expected map[string]any
}

// Dir finds ../shared/cloudtrail-samples beside the repository root, or
// skips the test when it is not there, unless SSMSESSION_REQUIRE_SAMPLES is
// set (CI sets it): then it fails.
func Dir(tb testing.TB) string {
	tb.Helper()
	if d := os.Getenv("SSMSESSION_SAMPLES"); d != "" {
		return d
	}
	d := filepath.Join(corpus.Path(tb), "..", "shared", "cloudtrail-samples")
	if _, err := os.Stat(filepath.Join(d, "events.ndjson")); err != nil {
		if os.Getenv("SSMSESSION_REQUIRE_SAMPLES") != "" {
			tb.Fatalf("shared samples not found at %s (set SSMSESSION_SAMPLES)", d)
		}
		tb.Skipf("shared samples not found at %s (set SSMSESSION_SAMPLES; SSMSESSION_REQUIRE_SAMPLES makes this fail)", d)
	}
	return d
}

// Load reads all samples.
func Load(tb testing.TB) []Sample {
	tb.Helper()
	dir := Dir(tb)
	raws, err := lines(filepath.Join(dir, "events.ndjson"))
	if err != nil {
		tb.Fatal(err)
	}
	elastic, err := lines(filepath.Join(dir, "elastic-pipeline-emulation.ndjson"))
	if err != nil {
		tb.Fatal(err)
	}
	expected, err := lines(filepath.Join(dir, "expected.ndjson"))
	if err != nil {
		tb.Fatal(err)
	}
	if len(elastic) != len(raws) || len(expected) != len(raws) {
		tb.Fatal(errors.New("sample files differ in length"))
	}
	out := make([]Sample, len(raws))
	for i := range raws {
		out[i] = Sample{Line: i + 1, Raw: raws[i]}
		if err := json.Unmarshal([]byte(elastic[i]), &out[i].Elastic); err != nil {
			tb.Fatal(err)
		}
		var exp map[string]any
		if err := json.Unmarshal([]byte(expected[i]), &exp); err != nil {
			tb.Fatal(err)
		}
		if exp["expected_source"] != nil {
			out[i].Expected = exp
		}
	}
	return out
}

func lines(path string) ([]string, error) {
	raw, err := repo.ReadLines(path)
	out := make([]string, len(raw))
	for i, l := range raw {
		out[i] = string(l)
	}
	return out, err
}
