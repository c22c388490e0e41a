// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionconnector

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/corpus"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/shapes"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/storagetest"
)

// durationPoint is one data point of aws.ssm.session.duration.
type durationPoint struct {
	Target, ARN string
	Count       uint64
	Sum         float64
	Buckets     []uint64
}

// sessionMetrics reads the durations and the open sessions of an emission.
func sessionMetrics(t *testing.T, md pmetric.Metrics) (durations []durationPoint, open map[string]int64) {
	t.Helper()
	open = map[string]int64{}
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		ms := md.ResourceMetrics().At(i).ScopeMetrics().At(0).Metrics()
		for j := 0; j < ms.Len(); j++ {
			switch m := ms.At(j); m.Name() {
			case MetricDuration:
				require.Equal(t, "s", m.Unit())
				require.Equal(t, pmetric.AggregationTemporalityCumulative, m.Histogram().AggregationTemporality())
				for k := 0; k < m.Histogram().DataPoints().Len(); k++ {
					dp := m.Histogram().DataPoints().At(k)
					require.Equal(t, DurationBounds, dp.ExplicitBounds().AsRaw())
					target, _ := dp.Attributes().Get(AttrTarget)
					arn, _ := dp.Attributes().Get(AttrARN)
					durations = append(durations, durationPoint{target.Str(), arn.Str(), dp.Count(), dp.Sum(), dp.BucketCounts().AsRaw()})
				}
			case MetricOpen:
				for k := 0; k < m.Gauge().DataPoints().Len(); k++ {
					dp := m.Gauge().DataPoints().At(k)
					target, _ := dp.Attributes().Get(AttrTarget)
					open[target.Str()] = dp.IntValue()
				}
			}
		}
	}
	return durations, open
}

// wantSessions is the corpus's expected session metrics.
func wantSessions(t *testing.T) ([]durationPoint, map[string]int64, int64) {
	t.Helper()
	hunt := corpus.LifecycleExpected(t).Hunt
	var want []durationPoint
	for _, d := range hunt.Durations {
		buckets := make([]uint64, len(DurationBounds)+1)
		buckets[d.Bucket] = d.Count
		want = append(want, durationPoint{d.Target, d.ARN, d.Count, d.Sum, buckets})
	}
	return want, hunt.Open, hunt.UnknownTerminations
}

func sumCounter(t *testing.T, h *harness, name string) int64 {
	t.Helper()
	m, err := h.tel.GetMetric(name)
	if err != nil {
		return 0
	}
	var total int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		total += dp.Value
	}
	return total
}

// TestSessionLifecycleEveryShape: starts paired with their terminations
// give the durations, resumed and unended sessions are open, an end of an
// unknown session is counted; in every input shape and envelope.
func TestSessionLifecycleEveryShape(t *testing.T) {
	raws := corpus.Events(t, "lifecycle")
	wantDurations, wantOpen, wantUnknown := wantSessions(t)
	for _, shape := range shapes.Every {
		h := start(t, config(nil), nil)
		durations, open := sessionMetrics(t, h.consume(t, shape, raws))
		assert.Equal(t, wantDurations, durations, "%s", shape)
		assert.Equal(t, wantOpen, open, "%s", shape)
		assert.Equal(t, wantUnknown, sumCounter(t, h, "otelcol_connector_ssmsession_sessions_unknown_terminated"), "%s", shape)
		assert.Equal(t, int64(1), sumCounter(t, h, "otelcol_connector_ssmsession_sessions_terminated"), "%s", shape)
	}
}

// TestSessionLifecycleOneByOne: a stream delivers one event at a time;
// a second delivery of every event changes nothing.
func TestSessionLifecycleOneByOne(t *testing.T) {
	raws := corpus.Events(t, "lifecycle")
	wantDurations, wantOpen, _ := wantSessions(t)
	h := start(t, config(nil), nil)
	var md pmetric.Metrics
	for _, raws := range [][][]byte{raws, raws} {
		for _, raw := range raws {
			md = h.consume(t, shapes.Raw, [][]byte{raw})
		}
	}
	durations, open := sessionMetrics(t, md)
	assert.Equal(t, wantDurations, durations)
	assert.Equal(t, wantOpen, open)
}

