// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

// Package e2e runs the built collector binary (bin/otelcol-ssmsession) on
// real files with filelog, file_storage and the file exporter.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/collectorrun"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/corpus"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/repo"
)

var binary string

func TestMain(m *testing.M) {
	root, err := repo.Root()
	if err == nil {
		binary, err = collectorrun.Build(root)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

const waitTimeout = 90 * time.Second

// run is one collector run in a test directory: file_log on its input
// folder, the processor, the file exporter; the hunt connector when its
// Metrics path is set.
type run struct {
	config
	c *collectorrun.Collector
}

func newRun(t testing.TB, dir, name string) *run {
	t.Helper()
	port, err := collectorrun.FreePort()
	require.NoError(t, err)
	r := &run{config: config{
		Input:       filepath.Join(dir, "input"),
		State:       filepath.Join(dir, "state"),
		Output:      filepath.Join(dir, name+".json"),
		MetricsPort: port,
	}}
	require.NoError(t, os.MkdirAll(r.Input, 0o755))
	return r
}

func (r *run) start(t testing.TB) {
	t.Helper()
	r.c = startCollector(t, strings.TrimSuffix(r.Output, ".json")+".yaml", r.config)
}

// startCollector writes cfg to path, starts the binary on it, and kills it
// at test end if still running.
func startCollector(t testing.TB, path string, cfg config) *collectorrun.Collector {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, collectorConfig.Execute(&b, cfg))
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))
	c, err := collectorrun.Start(binary, path, []string{collectorrun.CrashSafe}, cfg.Env...)
	require.NoError(t, err)
	t.Cleanup(func() {
		if !c.Exited() {
			c.Kill()
		}
	})
	return c
}

// waitRecords waits until the output holds n records and returns them;
// more than n, then or a moment later, fails the test.
func (r *run) waitRecords(t testing.TB, n int) []plog.LogRecord {
	t.Helper()
	return collectorrun.Records(waitLogs(t, r.c, r.Output, n))
}

// waitLogs waits until the file exporter's output at path holds n records
// and returns what it holds. It then reads the output again after a quiet
// moment: records beyond n (a duplicate, a file read twice) fail the test.
func waitLogs(t testing.TB, c *collectorrun.Collector, path string, n int) []plog.Logs {
	t.Helper()
	var batches []plog.Logs
	require.NoError(t, c.WaitFor(waitTimeout, func() (bool, error) {
		var err error
		batches, err = collectorrun.ReadLogs(path)
		return len(collectorrun.Records(batches)) >= n, err
	}))
	time.Sleep(quiet)
	again, err := collectorrun.ReadLogs(path)
	require.NoError(t, err)
	require.Len(t, collectorrun.Records(again), n, "records beyond the %d expected", n)
	return again
}

// quiet is how long the output must stay as it is once complete.
const quiet = 500 * time.Millisecond

func (r *run) stop(t testing.TB) {
	t.Helper()
	require.NoError(t, r.c.Stop(30*time.Second))
}

// metric scrapes one self-telemetry value from the collector.
func (r *run) metric(t *testing.T, name string) float64 {
	t.Helper()
	v, ok := r.scrape(t, name)
	if !ok {
		t.Fatalf("metric %s not exposed", name)
	}
	return v
}

// counter is a counter's value. One not exposed fails the test, so that a
// renamed counter is not read as 0: for a counter that may never have been
// added to, use notCounted.
func (r *run) counter(t *testing.T, name string) float64 {
	t.Helper()
	v, ok := r.scrape(t, name)
	if !ok {
		t.Fatalf("counter %s not exposed", name)
	}
	return v
}

