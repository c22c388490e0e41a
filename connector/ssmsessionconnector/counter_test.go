// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionconnector

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

var (
	t0   = time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC)
	wall = func() time.Time { return t0.Add(30 * 24 * time.Hour) }
)

func key(target string) seriesKey {
	return seriesKey{Account: "111122223333", Target: target, ARN: "arn:aws:iam::111122223333:user/alice", Type: "IAMUser", Outcome: "success"}
}

// cycle is what an emission does with the counter: trim, report, drop.
func cycle(c *counter) []seriesKey {
	c.trim()
	_, dropped := deliver(c)
	return dropped
}

// deliver renders the metrics and records them delivered.
func deliver(c *counter) (map[string]int64, []seriesKey) {
	md, sh := c.metrics(wall(), "test")
	return values(md), c.delivered(sh)
}

func TestBucketsAlignToEpoch(t *testing.T) {
	c := newCounter(limits{window: 24 * time.Hour, bucket: time.Hour, maxSeries: 10, maxOpen: 100, sessionMaxAge: 24 * time.Hour}, wall)
	c.add(key("i-1"), t0.Add(90*time.Minute))  // 01:30 -> bucket starting 01:00
	c.add(key("i-1"), t0.Add(119*time.Minute)) // 01:59 -> same bucket
	c.add(key("i-1"), t0.Add(120*time.Minute)) // 02:00 -> next bucket
	s := c.series[key("i-1")]
	require.Len(t, s.Buckets, 2)
	assert.Equal(t, t0.Add(time.Hour).UnixNano()/int64(time.Hour), s.Buckets[0].Index)
	assert.Equal(t, int64(2), s.Buckets[0].Count)
	assert.Equal(t, int64(3), s.Total)
}

// TestWindowIsAnchoredAtNewestEventTime: the window follows event time, not
// the wall clock, and any CloudTrail record moves it.
func TestWindowIsAnchoredAtNewestEventTime(t *testing.T) {
	c := newCounter(limits{window: 7 * 24 * time.Hour, bucket: time.Hour, maxSeries: 10, maxOpen: 100, sessionMaxAge: 24 * time.Hour}, wall)
	c.add(key("i-old"), t0)
	c.add(key("i-new"), t0.Add(6*24*time.Hour))
	assert.Equal(t, int64(1), c.inWindow(c.series[key("i-old")]), "6 days apart: both inside 7 days")

	// Another API call a day later slides the window past the first session.
	c.observe(t0.Add(7*24*time.Hour + 30*time.Minute))
	assert.Equal(t, int64(0), c.inWindow(c.series[key("i-old")]))
	assert.Equal(t, int64(1), c.inWindow(c.series[key("i-new")]))
	assert.Equal(t, []seriesKey{key("i-old")}, cycle(c), "idle for a window: reported, then dropped")
	assert.Len(t, c.series, 1)

	// A late event older than the window counts in the total only.
	c.add(key("i-new"), t0.Add(-time.Hour))
	assert.Equal(t, int64(2), c.series[key("i-new")].Total)
	assert.Equal(t, int64(1), c.inWindow(c.series[key("i-new")]))
}

// The window holds exactly window/bucket buckets ending with the anchor's.
func TestWindowEdges(t *testing.T) {
	c := newCounter(limits{window: 3 * time.Hour, bucket: time.Hour, maxSeries: 10, maxOpen: 100, sessionMaxAge: 24 * time.Hour}, wall)
	for h := 0; h < 5; h++ {
		c.add(key("i-1"), t0.Add(time.Duration(h)*time.Hour+59*time.Minute))
	}
	assert.Equal(t, int64(3), c.inWindow(c.series[key("i-1")]), "buckets 02:00, 03:00, 04:00")
	c.trim()
	assert.Len(t, c.series[key("i-1")].Buckets, 3, "older buckets are trimmed from memory")
}

