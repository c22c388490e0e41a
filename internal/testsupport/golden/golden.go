// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

// Package golden reads and writes golden files of pdata as indented OTLP
// JSON, so reviewers can read them and diffs stay small. Run tests with
// -update to rewrite them (contrib's pkg/golden is not served here).
package golden // import "github.com/cloudtrail-detect/ssmsession/internal/testsupport/golden"

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/plogtest"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

var update = flag.Bool("update", false, "rewrite golden files with the current output")

// Input reads the checked-in input at path; with -update it first writes
// what build makes. Inputs are checked in beside the expected outputs, so a
// reviewer reads both without reading the generator.
func Input(tb testing.TB, path string, build func() (plog.Logs, error)) plog.Logs {
	tb.Helper()
	if *update {
		ld, err := build()
		if err != nil {
			tb.Fatal(err)
		}
		raw, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
		if err != nil {
			tb.Fatal(err)
		}
		readOrWrite(tb, path, raw)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("input missing (run go test -update to create it): %v", err)
	}
	ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(raw)
	if err != nil {
		tb.Fatalf("input %s: %v", path, err)
	}
	return ld
}

// CompareLogs checks ld against the golden file at path.
func CompareLogs(tb testing.TB, path string, ld plog.Logs, opts ...plogtest.CompareLogsOption) {
	tb.Helper()
	raw, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
	if err != nil {
		tb.Fatal(err)
	}
	want := readOrWrite(tb, path, raw)
	expected, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(want)
	if err != nil {
		tb.Fatalf("golden %s: %v", path, err)
	}
	if err := plogtest.CompareLogs(expected, ld, opts...); err != nil {
		tb.Errorf("output differs from %s (run go test -update to accept): %v", path, err)
	}
}

// CompareMetrics checks md against the golden file at path.
func CompareMetrics(tb testing.TB, path string, md pmetric.Metrics, opts ...pmetrictest.CompareMetricsOption) {
	tb.Helper()
	raw, err := (&pmetric.JSONMarshaler{}).MarshalMetrics(md)
	if err != nil {
		tb.Fatal(err)
	}
	want := readOrWrite(tb, path, raw)
	expected, err := (&pmetric.JSONUnmarshaler{}).UnmarshalMetrics(want)
	if err != nil {
		tb.Fatalf("golden %s: %v", path, err)
	}
	if err := pmetrictest.CompareMetrics(expected, md, opts...); err != nil {
		tb.Errorf("output differs from %s (run go test -update to accept): %v", path, err)
	}
}

// CompareBytes checks data against the file at path (rewritten with -update).
func CompareBytes(tb testing.TB, path string, data []byte) {
	tb.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("golden file missing (run go test -update to create it): %v", err)
	}
	if !bytes.Equal(want, data) {
		tb.Errorf("%s differs from what the code produces now (run go test -update to rewrite it)", path)
	}
}

func readOrWrite(tb testing.TB, path string, raw []byte) []byte {
	tb.Helper()
	if *update {
		var b bytes.Buffer
		if err := json.Indent(&b, raw, "", "  "); err != nil {
			tb.Fatal(err)
		}
		b.WriteByte('\n')
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("golden file missing (run go test -update to create it): %v", err)
	}
	return want
}