// notCounted asserts that a counter counted nothing. The collector's
// Prometheus self-telemetry exposes a counter only once it was added to,
// and the components add to some only when there is something to count
// (storage_errors on an error, records_malformed when a batch had one): such
// a counter is then absent, not 0. Absence alone would pass for a misspelt
// or renamed counter too, so the name must be one a component's
// documentation.md lists (mdatagen generates it and the telemetry from the
// same metadata.yaml), and present, a counter of the same component added to
// on every batch, must be exposed: the scrape holds that component's
// telemetry.
func (r *run) notCounted(t *testing.T, name, present string) {
	t.Helper()
	require.True(t, documented(t, name), "%s is not a documented self-telemetry metric", name)
	_ = r.counter(t, present)
	if v, ok := r.scrape(t, name); ok {
		assert.Zero(t, v, name)
	}
}

// documented reports whether a component's documentation.md lists the
// self-telemetry metric name.
func documented(t *testing.T, name string) bool {
	t.Helper()
	root, err := repo.Root()
	require.NoError(t, err)
	for _, doc := range []string{"processor/ssmsessionprocessor/documentation.md", "connector/ssmsessionconnector/documentation.md"} {
		raw, err := os.ReadFile(filepath.Join(root, doc))
		require.NoError(t, err)
		if bytes.Contains(raw, []byte("\n### "+name+"\n")) {
			return true
		}
	}
	return false
}

func (r *run) scrape(t *testing.T, name string) (float64, bool) {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", r.MetricsPort))
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") || strings.HasPrefix(line, name+"_total") {
			v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			require.NoError(t, err)
			return v, true
		}
	}
	return 0, false
}

func attr(lr plog.LogRecord, k string) string {
	v, ok := lr.Attributes().Get(k)
	if !ok {
		return ""
	}
	return v.AsString()
}

func writeFile(t testing.TB, path string, lines ...[]byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, append(bytes.Join(lines, []byte("\n")), '\n'), 0o644))
}

// checkTags compares output records with the expected tags of the identity
// corpus; bodies are what each record's body must be (the raw event, or the
// EventBridge event carrying it), a text or a map. override replaces the
// expectation of new_term for some records.
func checkTags(t *testing.T, out []plog.LogRecord, bodies [][]byte, override map[int]string) {
	t.Helper()
	expected := corpus.Expected(t)
	require.Len(t, out, len(bodies))
	for i, lr := range out {
		assert.JSONEq(t, string(bodies[i]), bodyJSON(t, lr), "record %d body must be the event, unchanged", i)
		w, match := expected[i]
		if !match {
			assert.Empty(t, attr(lr, "rule.id"), "record %d", i)
			continue
		}
		want := strconv.FormatBool(w.NewTerm)
		if o, ok := override[i]; ok {
			want = o
		}
		assert.Equal(t, "804a7ac8-fc00-11ee-924b-f661ea17fbce", attr(lr, "rule.id"), "record %d", i)
		assert.Equal(t, want, attr(lr, "ssmsession.new_term"), "record %d (%s)", i, w.Note)
		assert.Equal(t, w.Principal, attr(lr, "ssmsession.principal"), "record %d", i)
		assert.Equal(t, w.Target, attr(lr, "ssmsession.target"), "record %d", i)
		assert.Equal(t, w.SourceInstance, attr(lr, "ssmsession.source_instance"), "record %d", i)
		var terms []string
		if v, ok := lr.Attributes().Get("ssmsession.terms"); ok {
			for _, term := range v.Slice().All() {
				terms = append(terms, term.AsString())
			}
		}
		assert.Equal(t, w.Terms, terms, "record %d", i)
	}
}

// bodyJSON is a record's body as JSON text: the text itself, or a map
// marshalled.
func bodyJSON(t *testing.T, lr plog.LogRecord) string {
	t.Helper()
	if lr.Body().Type() == pcommon.ValueTypeMap {
		raw, err := json.Marshal(lr.Body().Map().AsRaw())
		require.NoError(t, err)
		return string(raw)
	}
	return lr.Body().AsString()
}