// TestTerminateBeforeStart: CloudTrail may deliver a session's end before
// its start; the start still pairs with it.
func TestTerminateBeforeStart(t *testing.T) {
	raws := corpus.Events(t, "lifecycle")
	h := start(t, config(nil), nil)
	h.consume(t, shapes.Raw, [][]byte{raws[5]}) // bob's TerminateSession
	durations, open := sessionMetrics(t, h.consume(t, shapes.Raw, [][]byte{raws[2]}))
	want, _, _ := wantSessions(t)
	assert.Equal(t, want, durations)
	assert.Empty(t, open)
	assert.Equal(t, int64(1), sumCounter(t, h, "otelcol_connector_ssmsession_sessions_unknown_terminated"), "unknown when it came")
}

// TestOpenSessionsRestart: open sessions are saved with the counts; after
// a crash, a termination delivered to the new process pairs with the start
// the old one saw.
func TestOpenSessionsRestart(t *testing.T) {
	raws := corpus.Events(t, "lifecycle")
	dir := t.TempDir()
	ext := storagetest.FileStorage(t, dir)
	first := start(t, config(withStorage), map[component.ID]component.Component{storagetest.ID: ext})
	ld, err := shapes.Logs(shapes.Raw, raws[:5]) // up to alice's resume
	require.NoError(t, err)
	require.NoError(t, first.c.ConsumeLogs(ctx, ld))
	require.NoError(t, first.c.link.Shutdown(ctx)) // a crash: no emission, no shutdown
	require.NoError(t, ext.Shutdown(ctx))

	second := start(t, config(withStorage), map[component.ID]component.Component{storagetest.ID: storagetest.FileStorage(t, dir)})
	durations, open := sessionMetrics(t, second.consume(t, shapes.Raw, raws[5:]))
	wantDurations, wantOpen, _ := wantSessions(t)
	assert.Equal(t, wantDurations, durations)
	assert.Equal(t, wantOpen, open)
}

// TestStoredEndsOutlastABusyBatch: sessions saved open and ended in a
// batch that also starts and ends more than max_open_sessions others are
// deleted from storage all the same: after a restart none counts as open.
func TestStoredEndsOutlastABusyBatch(t *testing.T) {
	dir := t.TempDir()
	small := func(c *Config) { withStorage(c); c.MaxOpenSessions = 2 }
	ext := storagetest.FileStorage(t, dir)
	first := start(t, config(small), map[component.ID]component.Component{storagetest.ID: ext})
	var begins, busy [][]byte
	for i := range 2 {
		at := emitAt.Add(-time.Hour).Add(time.Duration(i) * time.Minute)
		begin, end := sessionCalls(fmt.Sprint("stored", i), fmt.Sprintf("i-0a%017d", i), at, at.Add(time.Minute))
		begins, busy = append(begins, begin), append(busy, end)
	}
	_, open := sessionMetrics(t, first.consume(t, shapes.Raw, begins))
	require.Equal(t, map[string]int64{"i-0a00000000000000000": 1, "i-0a00000000000000001": 1}, open, "saved open")
	for i := range 3 {
		at := emitAt.Add(-30 * time.Minute).Add(time.Duration(i) * time.Minute)
		begin, end := sessionCalls(fmt.Sprint("busy", i), fmt.Sprintf("i-0b%017d", i), at, at.Add(time.Second))
		busy = append(busy, begin, end)
	}
	_, open = sessionMetrics(t, first.consume(t, shapes.Raw, busy))
	require.Empty(t, nonZero(open))
	require.NoError(t, first.c.Shutdown(ctx))
	require.NoError(t, ext.Shutdown(ctx))

	second := start(t, config(small), map[component.ID]component.Component{storagetest.ID: storagetest.FileStorage(t, dir)})
	_, open = sessionMetrics(t, second.emit(t))
	assert.Empty(t, nonZero(open), "no ended session comes back open")
}

