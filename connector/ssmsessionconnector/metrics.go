// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionconnector // import "github.com/cloudtrail-detect/ssmsession/connector/ssmsessionconnector"

import (
	"cmp"
	"maps"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Metric and attribute names, as the hunting query names its columns.
const (
	MetricStarts         = "aws.ssm.session.starts"
	MetricStartsWindow   = "aws.ssm.session.starts.window"
	MetricDistinctTarget = "aws.ssm.session.targets.distinct"
	MetricDuration       = "aws.ssm.session.duration"
	MetricOpen           = "aws.ssm.sessions.open"

	AttrTarget   = "target_instance"
	AttrARN      = "aws.cloudtrail.user_identity.arn"
	AttrType     = "aws.cloudtrail.user_identity.type"
	AttrOutcome  = "event.outcome"
	AttrI2I      = "ssmsession.instance_to_instance"
	AttrOverflow = "otel.metric.overflow"
	AttrAccount  = "cloud.account.id"

	scopeName = "github.com/cloudtrail-detect/ssmsession/connector/ssmsessionconnector"
)

// metrics renders the series and records what it reported: one resource
// per account (the overflow series in a resource without one), the
// cumulative count of every series, the windowed count of those with
// sessions in the window, and of those whose count has just fallen to 0 (a
// 0, once, so a backend keeping the last value does not show a stale one),
// and the distinct targets per identity likewise; then the durations of
// the sessions that ended, and the sessions open per target. Output is
// sorted, so equal state gives equal metrics. What they show is recorded
// only once they are delivered (delivered).
func (c *counter) metrics(now time.Time, version string) (pmetric.Metrics, shown) {
	md := pmetric.NewMetrics()
	var sh shown
	accounts := map[string]*accountSeries{}
	of := func(account string) *accountSeries {
		a, ok := accounts[account]
		if !ok {
			a = &accountSeries{}
			accounts[account] = a
		}
		return a
	}
	for _, s := range c.series {
		if a := of(s.Key.Account); s.Key.Durations {
			a.durations = append(a.durations, s)
		} else {
			a.starts = append(a.starts, s)
		}
	}
	counts := c.openCounts()
	for k, n := range counts {
		a := of(k[0])
		if a.open == nil {
			a.open = map[string]int64{}
		}
		a.open[k[1]] = n
	}
	sh.open = counts
	ts := pcommon.NewTimestampFromTime(now)
	for _, account := range slices.Sorted(maps.Keys(accounts)) {
		a := accounts[account]
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("cloud.provider", "aws")
		if account != "" {
			rm.Resource().Attributes().PutStr(AttrAccount, account)
		}
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName(scopeName)
		sm.Scope().SetVersion(version)
		for _, list := range [][]*series{a.starts, a.durations} {
			slices.SortFunc(list, func(a, b *series) int { return compareKeys(a.Key, b.Key) })
		}
		c.startMetrics(sm, a.starts, ts, &sh)
		c.durationMetric(sm, a.durations, ts, &sh)
		openMetric(sm, a.open, ts)
	}
	return md, sh
}

// shown is what one emission showed: the version and window count of each
// series, and the open sessions per account and target.
type shown struct {
	series []shownSeries
	open   map[[2]string]int64
}

type shownSeries struct {
	s       *series
	version uint64
	window  int64
}

// delivered records what an emission that reached the next consumer
// showed, then drops the series it reported for the last time: after a
// failed one, the same final counts and 0s are due again. It returns the
// keys dropped.
func (c *counter) delivered(sh shown) []seriesKey {
	for _, r := range sh.series {
		s := r.s
		unchanged := s.version == r.version
		if s.Shown != r.window {
			s.Shown = r.window
			c.touch(s) // saved: after a restart, a 0 is still due
		}
		if unchanged {
			s.reported = s.version
		}
	}
	c.shownOpen(sh.open)
	return c.drop()
}

// accountSeries is what one account's resource shows: its start and
// duration series and its open sessions per target.
type accountSeries struct {
	starts, durations []*series
	open              map[string]int64
}

// startMetrics renders the starts of one account's series: cumulative,
// windowed and distinct targets per identity.
func (c *counter) startMetrics(sm pmetric.ScopeMetrics, list []*series, ts pcommon.Timestamp, sh *shown) {
	if len(list) == 0 {
		return
	}
	starts := newMetric(sm, MetricStarts, "{session}",
		"SSM StartSession calls since the count began, by target instance, identity and outcome.")
	sum := starts.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)

	window := newMetric(sm, MetricStartsWindow, "{session}",
		"SSM StartSession calls in the trailing window of event time, by target instance, identity and outcome.")
	gauge := window.SetEmptyGauge()

	distinct := map[seriesKey]map[string]bool{} // identity -> targets in window
	for _, s := range list {
		dp := sum.DataPoints().AppendEmpty()
		s.Key.attributes(dp.Attributes())
		dp.SetStartTimestamp(pcommon.Timestamp(s.Start))
		dp.SetTimestamp(ts)
		dp.SetIntValue(s.Total)

		w := c.inWindow(s)
		sh.series = append(sh.series, shownSeries{s, s.version, w})
		if w == 0 && s.Shown == 0 {
			continue
		}
		wdp := gauge.DataPoints().AppendEmpty()
		s.Key.attributes(wdp.Attributes())
		wdp.SetTimestamp(ts)
		wdp.SetIntValue(w)
		if !s.Key.Overflow && s.Key.Target != "" {
			id := seriesKey{ARN: s.Key.ARN, Type: s.Key.Type}
			if distinct[id] == nil {
				distinct[id] = map[string]bool{}
			}
			if w > 0 {
				distinct[id][s.Key.Target] = true
			}
		}
	}
	if len(distinct) == 0 {
		return
	}
	dm := newMetric(sm, MetricDistinctTarget, "{instance}",
		"Distinct session targets per identity in the trailing window: one identity fanning out to many instances is the lateral-movement signal.")
	dg := dm.SetEmptyGauge()
	ids := make([]seriesKey, 0, len(distinct))
	for id := range distinct {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, compareKeys)
	for _, id := range ids {
		dp := dg.DataPoints().AppendEmpty()
		putNonEmpty(dp.Attributes(), AttrARN, id.ARN)
		putNonEmpty(dp.Attributes(), AttrType, id.Type)
		dp.SetTimestamp(ts)
		dp.SetIntValue(int64(len(distinct[id])))
	}
}

