// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package firstseen

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/storagetest"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/testclock"
)

var (
	t0      = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	day     = 24 * time.Hour
	window  = 10 * day
	procID  = component.MustNewID("ssmsession")
	fixedAt = func() time.Time { return t0.Add(30 * day) }
)

func newStore(t *testing.T, cache int, client storage.Client) *Store {
	t.Helper()
	s, err := New(Settings{Window: window, CacheSize: cache, Persistent: client != nil, PruneInterval: time.Hour, Now: fixedAt})
	require.NoError(t, err)
	if client != nil {
		s.SetClient(client)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func key(name string) Key { return KeyOf("user", []string{name}) }

func obs(name string, at time.Duration, ev uint64) Observation {
	return Observation{Key: key(name), Time: t0.Add(at), Event: ev}
}

// observe runs one batch and returns the decisions.
func observe(t *testing.T, s *Store, batch ...Observation) ([]bool, []Alert) {
	t.Helper()
	isNew := make([]bool, len(batch))
	alerts, st := s.Observe(context.Background(), batch, isNew)
	require.NoError(t, st.StorageErr)
	return isNew, alerts
}

func TestDecisionRule(t *testing.T) {
	s := newStore(t, 100, nil)
	got, alerts := observe(t, s,
		obs("alice", 0, 1),             // first: new
		obs("alice", day, 2),           // within window: known
		obs("alice", day+window, 3),    // exactly the window after the latest: known
		obs("alice", 12*day, 4),        // late event, older than the latest: known
		obs("alice", 30*day, 5),        // more than the window after the latest: new again
		obs("bob", 5*day, 6),           // other term: new
		obs("bob", 5*day, 6),           // same event delivered twice in a batch: once
		obs("bob", 5*day-time.Hour, 7), // earlier event arriving after a later one: known
	)
	assert.Equal(t, []bool{true, false, false, false, true, true, false, false}, got)
	require.Len(t, alerts, 3)

	s.Settle(alerts, true)
	got, _ = observe(t, s, obs("alice", 30*day, 5), obs("bob", 5*day, 6))
	assert.Equal(t, []bool{false, false}, got, "duplicate deliveries of delivered alerts do not alert")
}

func TestFailedDeliveryIsAlertedAgain(t *testing.T) {
	s := newStore(t, 100, nil)
	_, alerts := observe(t, s, obs("carol", 0, 9))
	s.Settle(alerts, false)
	got, alerts := observe(t, s, obs("carol", 0, 9))
	assert.Equal(t, []bool{true}, got, "the receiver's retry carries the alert again")
	s.Settle(alerts, true)
	got, _ = observe(t, s, obs("carol", 0, 9), obs("carol", time.Minute, 10))
	assert.Equal(t, []bool{false, false}, got)
}

// TestCopyWhileInFlightIsAlertedToo: with RaiseInFlight (alerts), a copy
// of an event whose alert's batch is still under way carries the alert as
// well, since that batch may yet fail while the copy's is delivered; a copy
// in the same batch shares its fate and is not. Whichever batch is
// delivered settles the alert, in either order.
func TestCopyWhileInFlightIsAlertedToo(t *testing.T) {
	for _, firstFails := range []bool{true, false} {
		s, err := New(Settings{Window: window, CacheSize: 100, PruneInterval: time.Hour, Now: fixedAt, RaiseInFlight: true})
		require.NoError(t, err)
		got, first := observe(t, s, obs("carol", 0, 9), obs("carol", 0, 9))
		assert.Equal(t, []bool{true, false}, got, "a copy in the same batch")
		// Dated anew (an event without eventTime takes its record's time).
		got, copied := observe(t, s, obs("carol", time.Minute, 9))
		assert.Equal(t, []bool{true}, got, "a copy while the first batch is under way")
		assert.Equal(t, first, copied, "the same alert, at its time")
		if firstFails {
			s.Settle(first, false)
			s.Settle(copied, true)
		} else {
			s.Settle(copied, true)
			s.Settle(first, false)
		}
		got, _ = observe(t, s, obs("carol", 0, 9))
		assert.Equal(t, []bool{false}, got, "delivered by one of them (the first failing: %v)", firstFails)
	}
	plain := newStore(t, 100, nil) // marks of what memory holds once decided
	observe(t, plain, obs("carol", 0, 9))
	got, _ := observe(t, plain, obs("carol", 0, 9))
	assert.Equal(t, []bool{false}, got, "without RaiseInFlight, a copy in flight is not new")
}

// model is the rule written the plain way: the full history of each term.
type model map[Key][]int64

func (m model) observe(o Observation) bool {
	t := o.Time.UnixNano()
	h := m[o.Key]
	m[o.Key] = append(h, t)
	if len(h) == 0 {
		return true
	}
	latest := h[0]
	for _, x := range h {
		latest = max(latest, x)
	}
	return t-latest > int64(window)
}

// TestBatchBoundariesDoNotMatter compares random event streams, cut into
// random batches, with the plain model; events here are never redelivered.
// Memory alone must hold all 8 terms; with storage any cache size works.
func TestBatchBoundariesDoNotMatter(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 40; round++ {
		var s *Store
		if round%2 == 0 {
			s = newStore(t, 8+rng.IntN(10), nil)
		} else {
			client := storagetest.Client(t, storagetest.FileStorage(t, t.TempDir()), component.KindProcessor, procID)
			s = newStore(t, 1+rng.IntN(10), client)
		}
		m := model{}
		var stream []Observation
		at := time.Duration(0)
		for i := 0; i < 300; i++ {
			at += time.Duration(rng.IntN(int(2 * day)))
			skew := -time.Duration(rng.IntN(int(time.Hour))) // a little lateness
			stream = append(stream, obs(fmt.Sprint("u", rng.IntN(8)), at+skew, uint64(i+1)))
		}
		for len(stream) > 0 {
			n := 1 + rng.IntN(min(len(stream), 40))
			batch := stream[:n]
			stream = stream[n:]
			got, alerts := observe(t, s, batch...)
			for i, o := range batch {
				require.Equal(t, m.observe(o), got[i], "round %d", round)
			}
			s.Settle(alerts, true)
		}
	}
}

func TestMemoryBoundedByCacheSize(t *testing.T) {
	s := newStore(t, 50, nil)
	evictions := 0
	for i := 0; i < 100; i++ {
		batch := make([]Observation, 100)
		for j := range batch {
			batch[j] = obs(fmt.Sprint("term", i*100+j), time.Duration(i)*time.Minute, uint64(i*100+j))
		}
		_, st := s.Observe(context.Background(), batch, make([]bool, len(batch)))
		evictions += st.Evictions
		assert.LessOrEqual(t, s.cacheLen(), 50)
	}
	assert.Equal(t, 10000-50, evictions)
}

// Without storage an evicted term is forgotten; with storage it is not.
func TestEvictedTermsComeBackFromStorage(t *testing.T) {
	for _, persistent := range []bool{false, true} {
		var client storage.Client
		if persistent {
			client = storagetest.Client(t, storagetest.FileStorage(t, t.TempDir()), component.KindProcessor, procID)
		}
		s := newStore(t, 2, client)
		observe(t, s, obs("a", 0, 1), obs("b", 0, 2), obs("c", 0, 3))
		got, _ := observe(t, s, obs("a", time.Hour, 4))
		assert.Equal(t, !persistent, got[0], "persistent=%v", persistent)
	}
}

func TestRestartWithFileStorage(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()

	ext := storagetest.FileStorage(t, dir)
	client, err := ext.GetClient(ctx, component.KindProcessor, procID, "")
	require.NoError(t, err)
	s1 := newStore(t, 100, client)
	got, alerts := observe(t, s1, obs("delivered", 0, 1), obs("lost", 0, 2))
	require.Equal(t, []bool{true, true}, got)
	// Only the first alert was confirmed before the "crash".
	s1.Settle(alerts[:1], true)
	s1.Close(ctx)
	require.NoError(t, client.Close(ctx))
	require.NoError(t, ext.Shutdown(ctx))

	ext2 := storagetest.FileStorage(t, dir)
	s2 := newStore(t, 100, storagetest.Client(t, ext2, component.KindProcessor, procID))
	got, _ = observe(t, s2,
		obs("delivered", 0, 1),   // redelivered by the receiver: already alerted
		obs("lost", 0, 2),        // its alert may never have left: alert again
		obs("delivered", day, 3), // new occurrence within the window
		obs("fresh", day, 4),     // never seen
	)
	assert.Equal(t, []bool{false, true, false, true}, got)
}

func TestStorageFaultsDegradeAndRecover(t *testing.T) {
	real := storagetest.Client(t, storagetest.FileStorage(t, t.TempDir()), component.KindProcessor, procID)
	faulty := &storagetest.Faulty{Client: real}
	s := newStore(t, 100, faulty)
	ctx := context.Background()

	faulty.SetFailing(true)
	isNew := make([]bool, 1)
	_, st := s.Observe(ctx, []Observation{obs("x", 0, 1)}, isNew)
	assert.ErrorIs(t, st.StorageErr, storagetest.ErrInjected)
	assert.True(t, isNew[0], "decisions continue from memory")

	faulty.SetFailing(false)
	_, st = s.Observe(ctx, []Observation{obs("y", 0, 2)}, isNew)
	require.NoError(t, st.StorageErr)
	assert.True(t, st.Recovered)
	assert.Equal(t, 2, st.Writes, "the term decided while degraded is written on recovery")

	v, err := real.Get(ctx, storageKeyOf(key("x")))
	require.NoError(t, err)
	assert.NotNil(t, v)

	// A read that fails in a call whose write succeeds: that call reports
	// the failure alone, the next clean one the recovery.
	faulty.FailNextRead()
	_, st = s.Observe(ctx, []Observation{obs("z", 0, 3)}, isNew)
	require.ErrorIs(t, st.StorageErr, storagetest.ErrInjected)
	assert.False(t, st.Recovered, "not in the call that failed")
	_, st = s.Observe(ctx, []Observation{obs("w", 0, 4)}, isNew)
	require.NoError(t, st.StorageErr)
	assert.True(t, st.Recovered, "the next clean call")
}

func TestPruneRemovesTermsOlderThanWindow(t *testing.T) {
	client := storagetest.Client(t, storagetest.FileStorage(t, t.TempDir()), component.KindProcessor, procID)
	require.NoError(t, client.Set(context.Background(), "other-key", []byte("kept")))
	s := newStore(t, 100, client)
	observe(t, s, obs("old", 0, 1), obs("recent", 15*day, 2), obs("now", 20*day, 3))
	removed, err := s.pruneNow(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, removed, "only the term older than now-window")
	for name, want := range map[string]bool{"old": false, "recent": true, "now": true} {
		v, err := client.Get(context.Background(), storageKeyOf(key(name)))
		require.NoError(t, err)
		assert.Equal(t, want, v != nil, name)
	}
	v, _ := client.Get(context.Background(), "other-key")
	assert.Equal(t, []byte("kept"), v)
}

// A sweep keeps a term LateSlack past the window of the newest event time:
// an event that comes late, still within the term's window, finds it,
// whether the sweep ran before it or not.
func TestSweepKeepsTermsForLateEvents(t *testing.T) {
	client := storagetest.Client(t, storagetest.FileStorage(t, t.TempDir()), component.KindProcessor, procID)
	s := newStore(t, 1, client)
	_, alerts := observe(t, s, obs("alice", 0, 1))
	s.Settle(alerts, true)
	_, alerts = observe(t, s, obs("bob", window+10*time.Minute, 2)) // the newest time moves; alice leaves the cache
	s.Settle(alerts, true)
	s.Flush(context.Background())
	removed, err := s.pruneNow(context.Background())
	require.NoError(t, err)
	assert.Zero(t, removed)
	got, _ := observe(t, s, obs("alice", window-5*time.Minute, 3)) // 15 minutes late
	assert.Equal(t, []bool{false}, got, "seen within the window")

	observe(t, s, obs("carol", 2*window+LateSlack, 4)) // alice's latest, the late one, is now a window and the slack old
	removed, err = s.pruneNow(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, removed, "alice, now past the window and the slack")
}

// A term that comes back, is stored and leaves the cache while a sweep
// runs is not deleted by it: the walk found its old state, not its new one.
func TestSweepSparesTermsStoredWhileItRuns(t *testing.T) {
	client := storagetest.Client(t, storagetest.FileStorage(t, t.TempDir()), component.KindProcessor, procID)
	clock := fixedAt()
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	swept := make(chan int, 1)
	s, err := New(Settings{Window: window, CacheSize: 1, Persistent: true, PruneInterval: time.Hour, Now: now,
		OnPrune: func(n int) { swept <- n }})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close(context.Background()) })
	var once sync.Once
	s.SetClient(afterWalk{client, func() {
		once.Do(func() { // k comes back between the walk and its deletes, then leaves the cache of one
			observe(t, s, obs("k", 20*day, 4))
			observe(t, s, obs("w", 20*day, 5))
		})
	}})
	observe(t, s, obs("k", 0, 1), obs("z", 20*day, 2)) // k is 20 days old: expired
	mu.Lock()
	clock = clock.Add(2 * time.Hour) // a sweep is due
	mu.Unlock()
	observe(t, s, obs("y", 20*day, 3)) // and starts
	<-swept
	got, _ := observe(t, s, obs("k", 20*day+time.Hour, 6))
	assert.Equal(t, []bool{false}, got, "k was new an hour before")
}

