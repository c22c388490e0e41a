// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionconnector

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/shapes"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/traffic"
)

// TestImplausibleTimesOpenNoSession: a session stamped far ahead of the
// clock, or so far that its nanoseconds would wrap around to the present
// (2611), counts in aws.ssm.session.starts only: not in the window, not
// open, and its end pairs with nothing; a live session beside it is
// unaffected.
func TestImplausibleTimesOpenNoSession(t *testing.T) {
	base := emitAt.Add(-time.Hour)
	wrapped := time.Unix(base.Unix()+18446744073, int64(base.Nanosecond())+709551616).UTC() // 2^64 ns later
	require.Equal(t, base.UnixNano(), wrapped.UnixNano(), "Go's UnixNano wraps")
	for name, at := range map[string]time.Time{"50 years ahead": emitAt.AddDate(50, 0, 0), "2611": wrapped} {
		h := start(t, config(nil), nil)
		liveStart, _ := sessionCalls("alice", "i-0a11111111111111a", emitAt.Add(-time.Minute), emitAt)
		far, farEnd := sessionCalls("mallory", "i-0f00000000000000f", at, at.Add(time.Minute))
		vals := values(h.consume(t, shapes.Raw, [][]byte{liveStart, far, farEnd}))
		assert.Equal(t, map[string]int64{
			MetricOpen + "|111122223333|map[target_instance:i-0a11111111111111a]": 1,
		}, withName(vals, MetricOpen, ""), "%s: only alice's is open", name)
		assert.Empty(t, withName(vals, MetricStartsWindow, "user/mallory"), "%s: not in the window", name)
		assert.Equal(t, []int64{1}, mapValues(withName(vals, MetricStarts, "user/mallory")), "%s: in the totals", name)
		assert.Empty(t, withName(vals, MetricDuration, ""), "%s: no duration", name)
		assert.Equal(t, 1, h.c.counter.sessions.set.Len(), "%s: no slot held", name)
	}
}

// TestEvictionByActivity: when max_open_sessions is reached, the session
// least recently active in event time goes, not the first to arrive: late
// or backfilled starts weeks old do not push out a live one.
func TestEvictionByActivity(t *testing.T) {
	h := start(t, config(func(c *Config) { c.MaxOpenSessions = 2 }), nil)
	live, _ := sessionCalls("alice", "i-0a11111111111111a", emitAt.Add(-time.Minute), emitAt)
	old1, _ := sessionCalls("old1", "i-0c33333333333333c", emitAt.Add(-20*24*time.Hour), emitAt)
	old2, _ := sessionCalls("old2", "i-0d44444444444444d", emitAt.Add(-21*24*time.Hour), emitAt)
	vals := values(h.consume(t, shapes.Raw, [][]byte{live, old1, old2}))
	assert.Equal(t, map[string]int64{
		MetricOpen + "|111122223333|map[target_instance:i-0a11111111111111a]": 1,
	}, withName(vals, MetricOpen, ""), "alice's is open; the old ones are past session_max_age")
	assert.Equal(t, int64(1), sumCounter(t, h, "otelcol_connector_ssmsession_open_sessions_evicted"), "the oldest, old2, pushed out on arrival")
	assert.Equal(t, int64(1), sumCounter(t, h, "otelcol_connector_ssmsession_open_sessions_aged_out"), "old1, forgotten at the emission")
	assert.Equal(t, 1, h.c.counter.sessions.set.Len(), "alice's alone is held")
}

// TestResumeBeforeAnEarlyEndCounts: an end met before its start keeps the
// resumes that come before the start, so the start pairs as it would in
// order (start, resume, end); a resume that comes after both cannot, nor
// one of a session not known yet (it does not name the target).
func TestResumeBeforeAnEarlyEndCounts(t *testing.T) {
	const maxAge = time.Hour
	begin := emitAt.Add(-3 * time.Hour)
	g, _, st := oneSession(begin)
	startRaw := g.Render(st)
	resume := g.Render(traffic.ResumeSession(st, begin.Add(50*time.Minute)))
	end := g.Render(traffic.TerminateSession(st, begin.Add(100*time.Minute))) // > maxAge after the start, < after the resume
	for name, c := range map[string]struct {
		order  [][]byte
		paired int64
	}{
		"start, resume, end": {[][]byte{startRaw, resume, end}, 1},
		"end, resume, start": {[][]byte{end, resume, startRaw}, 1},
		"resume, end, start": {[][]byte{resume, end, startRaw}, 0},
		"end, start, resume": {[][]byte{end, startRaw, resume}, 0},
	} {
		h := start(t, config(func(c *Config) { c.SessionMaxAge = maxAge }), nil)
		durations, _ := sessionMetrics(t, h.consume(t, shapes.Raw, c.order))
		assert.Len(t, durations, int(c.paired), name)
		assert.Equal(t, c.paired, sumCounter(t, h, "otelcol_connector_ssmsession_sessions_terminated"), name)
	}
}

// TestRestorePairsWithResumes: a session whose start, early end and resume
// are split between memory and storage pairs as it does in memory alone:
// the resume between them counts on either side.
func TestRestorePairsWithResumes(t *testing.T) {
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	newC := func() *counter {
		return newCounter(limits{window: 24 * time.Hour, bucket: time.Hour, maxSeries: 10, maxOpen: 8, sessionMaxAge: time.Hour},
			func() time.Time { return base.Add(10 * time.Hour) })
	}
	start, resumed, end := base.UnixNano(), base.Add(50*time.Minute).UnixNano(), base.Add(100*time.Minute).UnixNano()
	k := seriesKey{Account: "1", Target: "i-1", Durations: true}
	durations := func(c *counter) int64 {
		if s := c.series[k]; s != nil {
			return s.Total
		}
		return 0
	}

	memory := newC()
	memory.terminateSession("s", end)
	memory.resumeSession("s", resumed)
	require.Equal(t, lifeTerminated, memory.openSessionAt("s", k, start))
	require.Equal(t, int64(1), durations(memory), "in memory alone")

	startStored := newC() // the end and resume in memory, the start from storage
	startStored.terminateSession("s", end)
	startStored.resumeSession("s", resumed)
	startStored.restore(stored{opens: []*openSession{{ID: "s", Key: k, Start: start, Last: start}}})
	assert.Equal(t, int64(1), durations(startStored), "the start restored")

	endStored := newC() // the start in memory, the end and its resume from storage
	endStored.openSessionAt("s", k, start)
	endStored.restore(stored{opens: []*openSession{{ID: "s", Last: end, Ended: end, Resumed: resumed}}})
	assert.Equal(t, int64(1), durations(endStored), "the end restored")
}
