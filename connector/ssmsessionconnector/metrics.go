// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionconnector // import "github.com/cloudtrail-detect/ssmsession/connector/ssmsessionconnector"

import (
	"cmp"
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
// and the distinct targets per identity likewise. Output is sorted, so equal
// state gives equal metrics.
func (c *counter) metrics(now time.Time, version string) pmetric.Metrics {
	md := pmetric.NewMetrics()
	byAccount := map[string][]*series{}
	for _, s := range c.series {
		byAccount[s.Key.Account] = append(byAccount[s.Key.Account], s)
	}
	accounts := make([]string, 0, len(byAccount))
	for a := range byAccount {
		accounts = append(accounts, a)
	}
	slices.Sort(accounts)
	ts := pcommon.NewTimestampFromTime(now)
	for _, account := range accounts {
		list := byAccount[account]
		slices.SortFunc(list, func(a, b *series) int { return compareKeys(a.Key, b.Key) })
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("cloud.provider", "aws")
		if account != "" {
			rm.Resource().Attributes().PutStr(AttrAccount, account)
		}
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName(scopeName)
		sm.Scope().SetVersion(version)

		starts := sm.Metrics().AppendEmpty()
		starts.SetName(MetricStarts)
		starts.SetDescription("SSM StartSession calls since the count began, by target instance, identity and outcome.")
		starts.SetUnit("{session}")
		sum := starts.SetEmptySum()
		sum.SetIsMonotonic(true)
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)

		window := sm.Metrics().AppendEmpty()
		window.SetName(MetricStartsWindow)
		window.SetDescription("SSM StartSession calls in the trailing window of event time, by target instance, identity and outcome.")
		window.SetUnit("{session}")
		gauge := window.SetEmptyGauge()

		distinct := map[seriesKey]map[string]bool{} // identity -> targets in window
		for _, s := range list {
			dp := sum.DataPoints().AppendEmpty()
			s.Key.attributes(dp.Attributes())
			dp.SetStartTimestamp(pcommon.Timestamp(s.Start))
			dp.SetTimestamp(ts)
			dp.SetIntValue(s.Total)
			s.reported = s.version

			w := c.inWindow(s)
			if w == 0 && s.Shown == 0 {
				continue
			}
			s.Shown = w
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
			continue
		}
		dm := sm.Metrics().AppendEmpty()
		dm.SetName(MetricDistinctTarget)
		dm.SetDescription("Distinct session targets per identity in the trailing window: one identity fanning out to many instances is the lateral-movement signal.")
		dm.SetUnit("{instance}")
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
	return md
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