// afterWalk runs then after each walk of its client.
type afterWalk struct {
	storage.Client
	then func()
}

func (a afterWalk) Walk(ctx context.Context, fn storage.WalkFunc) error {
	err := a.Client.(storage.Walker).Walk(ctx, fn)
	a.then()
	return err
}

// A timestamp far in the future must not move the pruning clock.
func TestFutureTimestampsDoNotPruneEverything(t *testing.T) {
	client := storagetest.Client(t, storagetest.FileStorage(t, t.TempDir()), component.KindProcessor, procID)
	s := newStore(t, 100, client)
	observe(t, s, obs("a", 20*day, 1), obs("bogus", 5000*day, 2))
	removed, err := s.pruneNow(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 0, removed)
}

func TestStateEncoding(t *testing.T) {
	in := State{Latest: 42, AlertAt: 41, AlertEv: 7, Status: StatusDelivered}
	out, err := decode(encode(in))
	require.NoError(t, err)
	assert.Equal(t, in, out)
	in.Status = StatusInFlight
	out, _ = decode(encode(in))
	assert.Equal(t, StatusRetry, out.Status, "in flight when written means unknown after restart")
	_, err = decode([]byte("garbage"))
	assert.Error(t, err)
}

func TestKeyOfIsUnambiguous(t *testing.T) {
	assert.NotEqual(t, KeyOf("f", []string{"ab", "c"}), KeyOf("f", []string{"a", "bc"}))
	assert.NotEqual(t, KeyOf("f", []string{"a"}), KeyOf("g", []string{"a"}))
	assert.Equal(t, KeyOf("f", []string{"a"}), KeyOf("f", []string{"a"}))
}

