// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionconnector

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/shapes"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/traffic"
)

const lifeTarget = "i-0c33333333333333c"

// oneSession is a generator and the successful StartSession of one
// session, by alice on lifeTarget at at.
func oneSession(at time.Time) (*traffic.Generator, *traffic.Identity, traffic.Call) {
	g := traffic.NewGenerator(uint64(at.UnixNano()))
	who := traffic.IAMUser("111122223333", "alice", "198.51.100.23", "aws-cli/2.15.0")
	return g, who, g.StartSession(who, at, lifeTarget, nil, "", "")
}

// failed is c failing with AccessDenied: no response, as CloudTrail
// records a refused call.
func failed(c traffic.Call) traffic.Call {
	c.Error = [2]string{"AccessDenied", "User: " + c.Who.ARN + " is not authorized to perform: ssm:" + c.Name}
	c.Response = nil
	return c
}

// feedModes deliver rendered events to a connector: all in one batch and
// emitted once, or one event per batch with an emission after each (so
// that open sessions are aged by each emission too). Both return the last
// emission.
var feedModes = map[string]func(t *testing.T, h *harness, raws [][]byte) pmetric.Metrics{
	"one batch": func(t *testing.T, h *harness, raws [][]byte) pmetric.Metrics {
		return h.consume(t, shapes.Raw, raws)
	},
	"one by one": func(t *testing.T, h *harness, raws [][]byte) pmetric.Metrics {
		var md pmetric.Metrics
		for _, raw := range raws {
			md = h.consume(t, shapes.Raw, [][]byte{raw})
		}
		return md
	},
}

// TestResumeKeepsSessionOpen: each ResumeSession renews a session's
// activity, so an end more than session_max_age after the start but within
// it of the last resume still pairs with the start (a duration), and the
// session counts as open until then. Without the resumes, the same end
// finds the session aged out: no duration, the end counts as unknown.
func TestResumeKeepsSessionOpen(t *testing.T) {
	const maxAge = 2 * time.Hour
	begin := emitAt.Add(-10 * time.Hour)
	resumes := []time.Duration{100 * time.Minute, 200 * time.Minute, 300 * time.Minute} // each within maxAge of the one before
	end := begin.Add(350 * time.Minute)                                                 // > maxAge after the start, 50m after the last resume
	require.Greater(t, end.Sub(begin), maxAge)
	require.LessOrEqual(t, end.Sub(begin.Add(resumes[len(resumes)-1])), maxAge)

	render := func(withResumes bool) [][]byte {
		g, _, start := oneSession(begin)
		raws := [][]byte{g.Render(start)}
		if withResumes {
			for _, d := range resumes {
				raws = append(raws, g.Render(traffic.ResumeSession(start, begin.Add(d))))
			}
		}
		return append(raws, g.Render(traffic.TerminateSession(start, end)))
	}
	cfg := func(c *Config) { c.SessionMaxAge = maxAge }
	_, who, _ := oneSession(begin)
	buckets := make([]uint64, len(DurationBounds)+1)
	buckets[6] = 1 // 21,000 s: above 4 hours, within a day

	for mode, feed := range feedModes {
		t.Run("resumed/"+mode, func(t *testing.T) {
			h := start(t, config(cfg), nil)
			raws := render(true)
			if mode == "one by one" {
				// Before the end: the last resume keeps it open, though its
				// start is more than session_max_age before the newest event.
				_, open := sessionMetrics(t, feed(t, h, raws[:len(raws)-1]))
				assert.Equal(t, map[string]int64{lifeTarget: 1}, open, "open after its resumes")
				raws = raws[len(raws)-1:]
			}
			durations, open := sessionMetrics(t, feed(t, h, raws))
			assert.Equal(t, []durationPoint{{lifeTarget, who.ARN, 1, end.Sub(begin).Seconds(), buckets}}, durations, "paired: the resumes kept it open")
			if mode == "one by one" {
				assert.Equal(t, map[string]int64{lifeTarget: 0}, open, "its fall to 0 is emitted")
			}
			for target, n := range open {
				assert.Zero(t, n, "%s still open", target)
			}
			assert.Equal(t, int64(1), sumCounter(t, h, "otelcol_connector_ssmsession_sessions_terminated"))
			assert.Zero(t, sumCounter(t, h, "otelcol_connector_ssmsession_sessions_unknown_terminated"))
			assert.Zero(t, sumCounter(t, h, "otelcol_connector_ssmsession_open_sessions_aged_out"))
		})
		t.Run("not resumed/"+mode, func(t *testing.T) {
			h := start(t, config(cfg), nil)
			durations, open := sessionMetrics(t, feed(t, h, render(false)))
			assert.Empty(t, durations, "aged out before its end")
			for target, n := range open {
				assert.Zero(t, n, "%s still open", target)
			}
			assert.Zero(t, sumCounter(t, h, "otelcol_connector_ssmsession_sessions_terminated"))
			assert.Equal(t, int64(1), sumCounter(t, h, "otelcol_connector_ssmsession_sessions_unknown_terminated"))
		})
	}
}

