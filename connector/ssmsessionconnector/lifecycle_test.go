// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionconnector

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/cloudtrail-detect/ssmsession/connector/ssmsessionconnector/internal/metadata"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/shapes"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/storagetest"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/traffic"
)

// sessionCalls renders, for user on target, a StartSession at start and
// its TerminateSession at end.
func sessionCalls(user, target string, start, end time.Time) (begin, finish []byte) {
	g := traffic.NewGenerator(uint64(start.UnixNano()) ^ uint64(len(user))<<56) // ids of their own per call
	who := traffic.IAMUser("111122223333", user, "198.51.100.23", "aws-cli/2.15.0")
	call := g.StartSession(who, start, target, nil, "", "")
	return g.Render(call), g.Render(traffic.TerminateSession(call, end))
}

// withName keeps the points of vals whose metric is name and whose
// attributes mention who.
func withName(vals map[string]int64, name, who string) map[string]int64 {
	out := map[string]int64{}
	for k, v := range vals {
		if strings.HasPrefix(k, name+"|") && strings.Contains(k, who) {
			out[k] = v
		}
	}
	return out
}

func hourly(c *Config) { c.Window, c.Bucket = time.Hour, time.Hour }

// refusing is a next consumer that refuses while refuse is set, and keeps
// what it took.
type refusing struct {
	mu     sync.Mutex
	refuse bool
	got    []pmetric.Metrics
}

func (r *refusing) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (r *refusing) ConsumeMetrics(_ context.Context, md pmetric.Metrics) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refuse {
		return errors.New("sending queue is full")
	}
	r.got = append(r.got, md)
	return nil
}

// TestRefusedEmissionDropsNothing: a series idle for the window is dropped
// only after an emission the next consumer took: when that one is refused,
// the next brings its final count and its window's 0 again.
func TestRefusedEmissionDropsNothing(t *testing.T) {
	next := &refusing{}
	c, err := newConnector(connectortest.NewNopSettings(metadata.Type), config(hourly), next, clockAt)
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx, componenttest.NewNopHost()))
	defer func() { require.NoError(t, c.Shutdown(ctx)) }()
	feed := func(raw []byte) {
		ld, err := shapes.Logs(shapes.Raw, [][]byte{raw})
		require.NoError(t, err)
		require.NoError(t, c.ConsumeLogs(ctx, ld))
	}
	alice, _ := sessionCalls("alice", "i-0a11111111111111a", emitAt.Add(-90*time.Minute), emitAt)
	bob, _ := sessionCalls("bob", "i-0b22222222222222b", emitAt.Add(-30*time.Minute), emitAt)
	feed(alice)
	require.NoError(t, c.emit(ctx))
	feed(bob) // alice's hour leaves the window
	next.refuse = true
	require.Error(t, c.emit(ctx))
	next.refuse = false
	require.NoError(t, c.emit(ctx))

	last := values(next.got[len(next.got)-1])
	assert.Equal(t, []int64{0}, mapValues(withName(last, MetricStartsWindow, "user/alice")), "the 0 the refused emission carried")
	assert.Equal(t, []int64{1}, mapValues(withName(last, MetricStarts, "user/alice")), "and its final count")
	require.NoError(t, c.emit(ctx))
	assert.Empty(t, withName(values(next.got[len(next.got)-1]), MetricStarts, "user/alice"), "dropped once delivered")
}

// TestZerosDueSurviveARestart: a window gauge and an open-session gauge
// shown non-zero before a clean stop are shown falling to 0 after the
// restart, though nothing was emitted between.
func TestZerosDueSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	cfg := config(func(c *Config) { hourly(c); withStorage(c) })
	alice, aliceEnd := sessionCalls("alice", "i-0a11111111111111a", emitAt.Add(-90*time.Minute), emitAt.Add(-20*time.Minute))
	bob, _ := sessionCalls("bob", "i-0b22222222222222b", emitAt.Add(-30*time.Minute), emitAt)

	ext := storagetest.FileStorage(t, dir)
	h1 := start(t, cfg, map[component.ID]component.Component{storagetest.ID: ext})
	before := values(h1.consume(t, shapes.Raw, [][]byte{alice}))
	require.Equal(t, int64(1), before[MetricOpen+"|111122223333|map[target_instance:i-0a11111111111111a]"])
	require.NoError(t, h1.c.Shutdown(ctx))
	require.NoError(t, ext.Shutdown(ctx))

	h2 := start(t, cfg, map[component.ID]component.Component{storagetest.ID: storagetest.FileStorage(t, dir)})
	after := values(h2.consume(t, shapes.Raw, [][]byte{bob, aliceEnd}))
	zero, ok := after[MetricOpen+"|111122223333|map[target_instance:i-0a11111111111111a]"]
	assert.True(t, ok && zero == 0, "alice's target shown with no session open")
	assert.Equal(t, []int64{0}, mapValues(withName(after, MetricStartsWindow, "user/alice")), "alice's window shown falling to 0")
}