// A batch waiting on storage holds no lock: another batch answered from
// memory goes through meanwhile, and a concurrent batch's write carries both.
func TestStorageIsReadAndWrittenOutsideTheLock(t *testing.T) {
	faulty := &storagetest.Faulty{Client: storagetest.Client(t, storagetest.FileStorage(t, t.TempDir()), component.KindProcessor, procID)}
	s := newStore(t, 100, faulty)
	observe(t, s, obs("known", 0, 1))

	faulty.Hold()
	slow := make(chan []bool)
	go func() {
		isNew := make([]bool, 1)
		s.Observe(context.Background(), []Observation{obs("unknown", time.Hour, 2)}, isNew)
		slow <- isNew
	}()
	for faulty.CallCount() < 2 { // the slow batch is reading storage
		time.Sleep(time.Millisecond)
	}
	fast := make(chan []bool)
	go func() {
		isNew := make([]bool, 1)
		s.Observe(context.Background(), []Observation{obs("known", 0, 1)}, isNew) // the alerting event again: no change, no write
		fast <- isNew
	}()
	select {
	case got := <-fast:
		assert.Equal(t, []bool{false}, got)
	case <-time.After(5 * time.Second):
		t.Fatal("a batch answered from memory waited for another batch's storage read")
	}
	faulty.Release()
	assert.Equal(t, []bool{true}, <-slow)
}

