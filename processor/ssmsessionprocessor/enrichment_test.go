// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionprocessor

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/corpus"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/redistest"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/shapes"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/storagetest"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/traffic"
)

// enrichment is what a record was told beyond the rule; "" is not tagged.
type enrichment struct{ SessionID, DocumentName, LaunchedAt, RecentlyLaunched string }

func enrichmentOf(lr plog.LogRecord) enrichment {
	return enrichment{attrStr(lr, AttrSessionID), attrStr(lr, AttrDocumentName), attrStr(lr, AttrLaunchedAt), attrStr(lr, AttrRecentLaunch)}
}

func wantEnrichment(m corpus.LifecycleMatch) enrichment {
	e := enrichment{SessionID: m.SessionID, DocumentName: m.DocumentName, LaunchedAt: m.LaunchedAt}
	if m.RecentlyLaunched != nil {
		e.RecentlyLaunched = strconv.FormatBool(*m.RecentlyLaunched)
	}
	return e
}

// lifecycleRaws splits the corpus at record n.
func lifecycleRaws(t *testing.T) [][]byte { return corpus.Events(t, "lifecycle") }

// assertLifecycle checks records out, which hold records from..from+len of
// the corpus, against the expected enrichment.
func assertLifecycle(t *testing.T, label string, from int, out []plog.LogRecord) {
	t.Helper()
	want := map[int]enrichment{}
	for _, m := range corpus.LifecycleExpected(t).Matches {
		want[m.Record] = wantEnrichment(m)
	}
	for i, lr := range out {
		w, match := want[from+i]
		assert.Equal(t, match, attrStr(lr, AttrRuleID) == RuleID, "%s record %d", label, from+i)
		assert.Equal(t, w, enrichmentOf(lr), "%s record %d", label, from+i)
	}
}

// TestEnrichmentEveryShape: the session id, the document, the target's
// launch time and whether it was recent, in every input shape.
func TestEnrichmentEveryShape(t *testing.T) {
	raws := lifecycleRaws(t)
	for _, shape := range shapes.Every {
		ld, err := shapes.Logs(shape, raws)
		require.NoError(t, err)
		h := start(t, defaultConfig(), nil, nil)
		out := records(process(t, h, ld))
		require.Len(t, out, len(raws), "%s", shape)
		assertLifecycle(t, string(shape), 0, out)
		assertCounter(t, h, "otelcol_processor_ssmsession_launches_recorded", 2)
		assertCounter(t, h, "otelcol_processor_ssmsession_targets_recently_launched", 2)
		assertCounter(t, h, "otelcol_processor_ssmsession_targets_launch_unknown", 1)
	}
}

// TestEnrichmentOneEventPerBatch: delivered one event at a time, as a
// stream does, the answers are those of one batch.
func TestEnrichmentOneEventPerBatch(t *testing.T) {
	raws := lifecycleRaws(t)
	h := start(t, defaultConfig(), nil, nil)
	var out []plog.LogRecord
	for _, raw := range raws {
		out = append(out, records(process(t, h, rawLogs(t, [][]byte{raw})))...)
	}
	assertLifecycle(t, "one by one", 0, out)
}

// TestEnrichmentOff: launch_history 0s reads no RunInstances and tags no
// launch; the session's own details stay.
func TestEnrichmentOff(t *testing.T) {
	cfg := defaultConfig()
	cfg.Enrichment.LaunchHistory = 0
	h := start(t, cfg, nil, nil)
	out := records(process(t, h, rawLogs(t, lifecycleRaws(t))))
	for _, m := range corpus.LifecycleExpected(t).Matches {
		want := wantEnrichment(m)
		want.LaunchedAt, want.RecentlyLaunched = "", ""
		assert.Equal(t, want, enrichmentOf(out[m.Record]), "record %d", m.Record)
	}
	assertNoCounter(t, h, "otelcol_processor_ssmsession_launches_recorded")
}

// TestEnrichmentRestart: launches and the start of watching are kept by
// file_storage: after a restart (the collector's clean shutdown, then a new
// process on the same directory) the sessions get the same answers.
func TestEnrichmentRestart(t *testing.T) {
	dir, raws := t.TempDir(), lifecycleRaws(t)
	ext := storagetest.FileStorage(t, dir)
	h1 := start(t, withStorage(), map[component.ID]component.Component{storagetest.ID: ext}, nil)
	first := records(process(t, h1, rawLogs(t, raws[:2]))) // a session, then the launch
	require.NoError(t, h1.logs.Shutdown(ctx))
	require.NoError(t, ext.Shutdown(ctx))

	h2 := start(t, withStorage(), map[component.ID]component.Component{storagetest.ID: storagetest.FileStorage(t, dir)}, nil)
	rest := records(process(t, h2, rawLogs(t, raws[2:])))
	assertLifecycle(t, "restarted", 0, append(first, rest...))
}

// TestEnrichmentSharedInRedis: one replica sees the launch, another the
// session; Redis gives both the same answer. Redis expires launches by wall
// time, so the clocks read the day of the events.
func TestEnrichmentSharedInRedis(t *testing.T) {
	srv := redistest.Start(t)
	raws := lifecycleRaws(t)
	launcher := start(t, withRedis(srv.Addr), nil, nil)
	other := start(t, withRedis(srv.Addr), nil, nil)
	for _, h := range []*harness{launcher, other} {
		h.clock.Advance(time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC).Sub(h.clock.Now()))
	}
	first := records(process(t, launcher, rawLogs(t, raws[:2])))
	rest := records(process(t, other, rawLogs(t, raws[2:])))
	assertLifecycle(t, "two replicas", 0, append(first, rest...))
}

