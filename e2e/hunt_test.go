package e2e

import (
	"path/filepath"
	"testing"
	"text/template"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/cloudtrail-detect/ssmsession/internal/collectorrun"
	"github.com/cloudtrail-detect/ssmsession/internal/corpus"
)

// huntConfig: logs are tagged by the processor and counted by the
// connector, whose metrics go to a file.
var huntConfig = template.Must(template.New("hunt").Parse(`
extensions:
  file_storage:
    directory: {{.State}}
    create_directory: true
receivers:
  file_log:
    include: [{{.Input}}/*]
    start_at: beginning
    storage: file_storage
    poll_interval: 50ms
processors:
  ssmsession:
    new_terms:
      storage: file_storage
connectors:
  ssmsession:
    emit_interval: 200ms
    storage: file_storage
exporters:
  file/logs:
    path: {{.Output}}
  file/metrics:
    path: {{.Metrics}}
    flush_interval: 50ms
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

func startHunt(t *testing.T, dir, name string) *huntRun {
	t.Helper()
	r := newHuntRun(t, dir, name)
	r.c = startCollector(t, filepath.Join(dir, name+".yaml"), huntConfig, r)
	return r
}

// last reads the newest emission and sums each metric's points by name and
// the given attribute value.
func (r *huntRun) last(t *testing.T) map[string]int64 {
	t.Helper()
	batches, err := collectorrun.ReadMetrics(r.Metrics)
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
	var recs []plog.LogRecord
	require.NoError(t, r.c.WaitFor(waitTimeout, func() (bool, error) {
		batches, err := collectorrun.ReadLogs(r.Output)
		recs = collectorrun.Records(batches)
		return len(recs) >= n, err
	}))
	return recs
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
	got := first.last(t)
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
	assert.Equal(t, got, second.last(t), "the replay counted nothing twice")
}