func TestFutureTimesDoNotMoveTheWindow(t *testing.T) {
	c := newCounter(limits{window: 24 * time.Hour, bucket: time.Hour, maxSeries: 10, maxOpen: 100, sessionMaxAge: 24 * time.Hour}, wall)
	c.add(key("i-1"), wall().Add(-time.Hour))
	c.observe(wall().Add(1000 * time.Hour))
	assert.Empty(t, cycle(c))
	assert.Equal(t, int64(1), c.inWindow(c.series[key("i-1")]))

	// Sessions stamped that far ahead count in the total only: they hold
	// no bucket, so a series never holds more than window/bucket of them,
	// and one holding only such sessions is dropped once reported.
	for h := 2; h < 200; h++ {
		c.add(key("i-1"), wall().Add(time.Duration(h)*time.Hour))
	}
	c.add(key("i-2"), wall().Add(1000*time.Hour))
	assert.Len(t, c.series[key("i-1")].Buckets, 1)
	assert.Equal(t, int64(199), c.series[key("i-1")].Total)
	assert.Equal(t, []seriesKey{key("i-2")}, cycle(c))
}

func TestOverflowBeyondMaxSeries(t *testing.T) {
	c := newCounter(limits{window: 24 * time.Hour, bucket: time.Hour, maxSeries: 3, maxOpen: 100, sessionMaxAge: 24 * time.Hour}, wall)
	for i := 0; i < 10; i++ {
		assert.Equal(t, i >= 3, c.add(key(fmt.Sprint("i-", i)), t0), "series %d", i)
	}
	assert.False(t, c.add(key("i-0"), t0), "known series still count")
	assert.Len(t, c.series, 4, "3 series and the overflow series")
	of := c.series[seriesKey{Overflow: true}]
	require.NotNil(t, of)
	assert.Equal(t, int64(7), of.Total)
}

func TestMetricsShape(t *testing.T) {
	c := newCounter(limits{window: 24 * time.Hour, bucket: time.Hour, maxSeries: 10, maxOpen: 100, sessionMaxAge: 24 * time.Hour}, wall)
	c.add(key("i-1"), t0)
	c.add(key("i-2"), t0)
	c.add(key("i-2"), t0.Add(time.Minute))
	i2i := key("i-3")
	i2i.ARN, i2i.Type, i2i.InstanceToInstance = "arn:aws:sts::111122223333:assumed-role/web/i-0a1", "AssumedRole", true
	c.add(i2i, t0)

	md, _ := c.metrics(wall(), "1.0")
	require.Equal(t, 1, md.ResourceMetrics().Len())
	res, _ := md.ResourceMetrics().At(0).Resource().Attributes().Get(AttrAccount)
	assert.Equal(t, "111122223333", res.Str())
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	require.Equal(t, 3, ms.Len())
	assert.Equal(t, MetricStarts, ms.At(0).Name())
	assert.True(t, ms.At(0).Sum().IsMonotonic())
	assert.Equal(t, 3, ms.At(0).Sum().DataPoints().Len())
	assert.Equal(t, MetricStartsWindow, ms.At(1).Name())
	assert.Equal(t, MetricDistinctTarget, ms.At(2).Name())
	dps := ms.At(2).Gauge().DataPoints()
	require.Equal(t, 2, dps.Len())
	distinct := map[string]int64{}
	for i := 0; i < dps.Len(); i++ {
		arn, _ := dps.At(i).Attributes().Get(AttrARN)
		distinct[arn.Str()] = dps.At(i).IntValue()
	}
	assert.Equal(t, map[string]int64{"arn:aws:iam::111122223333:user/alice": 2, i2i.ARN: 1}, distinct, "alice reached two instances")
	flagged := 0
	for i := 0; i < ms.At(1).Gauge().DataPoints().Len(); i++ {
		if v, ok := ms.At(1).Gauge().DataPoints().At(i).Attributes().Get(AttrI2I); ok && v.Bool() {
			flagged++
		}
	}
	assert.Equal(t, 1, flagged, "the instance role's session is marked")
}