// Concurrent batches on file storage decide as one sequence would: each
// term new once, and every decision is stored.
func TestConcurrentBatchesOnStorage(t *testing.T) {
	client := storagetest.Client(t, storagetest.FileStorage(t, t.TempDir()), component.KindProcessor, procID)
	s := newStore(t, 5, client)
	var wg sync.WaitGroup
	fresh := make([]int, 8)
	for g := range fresh {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				batch := []Observation{obs(fmt.Sprint("term", i%20), time.Duration(i)*time.Minute, uint64(g*1000+i))}
				isNew := make([]bool, 1)
				_, st := s.Observe(context.Background(), batch, isNew)
				require.NoError(t, st.StorageErr)
				if isNew[0] {
					fresh[g]++
				}
			}
		}()
	}
	wg.Wait()
	total := 0
	for _, n := range fresh {
		total += n
	}
	assert.Equal(t, 20, total, "each of the 20 terms new exactly once across goroutines")
	for i := 0; i < 20; i++ {
		v, err := client.Get(context.Background(), storageKeyOf(key(fmt.Sprint("term", i))))
		require.NoError(t, err)
		assert.NotNil(t, v, "term%d stored", i)
	}
}

// A state kept in memory only because a storage read began before its
// write is not written again by the writes that follow.
func TestStatesAreWrittenOnce(t *testing.T) {
	client := &storagetest.Faulty{Client: storagetest.Client(t, storagetest.FileStorage(t, t.TempDir()), component.KindProcessor, procID)}
	s := newStore(t, 100, client)
	observe(t, s, obs("a", 0, 1), obs("c", 0, 2))

	reading := client.HoldNextRead()
	slow := make(chan struct{})
	go func() {
		defer close(slow)
		s.Observe(context.Background(), []Observation{obs("b", 0, 3)}, make([]bool, 1))
	}()
	<-reading
	before := client.SetsOf(storageKeyOf(key("a")))
	observe(t, s, obs("a", time.Minute, 4)) // a cache hit: written while b's read is in flight
	observe(t, s, obs("c", time.Minute, 5)) // the next write holds c only
	assert.Equal(t, before+1, client.SetsOf(storageKeyOf(key("a"))), "a written once more, not again with c")
	assert.Equal(t, 2, client.SetsOf(storageKeyOf(key("c"))))
	client.Release()
	<-slow
	assert.Equal(t, before+1, client.SetsOf(storageKeyOf(key("a"))), "nor with b")
}