// TestEnrichmentBounded: with launches in memory only and a cache of one,
// an evicted launch makes its target unknown, never "not recent".
func TestEnrichmentBounded(t *testing.T) {
	cfg := defaultConfig()
	cfg.Enrichment.CacheSize = 1
	h := start(t, cfg, nil, nil)
	raws := lifecycleRaws(t)
	out := records(process(t, h, rawLogs(t, raws)))
	bob, carol := enrichmentOf(out[2]), enrichmentOf(out[9])
	// Two instances launched, one kept: one of the two sessions finds its
	// launch, the other cannot be told from an old instance.
	assert.ElementsMatch(t, []string{"true", ""}, []string{bob.RecentlyLaunched, carol.RecentlyLaunched})
	assert.Equal(t, "", enrichmentOf(out[3]).RecentlyLaunched, "the web server: nothing is known to be old any more")
}

// TestLaunchWatchBeginsAtAPlausibleTime: the start of watching launches is
// proposed from plausible times only: a match dated in the year 1000 does
// not claim that every launch since 1970 was seen, one dated 2099 does not
// leave every answer unknown until then.
func TestLaunchWatchBeginsAtAPlausibleTime(t *testing.T) {
	for _, bad := range []time.Time{time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)} {
		t.Run(bad.Format("2006"), func(t *testing.T) {
			h := start(t, defaultConfig(), nil, nil)
			out := records(process(t, h, rawLogs(t, [][]byte{session("mallory", bad, 1)})))
			assert.Empty(t, attrStr(out[0], AttrRecentLaunch), "nothing watched before it")
			out = records(process(t, h, rawLogs(t, [][]byte{session("alice", day0, 2)})))
			assert.Empty(t, attrStr(out[0], AttrRecentLaunch), "watching begins with it: nobody can know yet")
			out = records(process(t, h, rawLogs(t, [][]byte{session("carol", day0.Add(18*24*time.Hour), 3)})))
			assert.Equal(t, "false", attrStr(out[0], AttrRecentLaunch), "watched for 18 days, no launch of its target seen")
		})
	}
}

// TestPooledBatchKeepsNoViewOfBodies: a batch goes back to its pool holding
// no launch (whose instance ids are views of the bodies read), so a
// finished batch's bodies are not kept alive by the next one's scratch.
func TestPooledBatchKeepsNoViewOfBodies(t *testing.T) {
	h := start(t, defaultConfig(), nil, nil)
	p := h.logs.(*logsProcessor).Value
	var b *batch // the pool's only batch, held here: a pool may drop what it is given (under -race, at random)
	p.batches.New = func() any { b = &batch{}; return b }
	process(t, h, rawLogs(t, corpus.Events(t, "lifecycle")))
	require.NotNil(t, b)
	require.NotZero(t, cap(b.launches), "the batch read launches")
	for _, la := range b.launches[:cap(b.launches)] {
		assert.Zero(t, la, "a launch left in the pooled batch")
	}
}

// TestFailedLaunchIsNoLaunch: a RunInstances that failed (errorCode set)
// launched nothing, whatever its response names: it is not recorded, and a
// session on that instance, watched for days, is not recently launched. A
// successful launch beside it is.
func TestFailedLaunchIsNoLaunch(t *testing.T) {
	const failedID, launchedID = "i-0dead00000000001a", "i-0beef00000000002b"
	g := traffic.NewGenerator(7)
	alice := traffic.IAMUser(prod, "alice", "203.0.113.9", "aws-cli/2.22.4")
	at := day0.Add(5 * 24 * time.Hour)
	failed := g.RunInstances(traffic.AutoScaling(prod, at), at, "web-asg", failedID)
	failed.Error = [2]string{"Server.InsufficientInstanceCapacity", "We currently do not have sufficient t3.medium capacity in the Availability Zone you requested."}
	launched := g.RunInstances(traffic.AutoScaling(prod, at), at.Add(time.Minute), "web-asg", launchedID)
	var raws [][]byte
	for _, c := range []traffic.Call{
		g.StartSession(alice, day0, "i-0a11111111111111a", nil, "", ""), // watching begins
		failed,
		launched,
		g.StartSession(alice, at.Add(10*time.Minute), failedID, nil, "", ""),
		g.StartSession(alice, at.Add(11*time.Minute), launchedID, nil, "", ""),
	} {
		raws = append(raws, g.Render(c))
	}
	for _, shape := range shapes.PerEvent {
		t.Run(string(shape), func(t *testing.T) {
			ld, err := shapes.Logs(shape, raws)
			require.NoError(t, err)
			h := start(t, defaultConfig(), nil, nil)
			out := records(process(t, h, ld))
			require.Len(t, out, len(raws))
			assert.Equal(t, "", attrStr(out[1], AttrRuleID), "a launch is no match")
			onFailed, onLaunched := enrichmentOf(out[3]), enrichmentOf(out[4])
			assert.Equal(t, "false", onFailed.RecentlyLaunched, "watched for 5 days, no launch of its target succeeded")
			assert.Equal(t, "", onFailed.LaunchedAt)
			assert.Equal(t, "true", onLaunched.RecentlyLaunched)
			assert.Equal(t, at.Add(time.Minute).UTC().Format(time.RFC3339), onLaunched.LaunchedAt)
			assertCounter(t, h, "otelcol_processor_ssmsession_launches_recorded", 1)
		})
	}
}
