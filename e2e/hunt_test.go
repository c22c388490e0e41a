// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/collectorrun"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/corpus"
)

// newHuntRun is a run whose logs are also counted by the hunt connector,
// its metrics written to a file. It is crash-safe end to end: file_log
// consumes synchronously (the feature gate, passed by startCollector) and
// the file exporters write through.
func newHuntRun(t *testing.T, dir, name string) *run {
	t.Helper()
	r := newRun(t, dir, name+"-logs")
	r.Metrics = filepath.Join(dir, name+"-metrics.json")
	r.Poll, r.MetricsPort = 20*time.Millisecond, 0
	return r
}

func startHunt(t *testing.T, dir, name string) *run {
	t.Helper()
	r := newHuntRun(t, dir, name)
	r.start(t)
	return r
}

// waitEmissions waits until the metrics file at path holds n emissions more
// than it does now.
func waitEmissions(t *testing.T, path string, n int) {
	t.Helper()
	count := func() int {
		batches, _ := collectorrun.ReadMetrics(path)
		return len(batches)
	}
	want := count() + n
	require.Eventually(t, func() bool { return count() >= want }, waitTimeout, 20*time.Millisecond, "%d more emissions", n)
}

// lastMetrics reads the newest emission in the metrics file at path and
// sums each metric's points by name, and by name and target_instance (a
// histogram by its count).
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
			switch m.Type() {
			case pmetric.MetricTypeSum:
				dps = m.Sum().DataPoints()
			case pmetric.MetricTypeGauge:
				dps = m.Gauge().DataPoints()
			case pmetric.MetricTypeHistogram: // durations: their count
				for k := 0; k < m.Histogram().DataPoints().Len(); k++ {
					out[m.Name()] += int64(m.Histogram().DataPoints().At(k).Count())
				}
			}
			for k := 0; k < dps.Len(); k++ {
				if m.Type() == pmetric.MetricTypeGauge && dps.At(k).IntValue() == 0 {
					continue // a gauge shown falling to 0: whether the last emission holds it depends on timing
				}
				out[m.Name()] += dps.At(k).IntValue()
				if target, ok := dps.At(k).Attributes().Get("target_instance"); ok {
					out[m.Name()+"|"+target.Str()] += dps.At(k).IntValue()
				}
			}
		}
	}
	return out
}

// TestHuntMetrics: the built collector counts the corpus's StartSession
// calls in a 7-day window of event time and emits once more on shutdown;
// after a restart on the same storage, a full replay changes no count.
func TestHuntMetrics(t *testing.T) {
	raws := corpus.Events(t, "identities")
	dir := t.TempDir()
	first := startHunt(t, dir, "first")
	writeFile(t, filepath.Join(first.Input, "cloudtrail.ndjson"), raws...)
	first.waitRecords(t, len(raws))
	// Two more emissions: the series idle for the whole window are
	// reported once, then dropped, as in a run that lasts.
	waitEmissions(t, first.Metrics, 2)
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
	second.waitRecords(t, 1+len(raws))
	require.NoError(t, second.c.Stop(waitTimeout))
	assert.Equal(t, got, lastMetrics(t, second.Metrics), "the replay counted nothing twice")
}