// TestOpenZeroOwedSurvivesARestart: a target shown with a session open,
// whose session then ended and was saved while the emission of its 0 was
// refused, is shown at 0 after a restart: the 0 owed is stored, not only
// the sessions.
func TestOpenZeroOwedSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	cfg := config(func(c *Config) { hourly(c); withStorage(c) })
	alice, aliceEnd := sessionCalls("alice", "i-0a11111111111111a", emitAt.Add(-90*time.Minute), emitAt.Add(-20*time.Minute))
	bob, _ := sessionCalls("bob", "i-0b22222222222222b", emitAt.Add(-30*time.Minute), emitAt)
	aliceTarget := MetricOpen + "|111122223333|map[target_instance:i-0a11111111111111a]"

	next := &refusing{}
	ext := storagetest.FileStorage(t, dir)
	h1 := startWith(t, cfg, map[component.ID]component.Component{storagetest.ID: ext}, next)
	feed := func(h *harness, raws ...[]byte) {
		ld, err := shapes.Logs(shapes.Raw, raws)
		require.NoError(t, err)
		require.NoError(t, h.c.ConsumeLogs(ctx, ld))
	}
	feed(h1, alice)
	require.NoError(t, h1.c.emit(ctx))
	require.Equal(t, int64(1), values(next.got[len(next.got)-1])[aliceTarget])
	feed(h1, aliceEnd) // saved: the session is gone from storage
	next.refuse = true
	require.Error(t, h1.c.emit(ctx))
	_ = h1.c.Shutdown(ctx) // its last emission is refused too
	require.NoError(t, ext.Shutdown(ctx))

	h2 := start(t, cfg, map[component.ID]component.Component{storagetest.ID: storagetest.FileStorage(t, dir)})
	after := values(h2.consume(t, shapes.Raw, [][]byte{bob}))
	zero, ok := after[aliceTarget]
	assert.True(t, ok && zero == 0, "alice's target shown with no session open: %v", after)
	again := values(h2.emit(t))
	_, ok = again[aliceTarget]
	assert.False(t, ok, "once")
}

func mapValues(m map[string]int64) []int64 {
	var out []int64
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// stuck is a next consumer that holds every emission until its context
// ends, as an exporter blocked on a full queue does.
type stuck struct{ entered chan struct{} }

func (s *stuck) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (s *stuck) ConsumeMetrics(ctx context.Context, _ pmetric.Metrics) error {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}

// TestShutdownKeepsItsDeadline: an emission of the emit loop blocked in
// the next consumer is cancelled by Shutdown, whose own last emission is
// bounded by its context.
func TestShutdownKeepsItsDeadline(t *testing.T) {
	next := &stuck{entered: make(chan struct{}, 1)}
	c, err := newConnector(connectortest.NewNopSettings(metadata.Type), config(func(c *Config) { c.EmitInterval = time.Millisecond }), next, clockAt)
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx, componenttest.NewNopHost()))
	alice, _ := sessionCalls("alice", "i-0a11111111111111a", emitAt.Add(-time.Minute), emitAt)
	ld, err := shapes.Logs(shapes.Raw, [][]byte{alice})
	require.NoError(t, err)
	require.NoError(t, c.ConsumeLogs(ctx, ld))
	<-next.entered // the loop's emission is held

	sctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	err = c.Shutdown(sctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "the last emission was held to the deadline")
}