// A batch whose storage read is overtaken (another batch decides and writes
// the term, a third evicts it from the cache) decides from what the others
// did, not from its stale read.
func TestOvertakenReadDoesNotAlertAgain(t *testing.T) {
	client := &storagetest.Faulty{Client: storagetest.Client(t, storagetest.FileStorage(t, t.TempDir()), component.KindProcessor, procID)}
	s := newStore(t, 1, client)
	reading := client.HoldNextRead()
	slow := make(chan []bool)
	go func() {
		isNew := make([]bool, 1)
		s.Observe(context.Background(), []Observation{obs("k", time.Hour, 1)}, isNew)
		slow <- isNew
	}()
	<-reading // k read: not stored yet
	got, _ := observe(t, s, obs("k", 2*time.Hour, 2))
	require.Equal(t, []bool{true}, got)
	observe(t, s, obs("z", 0, 3)) // evicts k from the cache of one
	client.Release()
	assert.Equal(t, []bool{false}, <-slow, "k was new once, an hour later")
}

// While storage cannot be read, the learning end is not known: nothing is
// recorded (two ends could exist), and ok says the state cannot say; once
// storage answers, the earliest proposal is recorded: the matches decided
// meanwhile were recorded too, so the first of them begins learning.
func TestLearningEndWhileStorageFails(t *testing.T) {
	faulty := &storagetest.Faulty{Client: storagetest.Client(t, storagetest.FileStorage(t, t.TempDir()), component.KindProcessor, procID)}
	s := newStore(t, 10, faulty)
	faulty.SetFailing(true)
	_, ok := s.LearningEnd(context.Background(), t0.Add(day))
	assert.False(t, ok, "storage cannot say")
	faulty.SetFailing(false)
	end, ok := s.LearningEnd(context.Background(), t0.Add(2*day))
	require.True(t, ok)
	assert.Equal(t, t0.Add(day), end, "the earliest proposal")
	assertReportedOnce(t, s, "reading the learning end")
}

