// Package samples loads the shared real CloudTrail records (../shared beside
// the repository) that tests compare against Elastic's expected values. The
// records are read in place, never copied into the project.
package samples

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
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
// skips the test when it is not there.
func Dir(tb testing.TB) string {
	tb.Helper()
	if d := os.Getenv("SSMSESSION_SAMPLES"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && !isNested(dir) {
			d := filepath.Join(dir, "..", "shared", "cloudtrail-samples")
			if _, err := os.Stat(filepath.Join(d, "events.ndjson")); err != nil {
				tb.Skipf("shared samples not found at %s (set SSMSESSION_SAMPLES)", d)
			}
			return d
		}
		if filepath.Dir(dir) == dir {
			tb.Skip("repository root not found")
		}
	}
}

// isNested reports whether dir's go.mod is a sub-module (tools/).
func isNested(dir string) bool {
	_, err := os.Stat(filepath.Join(filepath.Dir(dir), "go.mod"))
	return err == nil
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
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for sc.Scan() {
		if len(sc.Bytes()) > 0 {
			out = append(out, sc.Text())
		}
	}
	return out, sc.Err()
}