// TestWindowGaugeFallsToZeroOnce: a series whose window empties is shown at
// 0 once, its final cumulative count with it, and only then dropped; the
// identity's distinct targets likewise.
func TestWindowGaugeFallsToZeroOnce(t *testing.T) {
	c := newCounter(limits{window: 24 * time.Hour, bucket: time.Hour, maxSeries: 10, maxOpen: 100, sessionMaxAge: 24 * time.Hour}, wall)
	c.add(key("i-1"), t0)
	v, dropped := deliver(c)
	assert.Equal(t, int64(1), v[windowPoint("i-1")])
	assert.Empty(t, dropped)

	c.observe(t0.Add(48 * time.Hour)) // the window moves past it
	c.trim()
	v, dropped = deliver(c)
	zero, shown := v[windowPoint("i-1")]
	assert.True(t, shown, "the window gauge is shown falling to 0")
	assert.Zero(t, zero)
	assert.Equal(t, int64(1), v[MetricStarts+"|111122223333|"+attrsOf("i-1")], "with its final count")
	d, shown := v[MetricDistinctTarget+"|111122223333|map[aws.cloudtrail.user_identity.arn:arn:aws:iam::111122223333:user/alice aws.cloudtrail.user_identity.type:IAMUser]"]
	assert.True(t, shown)
	assert.Zero(t, d)
	assert.Equal(t, []seriesKey{key("i-1")}, dropped, "dropped once shown at 0")
	v, _ = deliver(c)
	assert.Empty(t, v, "and not shown again")
}

// TestBackfillReportsEverySeries: 30 days of sessions on 30 targets fed
// before any emission (a backfill) and a 7-day window: every series is
// emitted at least once, those idle for the window with their cumulative
// count only, and then dropped.
func TestBackfillReportsEverySeries(t *testing.T) {
	c := newCounter(limits{window: 7 * 24 * time.Hour, bucket: time.Hour, maxSeries: 1000, maxOpen: 100, sessionMaxAge: 24 * time.Hour}, wall)
	for d := 0; d < 30; d++ {
		for h := 0; h < 3; h++ {
			c.add(key(fmt.Sprint("i-", d)), t0.Add(time.Duration(d)*24*time.Hour+time.Duration(h)*time.Hour))
		}
	}
	seen := map[string]bool{}
	for round := 0; round < 3; round++ {
		c.trim()
		v, _ := deliver(c)
		for k := range v {
			seen[k] = true
		}
	}
	for d := 0; d < 30; d++ {
		assert.True(t, seen[MetricStarts+"|111122223333|"+attrsOf(fmt.Sprint("i-", d))], "day %d reported", d)
	}
	assert.Len(t, c.series, 7, "the last 7 days stay; the rest were reported and dropped")
}

func windowPoint(target string) string {
	return MetricStartsWindow + "|111122223333|" + attrsOf(target)
}

// attrsOf renders the attributes key(target)'s series is emitted with, as
// values() keys them: written out, the hunt's names as published.
func attrsOf(target string) string {
	return fmt.Sprint(map[string]any{
		"target_instance":                   target,
		"aws.cloudtrail.user_identity.arn":  "arn:aws:iam::111122223333:user/alice",
		"aws.cloudtrail.user_identity.type": "IAMUser",
		"event.outcome":                     "success",
	})
}

// TestLateAttachPairsAnEarlyEndWithItsStoredStart: storage attaches after
// a session's end came; the start it holds pairs with that end.
func TestLateAttachPairsAnEarlyEndWithItsStoredStart(t *testing.T) {
	c := newCounter(limits{window: 24 * time.Hour, bucket: time.Hour, maxSeries: 10, maxOpen: 100, sessionMaxAge: 24 * time.Hour}, wall)
	start, end := t0.Add(time.Hour), t0.Add(time.Hour+10*time.Minute)
	c.observe(end)
	require.Equal(t, lifeUnknown, c.terminateSession("sess-1", end.UnixNano()))
	c.restore(stored{opens: []*openSession{{ID: "sess-1", Key: key("i-1"), Start: start.UnixNano(), Last: start.UnixNano()}}})
	s := c.series[seriesKey{Account: "111122223333", Target: "i-1", ARN: "arn:aws:iam::111122223333:user/alice", Type: "IAMUser", Outcome: "success", Durations: true}]
	require.NotNil(t, s, "a duration")
	assert.Equal(t, 600.0, s.Hist.Sum)
	assert.False(t, c.sessions.set.Contains("sess-1"), "ended")
}