// assertReportedOnce: the next batch reports a failure met outside one,
// the batch after it the recovery.
func assertReportedOnce(t *testing.T, s *Store, what string) {
	t.Helper()
	isNew := make([]bool, 1)
	_, st := s.Observe(context.Background(), []Observation{obs("reported", 20*day, 100)}, isNew)
	require.ErrorIs(t, st.StorageErr, storagetest.ErrInjected)
	assert.ErrorContains(t, st.StorageErr, what)
	_, st = s.Observe(context.Background(), []Observation{obs("recovered", 20*day, 101)}, isNew)
	require.NoError(t, st.StorageErr)
	assert.True(t, st.Recovered)
}

// TestFailedSweepIsReported: a sweep whose walk fails is reported by the
// next batch, as storage degraded, and the recovery by the one after.
func TestFailedSweepIsReported(t *testing.T) {
	faulty := &storagetest.Faulty{Client: storagetest.Client(t, storagetest.FileStorage(t, t.TempDir()), component.KindProcessor, procID)}
	clock := testclock.At(t0.Add(30 * day))
	s, err := New(Settings{Window: window, CacheSize: 100, Persistent: true, PruneInterval: time.Hour, Now: clock.Now})
	require.NoError(t, err)
	s.SetClient(faulty)
	t.Cleanup(func() { s.Close(context.Background()) })
	observe(t, s, obs("old", 0, 1))
	faulty.FailNextWalk()
	clock.Advance(time.Hour)
	observe(t, s, obs("now", 20*day, 2)) // starts the sweep
	s.sweepDone()
	assertReportedOnce(t, s, "pruning stored terms")
}

// Likewise before storage is attached (a reconnect at start): the first
// match's proposal is the end once it is.
func TestLearningEndBeforeStorageAttaches(t *testing.T) {
	s, err := New(Settings{Window: 10 * day, CacheSize: 10, Persistent: true, PruneInterval: time.Hour, Now: func() time.Time { return t0 }})
	require.NoError(t, err)
	_, ok := s.LearningEnd(context.Background(), t0.Add(day))
	assert.False(t, ok, "not attached: storage cannot say")
	s.SetClient(storagetest.Client(t, storagetest.FileStorage(t, t.TempDir()), component.KindProcessor, procID))
	end, ok := s.LearningEnd(context.Background(), t0.Add(3*day))
	require.True(t, ok)
	assert.Equal(t, t0.Add(day), end)
}

