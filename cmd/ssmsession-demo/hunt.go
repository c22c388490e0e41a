// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/cloudtrail-detect/ssmsession/connector/ssmsessionconnector"
)

// huntView is the last emission of the hunt connector, as the report uses it.
type huntView struct {
	total    int64 // all calls counted (cumulative)
	targets  map[string]*targetRow
	fanOut   []fanOutRow
	instance []string // instance-to-instance series
	// durations are the ended sessions per target; open the sessions
	// without an end per target.
	durations map[string]*durationRow
	open      map[string]int64
}

type durationRow struct {
	count    uint64
	sum, max float64
}

type targetRow struct {
	target                     string
	sessions, failed           int64
	identities                 map[string]bool
	instanceToInstanceSessions int64
}

type fanOutRow struct {
	arn, kind string
	targets   int64
}

func readHunt(md pmetric.Metrics) huntView {
	h := huntView{targets: map[string]*targetRow{}, durations: map[string]*durationRow{}, open: map[string]int64{}}
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		ms := md.ResourceMetrics().At(i).ScopeMetrics().At(0).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			switch m.Name() {
			case ssmsessionconnector.MetricStarts:
				for k := 0; k < m.Sum().DataPoints().Len(); k++ {
					h.total += m.Sum().DataPoints().At(k).IntValue()
				}
			case ssmsessionconnector.MetricStartsWindow:
				for k := 0; k < m.Gauge().DataPoints().Len(); k++ {
					dp := m.Gauge().DataPoints().At(k)
					attrs := dp.Attributes().AsRaw()
					target, _ := attrs[ssmsessionconnector.AttrTarget].(string)
					row := h.targets[target]
					if row == nil {
						row = &targetRow{target: target, identities: map[string]bool{}}
						h.targets[target] = row
					}
					row.sessions += dp.IntValue()
					arn, _ := attrs[ssmsessionconnector.AttrARN].(string)
					row.identities[arn] = true
					if attrs[ssmsessionconnector.AttrOutcome] == "failure" {
						row.failed += dp.IntValue()
					}
					if attrs[ssmsessionconnector.AttrI2I] == true {
						row.instanceToInstanceSessions += dp.IntValue()
						h.instance = append(h.instance, fmt.Sprintf("%s -> %s (%s)", shortARN(arn), target, attrs[ssmsessionconnector.AttrOutcome]))
					}
				}
			case ssmsessionconnector.MetricDuration:
				for k := 0; k < m.Histogram().DataPoints().Len(); k++ {
					dp := m.Histogram().DataPoints().At(k)
					target, _ := dp.Attributes().Get(ssmsessionconnector.AttrTarget)
					row := h.durations[target.Str()]
					if row == nil {
						row = &durationRow{}
						h.durations[target.Str()] = row
					}
					row.count += dp.Count()
					row.sum += dp.Sum()
					row.max = max(row.max, dp.Max())
				}
			case ssmsessionconnector.MetricOpen:
				for k := 0; k < m.Gauge().DataPoints().Len(); k++ {
					dp := m.Gauge().DataPoints().At(k)
					target, _ := dp.Attributes().Get(ssmsessionconnector.AttrTarget)
					h.open[target.Str()] += dp.IntValue()
				}
			case ssmsessionconnector.MetricDistinctTarget:
				for k := 0; k < m.Gauge().DataPoints().Len(); k++ {
					dp := m.Gauge().DataPoints().At(k)
					attrs := dp.Attributes().AsRaw()
					arn, _ := attrs[ssmsessionconnector.AttrARN].(string)
					kind, _ := attrs[ssmsessionconnector.AttrType].(string)
					h.fanOut = append(h.fanOut, fanOutRow{arn: arn, kind: kind, targets: dp.IntValue()})
				}
			}
		}
	}
	return h
}

func reportHunt(w io.Writer, h huntView, file string, promPort int, promLines []string) {
	rows := make([]*targetRow, 0, len(h.targets))
	for _, r := range h.targets {
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b *targetRow) int {
		return cmp.Or(cmp.Compare(b.sessions, a.sessions), cmp.Compare(a.target, b.target))
	})
	fmt.Fprintf(w, "\nHUNT: %d StartSession calls counted (any outcome, duplicates once). Last 7 days of event time, by target:\n\n", h.total)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tSESSIONS\tIDENTITIES\tFAILED\tFROM ANOTHER INSTANCE")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", r.target, r.sessions, len(r.identities), r.failed, r.instanceToInstanceSessions)
	}
	tw.Flush()

	slices.SortFunc(h.fanOut, func(a, b fanOutRow) int { return cmp.Or(cmp.Compare(b.targets, a.targets), cmp.Compare(a.arn, b.arn)) })
	fmt.Fprintf(w, "\nFan-out (aws.ssm.session.targets.distinct): identities reaching the most instances in the window:\n\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "IDENTITY (user ARN)\tTYPE\tTARGETS")
	for _, r := range h.fanOut[:min(5, len(h.fanOut))] {
		fmt.Fprintf(tw, "%s\t%s\t%d\n", shortARN(r.arn), r.kind, r.targets)
	}
	tw.Flush()
	if len(h.instance) > 0 {
		fmt.Fprintf(w, "\nInstance-to-instance sessions (ssmsession.instance_to_instance=true):\n  %s\n", strings.Join(h.instance, "\n  "))
	}
	reportSessions(w, h)
	fmt.Fprintf(w, "\nHunt metrics (OTLP JSON, every emission):  %s\n", file)
	if len(promLines) > 0 {
		fmt.Fprintf(w, "Served by the prometheus exporter at http://127.0.0.1:%d/metrics while the collector ran, e.g.\n  %s\n", promPort, promLines[0])
	}
}

// reportSessions shows the sessions followed from start to end: how long
// they lasted per target (aws.ssm.session.duration), and which are open.
func reportSessions(w io.Writer, h huntView) {
	targets := slices.Sorted(maps.Keys(h.durations))
	fmt.Fprintf(w, "\nSession durations (aws.ssm.session.duration: StartSession to TerminateSession), by target:\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tENDED\tMEAN\tLONGEST\tOPEN NOW")
	for _, target := range targets {
		d := h.durations[target]
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\n", target, d.count, minutes(d.sum/float64(d.count)), minutes(d.max), h.open[target])
	}
	for _, target := range slices.Sorted(maps.Keys(h.open)) {
		if _, ok := h.durations[target]; !ok && h.open[target] > 0 {
			fmt.Fprintf(tw, "%s\t0\t-\t-\t%d\n", target, h.open[target])
		}
	}
	tw.Flush()
	fmt.Fprintln(w, "OPEN NOW (aws.ssm.sessions.open): started, not terminated, active (start or ResumeSession) within 24h of the newest event.")
}

func minutes(secs float64) string { return fmt.Sprintf("%.0f min", secs/60) }
