// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/collectorrun"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/corpus"
)

// huntConfig: logs are tagged by the processor and counted by the
// connector, whose metrics go to a file. It is crash-safe end to end:
// file_log consumes synchronously (the feature gate, passed by
// startCollector) and the file exporters write through (rotation set;
// without it they buffer).
var huntConfig = template.Must(template.New("hunt").Parse(`
extensions:
  file_storage:
    directory: {{.State}}
    create_directory: true
receivers:
  file_log:
    include: ['{{.Input}}/*']
    start_at: beginning
    storage: file_storage
    poll_interval: 20ms
processors:
  ssmsession:
    new_terms:
      storage: file_storage
connectors:
  ssmsession:
    emit_interval: 100ms
    storage: file_storage
exporters:
  file/logs:
    path: {{.Output}}
    rotation: {max_megabytes: 1024}
  file/metrics:
    path: {{.Metrics}}
    rotation: {max_megabytes: 1024}
service:
  extensions: [file_storage]
  telemetry:
    metrics:
      level: none
  pipelines:
    logs:
      receivers: [file_log]
      processors: [ssmsession]
      exporters: [file/logs, ssmsession]
    metrics:
      receivers: [ssmsession]
      exporters: [file/metrics]
`))

type huntRun struct {
	Input, State, Output, Metrics string
	c                             *collectorrun.Collector
}

func newHuntRun(t *testing.T, dir, name string) *huntRun {
	t.Helper()
	r := &huntRun{Input: filepath.Join(dir, "input"), State: filepath.Join(dir, "state"),
		Output: filepath.Join(dir, name+"-logs.json"), Metrics: filepath.Join(dir, name+"-metrics.json")}
	require.NoError(t, os.MkdirAll(r.Input, 0o755))
	return r
}

func (r *huntRun) start(t *testing.T) {
	t.Helper()
	r.c = startCollector(t, strings.TrimSuffix(r.Output, "-logs.json")+".yaml", huntConfig, r)
}

func startHunt(t *testing.T, dir, name string) *huntRun {
	t.Helper()
	r := newHuntRun(t, dir, name)
	r.start(t)
	return r
}

// lastMetrics reads the newest emission in the metrics file at path and
// sums each metric's points by name, and by name and target_instance.
func lastMetrics(t *testing.T, path string) map[string]int64 {
	t.Helper()
	batches, err := collectorrun.ReadMetrics(path)
	require.NoError(t, err)
	out := map[string]int64{}
	if len(batches) == 0 {
		return out
	}
	md := batches[len(batches)-1]
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		ms := md.ResourceMetrics().At(i).ScopeMetrics().At(0).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			dps := pmetric.NewNumberDataPointSlice()
			if m.Type() == pmetric.MetricTypeSum {
				dps = m.Sum().DataPoints()
			} else {
				dps = m.Gauge().DataPoints()
			}
			for k := 0; k < dps.Len(); k++ {
				out[m.Name()] += dps.At(k).IntValue()
				if target, ok := dps.At(k).Attributes().Get("target_instance"); ok {
					out[m.Name()+"|"+target.Str()] += dps.At(k).IntValue()
				}
			}
		}
	}
	return out
}

// waitLogs waits until the tagged logs output holds at least n records and
// returns them.
func (r *huntRun) waitLogs(t *testing.T, n int) []plog.LogRecord {
	t.Helper()
	return collectorrun.Records(waitLogs(t, r.c, r.Output, n))
}

// TestHuntMetrics: the built collector counts the corpus's StartSession
// calls in a 7-day window of event time and emits once more on shutdown;
// after a restart on the same storage, a full replay changes no count.
func TestHuntMetrics(t *testing.T) {
	raws := corpus.Events(t, "identities")
	dir := t.TempDir()
	first := startHunt(t, dir, "first")
	writeFile(t, filepath.Join(first.Input, "cloudtrail.ndjson"), raws...)
	first.waitLogs(t, len(raws))
	require.NoError(t, first.c.Stop(waitTimeout))
	got := lastMetrics(t, first.Metrics)
	// The window ends with the newest event (2026-11-15 09:05): alice's two
	// production sessions on i-0a11... (11-10, 11-15) and her first in the
	// dev account. Series idle for the whole window are no longer emitted;
	// alice's on i-0a11... keeps its cumulative 3 (11-02, 11-10, 11-15; the
	// second delivery of 11-02 counted once).
	assert.Equal(t, int64(3), got["aws.ssm.session.starts.window"])
	assert.Equal(t, int64(2), got["aws.ssm.session.starts.window|i-0a11111111111111a"])
	assert.Equal(t, int64(3), got["aws.ssm.session.starts|i-0a11111111111111a"])
	assert.Equal(t, int64(2), got["aws.ssm.session.targets.distinct"], "alice in two accounts, one target each")

	second := startHunt(t, dir, "second")
	writeFile(t, filepath.Join(second.Input, "replay.ndjson"), append([][]byte{[]byte(`{"replay":true}`)}, raws...)...)
	second.waitLogs(t, 1+len(raws))
	require.NoError(t, second.c.Stop(waitTimeout))
	assert.Equal(t, got, lastMetrics(t, second.Metrics), "the replay counted nothing twice")
}