// Close gives up on a sweep that outlasts the shutdown deadline.
func TestCloseDoesNotWaitPastItsDeadline(t *testing.T) {
	faulty := &storagetest.Faulty{Client: storagetest.Client(t, storagetest.FileStorage(t, t.TempDir()), component.KindProcessor, procID)}
	clock := t0.Add(30 * day)
	s, err := New(Settings{Window: window, CacheSize: 10, Persistent: true, PruneInterval: time.Hour, Now: func() time.Time { return clock }})
	require.NoError(t, err)
	s.SetClient(faulty)
	observe(t, s, obs("a", 20*day, 1))
	clock = clock.Add(2 * time.Hour) // a sweep is due
	faulty.Hold()                    // and its walk hangs on a slow disk
	go s.Observe(context.Background(), []Observation{obs("a", 20*day, 1)}, make([]bool, 1))
	for faulty.CallCount() < 3 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	s.Close(ctx)
	assert.Less(t, time.Since(start), 2*time.Second, "the sweep is cancelled, not waited for")
	faulty.Release()
}

// storageKeyOf is where a term's state is stored under the default prefix.
func storageKeyOf(k Key) string { return TermPrefix + hex.EncodeToString(k[:]) }

// A delivery recorded after its term left the cache is still written: a
// copy of the delivered event is not an alert again. (One batch of three
// new terms through a cache of two.)
func TestSettleAfterEviction(t *testing.T) {
	client := storagetest.Client(t, storagetest.FileStorage(t, t.TempDir()), component.KindProcessor, procID)
	s := newStore(t, 2, client)
	got, alerts := observe(t, s, obs("alice", 0, 1), obs("bob", 0, 2), obs("carol", 0, 3))
	require.Equal(t, []bool{true, true, true}, got)
	s.Settle(alerts, true)
	require.NoError(t, s.Flush(context.Background()).StorageErr)
	assert.Empty(t, s.settling, "nothing left waiting")
	got, _ = observe(t, s, obs("alice", 0, 1))
	assert.Equal(t, []bool{false}, got, "a copy of alice's delivered event")

	// Never to be settled: forgotten, it is held no longer.
	got, alerts = observe(t, s, obs("gina", 0, 7), obs("hal", 0, 8), obs("ivy", 0, 9))
	require.Equal(t, []bool{true, true, true}, got)
	require.NotEmpty(t, s.settling)
	s.Forget(alerts)
	assert.Empty(t, s.settling)

	// Refused instead: the copy is raised again.
	got, alerts = observe(t, s, obs("dave", 0, 4), obs("erin", 0, 5), obs("frank", 0, 6))
	require.Equal(t, []bool{true, true, true}, got)
	s.Settle(alerts, false)
	got, _ = observe(t, s, obs("dave", 0, 4))
	assert.Equal(t, []bool{true}, got, "a copy of dave's refused alert")
}

// heldDeletes holds a Batch of deletes until release is closed, once it
// has told entered; writes pass.
type heldDeletes struct {
	storage.Client
	entered, release chan struct{}
}

func (h *heldDeletes) Batch(ctx context.Context, ops ...*storage.Operation) error {
	if len(ops) > 0 && ops[0].Type == storage.Delete {
		close(h.entered)
		<-h.release
	}
	return h.Client.Batch(ctx, ops...)
}

func (h *heldDeletes) Walk(ctx context.Context, fn storage.WalkFunc) error {
	return h.Client.(storage.Walker).Walk(ctx, fn)
}

// sweepHeldAtDelete stores "back" (expired) and "now" on client, and runs
// a sweep whose delete of "back" is held until held.release is closed; the
// count it removed comes on swept.
func sweepHeldAtDelete(t *testing.T, client storage.Client) (*Store, *heldDeletes, chan int) {
	t.Helper()
	held := &heldDeletes{Client: client, entered: make(chan struct{}), release: make(chan struct{})}
	s := newStore(t, 100, held)
	observe(t, s, obs("back", 0, 1), obs("now", 20*day, 2))
	swept := make(chan int)
	go func() {
		n, err := s.pruneNow(context.Background())
		assert.NoError(t, err)
		swept <- n
	}()
	<-held.entered
	return s, held, swept
}