// batchUnderWay starts a connector on file_storage and a batch of one
// session whose storage read is held until faulty.Clients[0].Release; the
// batch's answer comes on consumed.
func batchUnderWay(t *testing.T) (*harness, *storagetest.FaultyExtension, chan error) {
	faulty := &storagetest.FaultyExtension{Extension: storagetest.FileStorage(t, t.TempDir())}
	h := start(t, config(withStorage), map[component.ID]component.Component{storagetest.ID: faulty})
	held := faulty.Clients[0].HoldNextRead()
	alice, _ := sessionCalls("alice", "i-0a11111111111111a", emitAt.Add(-time.Minute), emitAt)
	ld, err := shapes.Logs(shapes.Raw, [][]byte{alice})
	require.NoError(t, err)
	consumed := make(chan error)
	go func() { consumed <- h.c.ConsumeLogs(ctx, ld) }()
	<-held
	return h, faulty, consumed
}

// TestShutdownWaitsForBatchesUnderWay: a batch still reading its event ids
// from storage when Shutdown begins is counted in the last emission; one
// that arrives while Shutdown waits is refused, not counted unreported.
func TestShutdownWaitsForBatchesUnderWay(t *testing.T) {
	h, faulty, consumed := batchUnderWay(t)
	shut := make(chan error)
	go func() { shut <- h.c.Shutdown(ctx) }()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) with a batch under way", err)
	case <-time.After(50 * time.Millisecond):
	}
	require.Eventually(t, func() bool {
		h.c.mu.Lock()
		defer h.c.mu.Unlock()
		return h.c.grounded
	}, 5*time.Second, time.Millisecond, "Shutdown waits for the batch")
	bob, _ := sessionCalls("bob", "i-0b22222222222222b", emitAt.Add(-time.Minute), emitAt)
	late, err := shapes.Logs(shapes.Raw, [][]byte{bob})
	require.NoError(t, err)
	assert.ErrorIs(t, h.c.ConsumeLogs(ctx, late), errShutDown, "a batch no emission would report is refused")
	faulty.Clients[0].Release()
	require.NoError(t, <-consumed)
	require.NoError(t, <-shut)
	all := h.sink.AllMetrics()
	require.Len(t, all, 1, "the last emission")
	assert.Equal(t, []int64{1}, mapValues(withName(values(all[0]), MetricStarts, "user/alice")), "with the batch's session")
	assert.Empty(t, withName(values(all[0]), MetricStarts, "user/bob"), "and not the refused one's")
}

// TestStateBoundedWhileStorageFails: with every write failing, the changes
// waiting for a save stay within max_open_sessions, however many sessions
// start and end.
func TestStateBoundedWhileStorageFails(t *testing.T) {
	faulty := &storagetest.FaultyExtension{Extension: storagetest.FileStorage(t, t.TempDir())}
	h := start(t, config(func(c *Config) { withStorage(c); c.MaxOpenSessions = 100 }), map[component.ID]component.Component{storagetest.ID: faulty})
	faulty.Clients[0].SetFailing(true)
	for i := range 20 {
		var raws [][]byte
		for j := range 500 {
			at := emitAt.Add(-2 * time.Hour).Add(time.Duration(i*500+j) * time.Second)
			begin, end := sessionCalls(fmt.Sprint("user", j%7), fmt.Sprintf("i-0a%017d", i*500+j), at, at.Add(time.Second))
			raws = append(raws, begin, end)
		}
		ld, err := shapes.Logs(shapes.Raw, raws)
		require.NoError(t, err)
		require.NoError(t, h.c.ConsumeLogs(ctx, ld))
	}
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	assert.LessOrEqual(t, len(h.c.counter.sessions.changed), 200, "10,000 sessions started and ended")
}

// TestShutdownPastItsDeadlineStillCloses: a Shutdown whose deadline passes
// with a batch under way returns its error, and still closes its storage
// client (and stops its reconnects).
func TestShutdownPastItsDeadlineStillCloses(t *testing.T) {
	h, faulty, consumed := batchUnderWay(t)
	sctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, h.c.Shutdown(sctx), context.DeadlineExceeded)
	faulty.Clients[0].Release()
	<-consumed
	_, err := faulty.Clients[0].Client.Get(ctx, "anchor")
	assert.Error(t, err, "the storage client is closed")
}