// TestLateAttachKeepsTheStoredShownCount: storage attaches before memory
// emitted a series it holds; the count the last emission before the stop
// showed is kept, so its fall to 0 is still shown.
func TestLateAttachKeepsTheStoredShownCount(t *testing.T) {
	c := newCounter(limits{window: 24 * time.Hour, bucket: time.Hour, maxSeries: 10, maxOpen: 100, sessionMaxAge: 24 * time.Hour}, wall)
	c.add(key("i-1"), t0.Add(time.Hour))
	c.restore(stored{series: []*series{{Key: key("i-1"), Total: 3, Start: t0.UnixNano(), Shown: 3}}})
	assert.Equal(t, int64(3), c.series[key("i-1")].Shown)
}

// A stored session resumed since its start pairs by its last activity, as
// it would have with storage attached from the start; and a stored early
// end pairs with the start memory met.
func TestLateAttachPairsByLastActivityAndBothWays(t *testing.T) {
	lim := limits{window: 24 * time.Hour, bucket: time.Hour, maxSeries: 10, maxOpen: 100, sessionMaxAge: 24 * time.Hour}
	durations := func(c *counter) float64 {
		s := c.series[seriesKey{Account: "111122223333", Target: "i-1", ARN: "arn:aws:iam::111122223333:user/alice", Type: "IAMUser", Outcome: "success", Durations: true}]
		if s == nil {
			return 0
		}
		return s.Hist.Sum
	}
	start := t0.Add(time.Hour)
	resumed, end := start.Add(20*time.Hour), start.Add(30*time.Hour)

	c := newCounter(lim, wall)
	c.observe(end)
	c.terminateSession("sess-1", end.UnixNano())
	c.restore(stored{opens: []*openSession{{ID: "sess-1", Key: key("i-1"), Start: start.UnixNano(), Last: resumed.UnixNano()}}})
	assert.Equal(t, 30*3600.0, durations(c), "resumed 10h before its end: paired")

	c = newCounter(lim, wall)
	c.observe(end)
	c.openSessionAt("sess-1", key("i-1"), resumed.UnixNano())
	c.restore(stored{opens: []*openSession{{ID: "sess-1", Last: end.UnixNano(), Ended: end.UnixNano()}}})
	assert.Equal(t, 10*3600.0, durations(c), "a stored early end pairs with the start memory met")
	assert.False(t, c.sessions.set.Contains("sess-1"))
}

// A session ended, in a busy batch, while the save writing it open is
// under way keeps its delete: that save may have stored it.
func TestEndDuringItsSaveKeepsTheDelete(t *testing.T) {
	c := newCounter(limits{window: 24 * time.Hour, bucket: time.Hour, maxSeries: 10, maxOpen: 2, sessionMaxAge: 24 * time.Hour}, wall)
	c.persistent = true
	at := t0.Add(time.Hour)
	c.observe(at)
	c.openSessionAt("x", key("i-1"), at.UnixNano())
	snap := c.pending(false) // the save under way writes x open
	c.terminateSession("x", at.Add(time.Minute).UnixNano())
	for i := range 6 { // more changes than twice max_open_sessions
		id := fmt.Sprint("short-", i)
		c.openSessionAt(id, key("i-1"), at.Add(2*time.Minute).UnixNano())
		c.terminateSession(id, at.Add(3*time.Minute).UnixNano())
	}
	c.saved(snap)
	deletes := 0
	for _, op := range c.pending(false).ops {
		if op.Key == openKey("x") && op.Type == storage.Delete {
			deletes++
		}
	}
	assert.Equal(t, 1, deletes, "x's delete is written with the next save")
}