// durationMetric renders the durations of the sessions that ended, by the
// start's target, ARN and type: a cumulative histogram.
func (c *counter) durationMetric(sm pmetric.ScopeMetrics, list []*series, ts pcommon.Timestamp, sh *shown) {
	if len(list) == 0 {
		return
	}
	m := newMetric(sm, MetricDuration, "s",
		"Duration of SSM sessions, StartSession to the TerminateSession naming the same session id, by the start's target instance and identity.")
	h := m.SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for _, s := range list {
		dp := h.DataPoints().AppendEmpty()
		s.Key.attributes(dp.Attributes())
		dp.SetStartTimestamp(pcommon.Timestamp(s.Start))
		dp.SetTimestamp(ts)
		dp.SetCount(uint64(s.Total))
		dp.ExplicitBounds().FromRaw(DurationBounds)
		if hist := s.Hist; hist != nil && hist.Counts != nil {
			dp.SetSum(hist.Sum)
			dp.SetMin(hist.Min)
			dp.SetMax(hist.Max)
			dp.BucketCounts().FromRaw(toUint64(hist.Counts))
		}
		sh.series = append(sh.series, shownSeries{s: s, version: s.version})
	}
}

// openMetric renders the sessions open per target of one account.
func openMetric(sm pmetric.ScopeMetrics, open map[string]int64, ts pcommon.Timestamp) {
	if len(open) == 0 {
		return
	}
	m := newMetric(sm, MetricOpen, "{session}",
		"SSM sessions started and not terminated whose last activity (start or resume) is within session_max_age of the newest event time, by target instance.")
	g := m.SetEmptyGauge()
	for _, target := range slices.Sorted(maps.Keys(open)) {
		dp := g.DataPoints().AppendEmpty()
		putNonEmpty(dp.Attributes(), AttrTarget, target)
		dp.SetTimestamp(ts)
		dp.SetIntValue(open[target])
	}
}

// newMetric appends a metric with its name, unit and description.
func newMetric(sm pmetric.ScopeMetrics, name, unit, description string) pmetric.Metric {
	m := sm.Metrics().AppendEmpty()
	m.SetName(name)
	m.SetUnit(unit)
	m.SetDescription(description)
	return m
}

func toUint64(counts []int64) []uint64 {
	out := make([]uint64, len(counts))
	for i, n := range counts {
		out[i] = uint64(max(n, 0))
	}
	return out
}

// attributes writes the data point attributes of a series.
func (k seriesKey) attributes(m pcommon.Map) {
	if k.Overflow {
		m.PutBool(AttrOverflow, true)
		return
	}
	putNonEmpty(m, AttrTarget, k.Target)
	putNonEmpty(m, AttrARN, k.ARN)
	putNonEmpty(m, AttrType, k.Type)
	putNonEmpty(m, AttrOutcome, k.Outcome)
	if k.InstanceToInstance {
		m.PutBool(AttrI2I, true)
	}
}

func putNonEmpty(m pcommon.Map, k, v string) {
	if v != "" {
		m.PutStr(k, v)
	}
}

func compareKeys(a, b seriesKey) int {
	return cmp.Or(
		cmp.Compare(boolInt(a.Durations), boolInt(b.Durations)),
		cmp.Compare(boolInt(a.Overflow), boolInt(b.Overflow)),
		cmp.Compare(a.Account, b.Account),
		cmp.Compare(a.ARN, b.ARN),
		cmp.Compare(a.Type, b.Type),
		cmp.Compare(a.Target, b.Target),
		cmp.Compare(a.Outcome, b.Outcome),
		cmp.Compare(boolInt(a.InstanceToInstance), boolInt(b.InstanceToInstance)),
	)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