// TestNDJSON: filelog reads an NDJSON CloudTrail file; every record comes
// out, tagged as expected, and the processor's self-telemetry agrees.
func TestNDJSON(t *testing.T) {
	raws := corpus.Events(t, "identities")
	r := newRun(t, t.TempDir(), "out")
	writeFile(t, filepath.Join(r.Input, "cloudtrail.ndjson"), raws...)
	r.start(t)
	out := r.waitRecords(t, len(raws))
	checkTags(t, out, raws, nil)
	assert.Equal(t, float64(len(raws)), r.metric(t, "otelcol_processor_ssmsession_records_inspected"))
	assert.Equal(t, float64(len(corpus.Expected(t))), r.metric(t, "otelcol_processor_ssmsession_records_matched"))
	assert.Equal(t, float64(10), r.metric(t, "otelcol_processor_ssmsession_new_terms"))
	r.stop(t)
}

// TestS3Object: a CloudTrail file object ({"Records":[...]}) as filelog
// reads it from S3 is split into one record per event, in order.
func TestS3Object(t *testing.T) {
	raws := corpus.Events(t, "identities")
	r := newRun(t, t.TempDir(), "out")
	object := append([]byte(`{"Records":[`), bytes.Join(raws, []byte(","))...)
	writeFile(t, filepath.Join(r.Input, "111122223333_CloudTrail_eu-west-1_20261104T1205Z_Ab12Cd34.json"), append(object, "]}"...))
	r.start(t)
	out := r.waitRecords(t, len(raws))
	checkTags(t, out, raws, nil)
	r.stop(t)
}

// TestRestartDoesNotReAlert: a second collector on the same file_storage
// sees the whole history again (a new file, as after a re-ingest) and
// alerts none of the terms the first run alerted.
func TestRestartDoesNotReAlert(t *testing.T) {
	raws := corpus.Events(t, "identities")
	dir := t.TempDir()
	first := newRun(t, dir, "first")
	writeFile(t, filepath.Join(first.Input, "part1.ndjson"), raws[:10]...)
	first.start(t)
	out := first.waitRecords(t, 10)
	checkTags(t, out, raws[:10], nil)
	first.stop(t)

	// filelog knows files by their first bytes: the replay opens with a
	// different line, or it would be taken for part1 and resumed mid-way.
	second := newRun(t, dir, "second")
	writeFile(t, filepath.Join(second.Input, "replay.ndjson"), append([][]byte{[]byte(`{"replay":true}`)}, raws...)...)
	second.start(t)
	out = second.waitRecords(t, 1+len(raws))[1:] // part1 is checkpointed and not re-read
	override := map[int]string{}
	for i, w := range corpus.Expected(t) {
		if i < 10 && w.NewTerm {
			override[i] = "false"
		}
	}
	checkTags(t, out, raws, override)
	second.stop(t)
}

// TestOneProcessorTwoPipelines: the processor listed in two pipelines of one
// collector decides from one state with one storage client. The corpus fed
// half through each pipeline is tagged as through one, and storage never
// degrades (the second client of one file_storage used to block, then fall
// back to memory, alerting every term twice).
func TestOneProcessorTwoPipelines(t *testing.T) {
	raws := corpus.Events(t, "identities")
	dir := t.TempDir()
	r := newRun(t, dir, "out")
	r.Second = filepath.Join(dir, "second")
	require.NoError(t, os.MkdirAll(r.Second, 0o755))
	r.start(t)
	writeFile(t, filepath.Join(r.Input, "part1.ndjson"), raws[:11]...)
	r.waitRecords(t, 11)
	writeFile(t, filepath.Join(r.Second, "part2.ndjson"), raws[11:]...)
	checkTags(t, r.waitRecords(t, len(raws)), raws, nil)
	// storage_errors is added to only on an error: in a healthy run it is
	// not exposed. storage_writes, added to on every batch, shows the
	// processor used its storage.
	r.notCounted(t, "otelcol_processor_ssmsession_storage_errors", "otelcol_processor_ssmsession_storage_writes")
	assert.Positive(t, r.counter(t, "otelcol_processor_ssmsession_storage_writes"), "term states written to file_storage")
	assert.NotContains(t, r.c.Log(), "storage degraded")
	r.stop(t)
}