// The anchor and newest event time, which any CloudTrail record moves,
// are written even when no count changed: at once when the anchor moves to
// another bucket, at an emission when only newest moved (not with every
// batch: that would be a write per batch of other traffic).
func TestClockIsSavedWithoutCounts(t *testing.T) {
	c := newCounter(limits{window: 24 * time.Hour, bucket: time.Hour, maxSeries: 10, maxOpen: 2, sessionMaxAge: 24 * time.Hour, persistent: true}, wall)
	assert.Empty(t, c.pending(true).ops, "nothing seen: nothing to write")
	at := t0.Add(time.Hour)
	c.observe(at)
	keys := func(snap snapshot) []string {
		var out []string
		for _, op := range snap.ops {
			out = append(out, op.Key)
		}
		c.saved(snap)
		return out
	}
	assert.Equal(t, []string{anchorKey, newestKey}, keys(c.pending(false)), "first seen")
	c.observe(at.Add(time.Minute))
	assert.Empty(t, keys(c.pending(false)), "newest moved within the bucket: not with the batch")
	assert.Equal(t, []string{anchorKey, newestKey}, keys(c.pending(true)), "but at the emission")
	assert.Empty(t, keys(c.pending(true)))
	c.observe(at.Add(time.Hour))
	assert.Equal(t, []string{anchorKey, newestKey}, keys(c.pending(false)), "the anchor moved")
}

// Restored sessions take their place among those memory holds by last
// activity: max_open_sessions pushes out the least recently active of
// both, whatever order storage lists them in.
func TestRestoredSessionsKeepTheMostRecentlyActive(t *testing.T) {
	c := newCounter(limits{window: 24 * time.Hour, bucket: time.Hour, maxSeries: 10, maxOpen: 3, sessionMaxAge: 24 * time.Hour}, wall)
	at := func(h int) int64 { return t0.Add(time.Duration(h) * time.Hour).UnixNano() }
	c.observe(time.Unix(0, at(10)))
	c.openSessionAt("mem-old", key("i-1"), at(1))
	c.openSessionAt("mem-new", key("i-1"), at(9))
	c.restore(stored{opens: []*openSession{
		{ID: "st-newest", Key: key("i-1"), Start: at(2), Last: at(8)},
		{ID: "st-oldest", Key: key("i-1"), Start: at(0), Last: at(0)},
		{ID: "st-mid", Key: key("i-1"), Start: at(5), Last: at(5)},
	}})
	assert.ElementsMatch(t, []string{"st-mid", "st-newest", "mem-new"}, heldIDs(c.sessions))
	c.openSessionAt("next", key("i-1"), at(10))
	assert.ElementsMatch(t, []string{"st-newest", "mem-new", "next"}, heldIDs(c.sessions), "the least recently active goes next")
}

// A series holds at most window/bucket buckets between emissions too: the
// window moving past its buckets drops them when it is counted again.
func TestBucketsStayBoundedBetweenEmissions(t *testing.T) {
	c := newCounter(limits{window: 24 * time.Hour, bucket: time.Hour, maxSeries: 10, maxOpen: 100, sessionMaxAge: 24 * time.Hour}, wall)
	for h := range 240 {
		c.add(key("i-1"), t0.Add(time.Duration(h)*time.Hour))
	}
	s := c.series[key("i-1")]
	assert.Len(t, s.Buckets, 24)
	assert.Equal(t, int64(24), c.inWindow(s))
	assert.Equal(t, int64(240), s.Total)
}

// heldIDs lists the sessions s holds, in no order.
func heldIDs(s *sessions) []string {
	var ids []string
	for _, e := range s.set.Values() {
		ids = append(ids, e.ID)
	}
	return ids
}