// nonZero keeps the entries of m that are not 0.
func nonZero(m map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// TestOpenSessionsBounded: max_open_sessions keeps the most recently
// active; the others are counted as evicted and their ends as unknown.
func TestOpenSessionsBounded(t *testing.T) {
	raws := corpus.Events(t, "lifecycle")
	h := start(t, config(func(c *Config) { c.MaxOpenSessions = 1 }), nil)
	durations, open := sessionMetrics(t, h.consume(t, shapes.Raw, raws))
	assert.Empty(t, durations, "bob's session was pushed out by alice's before it ended")
	assert.Equal(t, map[string]int64{"i-0f5a1e2d3c4b5a698": 1}, open, "carol's, the newest, is kept")
	// With room for one, each of the five sessions and early ends after the
	// first pushes out the one before it.
	assert.Equal(t, int64(5), sumCounter(t, h, "otelcol_connector_ssmsession_open_sessions_evicted"))
	assert.Equal(t, int64(2), sumCounter(t, h, "otelcol_connector_ssmsession_sessions_unknown_terminated"))
}

// TestOpenSessionsAgeOut: a session without activity for session_max_age
// of event time stops counting as open (shown at 0 once), and is forgotten
// session_max_age later.
func TestOpenSessionsAgeOut(t *testing.T) {
	raws := corpus.Events(t, "lifecycle")
	h := start(t, config(nil), nil)
	_, open := sessionMetrics(t, h.consume(t, shapes.Raw, raws))
	require.Equal(t, int64(1), open["i-0a11111111111111a"])

	// Any CloudTrail event a day and more later moves the newest event time.
	later := `{"eventVersion":"1.09","eventTime":"2026-11-11T12:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"eu-west-1","recipientAccountId":"111122223333","userIdentity":{"type":"IAMUser","accountId":"111122223333"}}`
	_, open = sessionMetrics(t, h.consume(t, shapes.Raw, [][]byte{[]byte(later)}))
	assert.Equal(t, map[string]int64{"i-0a11111111111111a": 0, "i-0f5a1e2d3c4b5a698": 0}, open, "shown falling to 0 once")
	_, open = sessionMetrics(t, h.emit(t))
	assert.Empty(t, open)
	assert.Equal(t, 3, h.c.counter.sessions.set.Len(), "kept for an end delivered late, but alice's first (idle for 52h)")
	assert.Equal(t, int64(1), sumCounter(t, h, "otelcol_connector_ssmsession_open_sessions_aged_out"))

	// Twice session_max_age after the last activity, all are forgotten.
	later = strings.Replace(later, "2026-11-11T12:00:00Z", "2026-11-14T10:00:00Z", 1)
	_, open = sessionMetrics(t, h.consume(t, shapes.Raw, [][]byte{[]byte(later)}))
	assert.Empty(t, open)
	assert.Equal(t, 0, h.c.counter.sessions.set.Len(), "forgotten, with the early end")
	assert.Equal(t, int64(4), sumCounter(t, h, "otelcol_connector_ssmsession_open_sessions_aged_out"), "alice's two, carol's, and carol's early end")
	assert.Zero(t, sumCounter(t, h, "otelcol_connector_ssmsession_open_sessions_evicted"), "sessions forgotten on purpose are not evictions")
}

// TestDurationBuckets: each bound is an upper bound, inclusive.
func TestDurationBuckets(t *testing.T) {
	var h histogram
	for _, secs := range []float64{0, 60, 60.5, 86400, 90000} {
		h.record(secs)
	}
	assert.Equal(t, []int64{2, 1, 0, 0, 0, 0, 1, 1}, h.Counts)
	assert.Equal(t, 0.0, h.Min)
	assert.Equal(t, 90000.0, h.Max)
	var merged histogram
	merged.merge(&h)
	merged.merge(&h)
	assert.Equal(t, []int64{4, 2, 0, 0, 0, 0, 2, 2}, merged.Counts)
	assert.Equal(t, 2*h.Sum, merged.Sum)
}

// TestAgedOutSessionIsNotPaired: an end more than session_max_age after
// the session's last activity finds it aged out, whether the two events
// come in one batch or apart, with emissions between them or not.
func TestAgedOutSessionIsNotPaired(t *testing.T) {
	raws := corpus.Events(t, "identities") // alice starts on 11-02, terminates on 11-04
	begin, end := raws[0], raws[13]
	for name, feed := range map[string]func(h *harness) pmetric.Metrics{
		"one batch": func(h *harness) pmetric.Metrics { return h.consume(t, shapes.Raw, [][]byte{begin, end}) },
		"apart": func(h *harness) pmetric.Metrics {
			h.consume(t, shapes.Raw, [][]byte{begin})
			return h.consume(t, shapes.Raw, [][]byte{end})
		},
		"apart, no emission between": func(h *harness) pmetric.Metrics {
			for _, raw := range [][]byte{begin, end} {
				ld, err := shapes.Logs(shapes.Raw, [][]byte{raw})
				require.NoError(t, err)
				require.NoError(t, h.c.ConsumeLogs(ctx, ld))
			}
			return h.emit(t)
		},
	} {
		h := start(t, config(nil), nil)
		durations, open := sessionMetrics(t, feed(h))
		assert.Empty(t, durations, name)
		for target, n := range open {
			assert.Zero(t, n, "%s: %s open", name, target) // "apart" shows its fall to 0
		}
		assert.Equal(t, int64(1), sumCounter(t, h, "otelcol_connector_ssmsession_sessions_unknown_terminated"), name)
	}
}

// TestLateEndPairsWhateverTheEmissions: a session idle for session_max_age
// of the newest event time no longer counts as open, but an end delivered
// late, within session_max_age of its start, still pairs with it, with or
// without an emission between them.
func TestLateEndPairsWhateverTheEmissions(t *testing.T) {
	t0 := emitAt.Add(-48 * time.Hour)
	begin, end := sessionCalls("alice", "i-0a11111111111111a", t0, t0.Add(23*time.Hour))
	later, _ := sessionCalls("bob", "i-0b22222222222222b", t0.Add(24*time.Hour+time.Minute), emitAt)
	for _, emitBetween := range []bool{false, true} {
		h := start(t, config(nil), nil)
		for i, raws := range [][][]byte{{begin}, {later}, {end}} {
			ld, err := shapes.Logs(shapes.Raw, raws)
			require.NoError(t, err)
			require.NoError(t, h.c.ConsumeLogs(ctx, ld))
			if i == 1 && emitBetween {
				_, open := sessionMetrics(t, h.emit(t))
				assert.Zero(t, open["i-0a11111111111111a"], "idle for session_max_age: not open")
			}
		}
		durations, _ := sessionMetrics(t, h.emit(t))
		var alice []float64
		for _, d := range durations {
			if d.Target == "i-0a11111111111111a" {
				alice = append(alice, d.Sum)
			}
		}
		assert.Equal(t, []float64{23 * 3600}, alice, "paired (an emission between: %v)", emitBetween)
	}
}

// A failed TerminateSession is a CloudTrail record like any other: its time
// moves the window, though it ends nothing.
func TestFailedEndMovesTheWindow(t *testing.T) {
	h := start(t, config(nil), nil)
	require.Equal(t, int64(1), values(h.consume(t, shapes.Raw, corpus.Events(t, "identities")[:1]))[windowPoint("i-0a11111111111111a")])
	failed := `{"eventVersion":"1.09","eventTime":"2026-11-12T10:00:00Z","eventSource":"ssm.amazonaws.com","eventName":"TerminateSession","errorCode":"AccessDenied","awsRegion":"eu-west-1","recipientAccountId":"111122223333","userIdentity":{"type":"IAMUser","accountId":"111122223333"},"requestParameters":{"sessionId":"alice-0b1c2d3e4f5a6b7c8"}}`
	n, emitted := values(h.consume(t, shapes.Raw, [][]byte{[]byte(failed)}))[windowPoint("i-0a11111111111111a")]
	require.True(t, emitted, "a window count that falls to 0 is emitted as 0 once")
	assert.Equal(t, int64(0), n, "8 days later: out of the 7-day window")
}