// TestSweepDeleteAfterAWriteIsUndone: a term the sweep chose to delete
// comes back and is written before that delete lands; the delete then
// removes the new state, and the store writes it again with the next batch.
func TestSweepDeleteAfterAWriteIsUndone(t *testing.T) {
	real := storagetest.Client(t, storagetest.FileStorage(t, t.TempDir()), component.KindProcessor, procID)
	s, held, swept := sweepHeldAtDelete(t, real)
	got, _ := observe(t, s, obs("back", 19*day, 3))
	require.Equal(t, []bool{true}, got, "back after the window, and written")
	close(held.release)
	require.Equal(t, 1, <-swept)
	v, err := real.Get(context.Background(), storageKeyOf(key("back")))
	require.NoError(t, err)
	require.Nil(t, v, "the delete landed after the write")

	require.NoError(t, s.Flush(context.Background()).StorageErr)
	v, err = real.Get(context.Background(), storageKeyOf(key("back")))
	require.NoError(t, err)
	assert.NotNil(t, v, "written again")
}

// The same while an older read is still under way, for which the store
// keeps what it wrote since in memory: that record of the write must not
// count the deleted term as stored.
func TestSweepDeleteAfterAWriteIsUndoneDuringARead(t *testing.T) {
	real := storagetest.Client(t, storagetest.FileStorage(t, t.TempDir()), component.KindProcessor, procID)
	faulty := &storagetest.Faulty{Client: real}
	s, held, swept := sweepHeldAtDelete(t, faulty)
	read := faulty.HoldNextRead()
	other := make(chan struct{})
	go func() {
		defer close(other)
		observe(t, s, obs("other", 20*day, 9))
	}()
	<-read // its read has read, and is held
	got, _ := observe(t, s, obs("back", 19*day, 3))
	require.Equal(t, []bool{true}, got)
	close(held.release)
	require.Equal(t, 1, <-swept)
	faulty.Release()
	<-other

	require.NoError(t, s.Flush(context.Background()).StorageErr)
	v, err := real.Get(context.Background(), storageKeyOf(key("back")))
	require.NoError(t, err)
	assert.NotNil(t, v, "written again")
}

// Marks that raise nothing to deliver are recorded delivered when decided:
// written once, nothing waits for Settle, and a copy after a restart is not
// new.
func TestUnalertedTermsAreWrittenOnceAsDelivered(t *testing.T) {
	dir := t.TempDir()
	open := func() (*Store, *storagetest.Faulty) {
		client := &storagetest.Faulty{Client: storagetest.Client(t, storagetest.FileStorage(t, dir), component.KindProcessor, procID)}
		s, err := New(Settings{Window: window, CacheSize: 100, Persistent: true, PruneInterval: time.Hour, Now: fixedAt, Unalerted: true})
		require.NoError(t, err)
		s.SetClient(client)
		return s, client
	}
	s, client := open()
	got, alerts := observe(t, s, obs("a", 0, 1), obs("a", time.Minute, 1))
	assert.Equal(t, []bool{true, false}, got, "the copy in the batch is not new: the first is delivered")
	assert.Empty(t, alerts)
	s.Flush(context.Background())
	assert.Equal(t, 1, client.SetsOf(storageKeyOf(key("a"))))
	s.Close(context.Background())
	require.NoError(t, client.Close(context.Background()))

	s, _ = open()
	t.Cleanup(func() { s.Close(context.Background()) })
	got, _ = observe(t, s, obs("a", time.Hour, 1))
	assert.Equal(t, []bool{false}, got, "read back delivered, not as one to retry")
}
