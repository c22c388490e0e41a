// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

// Package corpus loads the project's own CloudTrail test events
// (testdata/events) and the tags they are expected to get, for the unit,
// golden and end-to-end tests alike.
package corpus // import "github.com/cloudtrail-detect/ssmsession/internal/testsupport/corpus"

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/repo"
)

// Path returns a path under the repository root.
func Path(tb testing.TB, elem ...string) string {
	tb.Helper()
	root, err := repo.Root()
	if err != nil {
		tb.Fatal(err)
	}
	return filepath.Join(append([]string{root}, elem...)...)
}

// Events reads testdata/events/<name>.ndjson: one raw event per line.
func Events(tb testing.TB, name string) [][]byte {
	tb.Helper()
	lines, err := repo.ReadLines(Path(tb, "testdata", "events", name+".ndjson"))
	if err != nil {
		tb.Fatal(err)
	}
	return lines
}

// DemoStream reads the demo's production stream (testdata/demo/stream):
// four days of one account's CloudTrail, one event per line.
func DemoStream(tb testing.TB) [][]byte {
	tb.Helper()
	lines, err := repo.ReadLines(Path(tb, "testdata", "demo", "stream", "111122223333_cloudtrail.ndjson"))
	if err != nil {
		tb.Fatal(err)
	}
	return lines
}

// Match is the expected tagging of one record of identities.ndjson.
type Match struct {
	Record         int      `json:"record"`
	Note           string   `json:"note"`
	NewTerm        bool     `json:"new_term"`
	Terms          []string `json:"terms"`
	Principal      string   `json:"principal"`
	Target         string   `json:"target"`
	SourceInstance string   `json:"source_instance"`
}

// Expected reads testdata/events/identities.expected.json by record index;
// records absent from the map must pass through untagged.
func Expected(tb testing.TB) map[int]Match {
	tb.Helper()
	raw, err := os.ReadFile(Path(tb, "testdata", "events", "identities.expected.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var doc struct {
		Matches []Match `json:"matches"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		tb.Fatal(err)
	}
	out := map[int]Match{}
	for _, m := range doc.Matches {
		out[m.Record] = m
	}
	return out
}

// Lifecycle is what testdata/events/lifecycle.expected.json says of
// lifecycle.ndjson: each rule match's enrichment and the connector's
// session metrics.
type Lifecycle struct {
	Matches []LifecycleMatch `json:"matches"`
	Hunt    struct {
		Durations []struct {
			Target string  `json:"target"`
			ARN    string  `json:"arn"`
			Count  uint64  `json:"count"`
			Sum    float64 `json:"sum"`
			Bucket int     `json:"bucket"`
		} `json:"durations"`
		Open                map[string]int64 `json:"open"`
		UnknownTerminations int64            `json:"unknown_terminations"`
	} `json:"hunt"`
}

// LifecycleMatch is the enrichment of one match; empty strings and a nil
// RecentlyLaunched mean "not tagged".
type LifecycleMatch struct {
	Record           int    `json:"record"`
	SessionID        string `json:"session_id"`
	DocumentName     string `json:"document_name"`
	LaunchedAt       string `json:"launched_at"`
	RecentlyLaunched *bool  `json:"recently_launched"`
}

// LifecycleExpected reads testdata/events/lifecycle.expected.json.
func LifecycleExpected(tb testing.TB) Lifecycle {
	tb.Helper()
	raw, err := os.ReadFile(Path(tb, "testdata", "events", "lifecycle.expected.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var l Lifecycle
	if err := json.Unmarshal(raw, &l); err != nil {
		tb.Fatal(err)
	}
	return l
}
