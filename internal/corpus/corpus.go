// Package corpus loads the project's own CloudTrail test events
// (testdata/events) and the tags they are expected to get, for the unit,
// golden and end-to-end tests alike.
package corpus

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Root is the repository root: the nearest directory up from the working
// directory holding the main module's go.mod (not tools/go.mod).
func Root() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "builder-config.yaml")); err == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", errors.New("repository root (builder-config.yaml) not found above " + wd)
		}
	}
}

// Path returns a path under the repository root.
func Path(tb testing.TB, elem ...string) string {
	tb.Helper()
	root, err := Root()
	if err != nil {
		tb.Fatal(err)
	}
	return filepath.Join(append([]string{root}, elem...)...)
}

// Events reads testdata/events/<name>.ndjson: one raw event per line.
func Events(tb testing.TB, name string) [][]byte {
	tb.Helper()
	lines, err := ReadLines(Path(tb, "testdata", "events", name+".ndjson"))
	if err != nil {
		tb.Fatal(err)
	}
	return lines
}

// ReadLines reads the non-empty lines of a file.
func ReadLines(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for sc.Scan() {
		if len(sc.Bytes()) > 0 {
			out = append(out, append([]byte(nil), sc.Bytes()...))
		}
	}
	return out, sc.Err()
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