// TestFailedTerminateDoesNotEndSession: only a successful TerminateSession
// ends a session. A refused one (errorCode set) leaves it open, with no
// duration and no unknown end; the successful end that follows pairs with
// the start, its duration measured to that end.
func TestFailedTerminateDoesNotEndSession(t *testing.T) {
	begin := emitAt.Add(-time.Hour)
	g, who, start0 := oneSession(begin)
	raws := [][]byte{
		g.Render(start0),
		g.Render(failed(traffic.TerminateSession(start0, begin.Add(10*time.Minute)))),
		g.Render(traffic.TerminateSession(start0, begin.Add(20*time.Minute))),
	}
	buckets := make([]uint64, len(DurationBounds)+1)
	buckets[3] = 1 // 1,200 s: within half an hour

	for mode, feed := range feedModes {
		t.Run(mode, func(t *testing.T) {
			h := start(t, config(nil), nil)
			rest := raws
			if mode == "one by one" {
				durations, open := sessionMetrics(t, feed(t, h, raws[:2]))
				assert.Empty(t, durations, "the refused end paired nothing")
				assert.Equal(t, map[string]int64{lifeTarget: 1}, open, "still open after the refused end")
				assert.Zero(t, sumCounter(t, h, "otelcol_connector_ssmsession_sessions_terminated"))
				assert.Zero(t, sumCounter(t, h, "otelcol_connector_ssmsession_sessions_unknown_terminated"), "the refused end is not an end")
				rest = raws[2:]
			}
			durations, open := sessionMetrics(t, feed(t, h, rest))
			assert.Equal(t, []durationPoint{{lifeTarget, who.ARN, 1, 1200, buckets}}, durations, "paired with the successful end")
			assert.Zero(t, open[lifeTarget])
			if mode == "one by one" {
				assert.Equal(t, map[string]int64{lifeTarget: 0}, open, "its fall to 0 is emitted")
			}
			assert.Equal(t, int64(1), sumCounter(t, h, "otelcol_connector_ssmsession_sessions_terminated"))
			assert.Zero(t, sumCounter(t, h, "otelcol_connector_ssmsession_sessions_unknown_terminated"))
		})
	}
}

// TestFailedResumeKeepsNothingOpen: a refused ResumeSession is no
// activity (connector.go: "a failed end or resume changes nothing"): an end
// more than session_max_age after the start, though within it of the
// refused resume, finds the session aged out.
func TestFailedResumeKeepsNothingOpen(t *testing.T) {
	const maxAge = 2 * time.Hour
	begin := emitAt.Add(-5 * time.Hour)
	g, _, start0 := oneSession(begin)
	raws := [][]byte{
		g.Render(start0),
		g.Render(failed(traffic.ResumeSession(start0, begin.Add(90*time.Minute)))),
		g.Render(traffic.TerminateSession(start0, begin.Add(150*time.Minute))),
	}
	for mode, feed := range feedModes {
		t.Run(mode, func(t *testing.T) {
			h := start(t, config(func(c *Config) { c.SessionMaxAge = maxAge }), nil)
			durations, _ := sessionMetrics(t, feed(t, h, raws))
			assert.Empty(t, durations, "the refused resume kept nothing open")
			assert.Equal(t, int64(1), sumCounter(t, h, "otelcol_connector_ssmsession_sessions_unknown_terminated"))
		})
	}
}
