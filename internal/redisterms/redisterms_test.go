// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package redisterms

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudtrail-detect/ssmsession/internal/firstseen"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/redistest"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/testclock"
)

var (
	ctx    = context.Background()
	t0     = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	day    = 24 * time.Hour
	window = 10 * day
)

// replica is one collector's store on a shared Redis.
func replica(t *testing.T, srv *redistest.Server, now *testclock.Clock) *Store {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = client.Close() })
	s, err := New(Settings{Client: client, Lease: time.Minute, KeyPrefix: "test:", Window: window, Slack: time.Hour,
		Timeout: time.Second, RetryAfter: 5 * time.Second, CacheSize: 1000, Now: now.Now})
	require.NoError(t, err)
	return s
}

func obs(term string, at time.Duration, ev uint64) firstseen.Observation {
	return firstseen.Observation{Key: firstseen.KeyOf("user", []string{term}), Time: t0.Add(at), Event: ev}
}

func observe(t *testing.T, s firstseen.Decider, batch ...firstseen.Observation) ([]bool, []firstseen.Alert, firstseen.Stats) {
	t.Helper()
	isNew := make([]bool, len(batch))
	alerts, st := s.Observe(ctx, batch, isNew)
	return isNew, alerts, st
}

// TestReplicasDecideAsOne: batches of a random stream go to two replicas in
// turn; together they decide exactly as one local store fed the whole
// stream in the same order.
func TestReplicasDecideAsOne(t *testing.T) {
	srv := redistest.Start(t)
	now := testclock.At(t0.Add(40 * day))
	a, b := replica(t, srv, now), replica(t, srv, now)
	local, err := firstseen.New(firstseen.Settings{Window: window, CacheSize: 1000, PruneInterval: time.Hour, Now: now.Now})
	require.NoError(t, err)

	rng := rand.New(rand.NewPCG(3, 4))
	at := time.Duration(0)
	for n := 0; n < 60; n++ {
		batch := make([]firstseen.Observation, 1+rng.IntN(20))
		for i := range batch {
			at += time.Duration(rng.IntN(int(12 * time.Hour)))
			batch[i] = obs(fmt.Sprint("u", rng.IntN(10)), at-time.Duration(rng.IntN(int(time.Hour))), uint64(n*100+i+1))
		}
		want, alerts, _ := observe(t, local, batch...)
		local.Settle(alerts, true)
		r := []*Store{a, b}[n%2]
		got, alerts, st := observe(t, r, batch...)
		require.NoError(t, st.StorageErr)
		require.Equal(t, want, got, "batch %d", n)
		r.Settle(alerts, true)
	}
}

// TestConcurrentReplicasAlertOnce: two replicas, each called from two
// goroutines, take the occurrences of 200 terms in any order: each term is
// new exactly once.
func TestConcurrentReplicasAlertOnce(t *testing.T) {
	srv := redistest.Start(t)
	now := testclock.At(t0.Add(2 * day))
	var all []firstseen.Observation
	for term := 0; term < 200; term++ {
		for k := 0; k < 5; k++ {
			all = append(all, obs(fmt.Sprint("term", term), time.Duration(k)*time.Hour, uint64(term*10+k+1)))
		}
	}
	rand.New(rand.NewPCG(5, 6)).Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	alerted := map[firstseen.Key]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	replicas := []*Store{replica(t, srv, now), replica(t, srv, now)}
	for r := 0; r < 4; r++ { // two goroutines per replica: its round trips overlap
		wg.Add(1)
		go func(s *Store, part []firstseen.Observation) {
			defer wg.Done()
			for i := 0; i < len(part); i += 25 {
				batch := part[i:min(i+25, len(part))]
				isNew := make([]bool, len(batch))
				alerts, st := s.Observe(ctx, batch, isNew)
				assert.NoError(t, st.StorageErr)
				s.Settle(alerts, true)
				mu.Lock()
				for j, n := range isNew {
					if n {
						alerted[batch[j].Key]++
					}
				}
				mu.Unlock()
			}
		}(replicas[r%2], all[r*len(all)/4:(r+1)*len(all)/4])
	}
	wg.Wait()
	require.Len(t, alerted, 200)
	for k, n := range alerted {
		assert.Equal(t, 1, n, "%x", k[:4])
	}
}

// TestDuplicateAndRedelivery: the same event at two replicas alerts once;
// an alert whose delivery failed is raised again wherever the event comes
// back, once the failure is recorded.
func TestDuplicateAndRedelivery(t *testing.T) {
	srv := redistest.Start(t)
	now := testclock.At(t0.Add(2 * day))
	a, b := replica(t, srv, now), replica(t, srv, now)
	got, alerts, _ := observe(t, a, obs("alice", 0, 7))
	require.Equal(t, []bool{true}, got)
	got, _, _ = observe(t, b, obs("alice", 0, 7))
	assert.Equal(t, []bool{false}, got, "CloudTrail's duplicate at the other replica")

	a.Settle(alerts, false) // a's next consumer refused the batch
	a.Close(ctx)            // the mark reaches Redis
	got, alerts, _ = observe(t, b, obs("alice", 0, 7))
	assert.Equal(t, []bool{true}, got, "the redelivered event carries the alert again")
	b.Settle(alerts, true)
	b.Close(ctx)
	got, _, _ = observe(t, a, obs("alice", 0, 7))
	assert.Equal(t, []bool{false}, got)

	// A refusal and the receiver's retry at once: the mark goes to Redis
	// ahead of the retry's decision, in the same round trip.
	got, alerts, _ = observe(t, a, obs("bob", 0, 8))
	require.Equal(t, []bool{true}, got)
	a.Settle(alerts, false)
	got, _, _ = observe(t, a, obs("bob", 0, 8))
	assert.Equal(t, []bool{true}, got, "the retry carries the alert")
}

// A replica that raised an alert and died before its delivery was known
// leaves it in flight in Redis: a copy within the lease is taken for the
// other replica's (not raised), one after it for a lost alert (raised again,
// the same alert), also on the replica started in the dead one's place.
func TestAlertOfAGoneReplica(t *testing.T) {
	srv := redistest.Start(t)
	now := testclock.At(t0.Add(2 * day))
	a, b := replica(t, srv, now), replica(t, srv, now)
	got, alerts, _ := observe(t, a, obs("alice", 0, 7))
	require.Equal(t, []bool{true}, got)
	// a dies here: its alert is never settled.

	now.Advance(time.Minute) // the lease, to the millisecond
	got, _, _ = observe(t, b, obs("alice", 0, 7))
	assert.Equal(t, []bool{false}, got, "within the lease: a's alert, under way")
	now.Advance(time.Millisecond)
	got, again, _ := observe(t, b, obs("alice", 0, 7))
	require.Equal(t, []bool{true}, got, "past the lease: a's alert taken for lost")
	assert.Equal(t, alerts, again, "the same alert")

	restarted := replica(t, srv, now)
	got, _, _ = observe(t, restarted, obs("alice", 0, 7))
	assert.Equal(t, []bool{false}, got, "b raised it again a moment ago")
	now.Advance(time.Minute + time.Millisecond)
	got, third, _ := observe(t, restarted, obs("alice", 0, 7))
	assert.Equal(t, []bool{true}, got, "b died too")
	restarted.Settle(third, true)
	restarted.Close(ctx) // the mark reaches Redis
	c := replica(t, srv, now)
	got, _, _ = observe(t, c, obs("alice", 0, 7))
	assert.Equal(t, []bool{false}, got, "delivered")

	// A value written before alerts in flight carried their time is
	// taken for lost.
	client := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = client.Close() })
	require.NoError(t, client.Set(ctx, a.key(obs("bob", 0, 8).Key), fmt.Sprintf("%d:%d:8:i", t0.UnixMilli(), t0.UnixMilli()), 0).Err())
	got, _, _ = observe(t, c, obs("bob", 0, 8))
	assert.Equal(t, []bool{true}, got)
}

// TestFreshnessSavesRoundTrips: terms Redis confirmed within 1% of the
// window are answered from the cache.
func TestFreshnessSavesRoundTrips(t *testing.T) {
	srv := redistest.Start(t)
	now := testclock.At(t0.Add(2 * day))
	s := replica(t, srv, now)
	_, _, st := observe(t, s, obs("a", 0, 1), obs("b", 0, 2))
	assert.Equal(t, 2, st.Misses)
	_, _, st = observe(t, s, obs("a", time.Hour, 3), obs("b", time.Hour, 4))
	assert.Equal(t, 2, st.Hits, "an hour later: within 1% of 10 days")
	assert.Zero(t, st.Misses)
	_, _, st = observe(t, s, obs("a", 5*time.Hour, 5))
	assert.Equal(t, 1, st.Misses, "five hours later: Redis is asked, and its latest moves")
}

// TestRedisDown: with Redis gone, decisions come from what the replica
// knows; once it is back (empty, scripts forgotten) Redis decides again.
func TestRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	now := testclock.At(t0.Add(2 * day))
	s := replica(t, srv, now)
	observe(t, s, obs("known", 0, 1))

	srv.Stop()
	got, _, st := observe(t, s, obs("known", 2*day, 2), obs("fresh", 2*day, 3), obs("fresh", 2*day+time.Minute, 4))
	require.Error(t, st.StorageErr)
	assert.Equal(t, []bool{false, true, false}, got, "from the replica's own knowledge")
	assert.Equal(t, 3, st.Fallback)
	got, _, st = observe(t, s, obs("other", 2*day, 5))
	assert.Equal(t, []bool{true}, got)
	assert.NoError(t, st.StorageErr, "not retried before RetryAfter")
	assert.Equal(t, 1, st.Fallback)

	srv.Restart()
	_, ok := s.LearningEnd(ctx, time.Time{})
	assert.False(t, ok, "the learning end is not asked of Redis before RetryAfter either")
	now.Advance(5 * time.Second)
	got, _, st = observe(t, s, obs("later", 3*day, 6))
	require.NoError(t, st.StorageErr)
	assert.True(t, st.Recovered)
	assert.Equal(t, []bool{true}, got)
	_, ok = s.LearningEnd(ctx, time.Time{})
	assert.True(t, ok, "and is once Redis answers again")
}

func TestKeysExpireWithTheWindow(t *testing.T) {
	srv := redistest.Start(t)
	now := testclock.At(t0.Add(2 * day))
	s := replica(t, srv, now)
	observe(t, s, obs("alice", 0, 1))
	client := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer client.Close()
	ttl, err := client.PTTL(ctx, s.key(obs("alice", 0, 1).Key)).Result()
	require.NoError(t, err)
	assert.InDelta(t, (window + time.Hour).Seconds(), ttl.Seconds(), 5)
}

// A Cluster master without the scripts (restarted, or a replica just
// promoted: scripts are not replicated) refuses its share of a batch; the
// scripts are loaded and only that share is sent again. Every new term of
// the batch is new once: a decision that ran is not run a second time,
// where it would meet its own alert.
func TestScriptsMissingOnOneNode(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0)
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Seeds(), MaxRetries: -1, MaxRedirects: -1})
	t.Cleanup(func() { _ = client.Close() })
	now := testclock.At(t0.Add(2 * day))
	s, err := New(Settings{Client: client, Lease: time.Minute, KeyPrefix: "test:", Window: window, Slack: time.Hour,
		Timeout: 5 * time.Second, RetryAfter: 5 * time.Second, CacheSize: 1000, Now: now.Now})
	require.NoError(t, err)
	_, _, st := observe(t, s, obs("warm", 0, 1)) // the scripts are loaded
	require.NoError(t, st.StorageErr)
	node := redis.NewClient(&redis.Options{Addr: cl.Seeds()[0]})
	t.Cleanup(func() { _ = node.Close() })
	require.NoError(t, node.ScriptFlush(ctx).Err())

	batch := make([]firstseen.Observation, 30) // spread over the three masters' slots
	for i := range batch {
		batch[i] = obs(fmt.Sprint("user-", i), time.Hour, uint64(100+i))
	}
	got, _, st := observe(t, s, batch...)
	require.NoError(t, st.StorageErr)
	for i, isNew := range got {
		assert.True(t, isNew, "user-%d", i)
	}
}

// TestRedisLostItsData: Redis restarts empty (no persistence). A replica
// that still knows a term puts it back with its next decision, so neither
// it nor a replica with an empty cache alerts the term again.
func TestRedisLostItsData(t *testing.T) {
	srv := redistest.Start(t)
	now := testclock.At(t0.Add(2 * day))
	a := replica(t, srv, now)
	observe(t, a, obs("alice", 0, 1))

	srv.Stop()
	srv.Restart()
	now.Advance(5 * time.Second) // a's broken connection may put it in fallback first
	for range 2 {
		got, _, _ := observe(t, a, obs("alice", day, 2))
		if assert.Equal(t, []bool{false}, got) {
			break
		}
	}
	now.Advance(5 * time.Second)
	got, _, st := observe(t, a, obs("alice", 2*day, 3))
	require.NoError(t, st.StorageErr)
	assert.Equal(t, []bool{false}, got, "decided in Redis, which knows alice again")

	b := replica(t, srv, now)
	got, _, st = observe(t, b, obs("alice", 2*day+time.Minute, 4))
	require.NoError(t, st.StorageErr)
	assert.Equal(t, []bool{false}, got, "a replica that never saw alice")
}

// The learning end outlives a loss of Redis's data too: the replicas that
// know it put it back with their next round trip, so a replica started
// after the loss does not begin another learning period.
func TestRedisLostTheLearningEnd(t *testing.T) {
	srv := redistest.Start(t)
	now := testclock.At(t0.Add(2 * day))
	a := replica(t, srv, now)
	end, ok := a.LearningEnd(ctx, t0.Add(day))
	require.True(t, ok)
	require.Equal(t, t0.Add(day), end)

	srv.Stop()
	srv.Restart()
	now.Advance(5 * time.Second)
	for range 2 { // a's broken connection may fail the first
		if _, _, st := observe(t, a, obs("alice", 0, 1)); st.StorageErr == nil {
			break
		}
		now.Advance(5 * time.Second)
	}
	end, ok = replica(t, srv, now).LearningEnd(ctx, t0.Add(3*day))
	require.True(t, ok)
	assert.Equal(t, t0.Add(day), end, "the first end, not the newcomer's")
}

// TestOutageKnowledgeReachesRedis: occurrences a replica decided alone
// while Redis was unreachable move the term's latest time in Redis once it
// is back, so the window runs from them.
func TestOutageKnowledgeReachesRedis(t *testing.T) {
	srv := redistest.Start(t)
	now := testclock.At(t0.Add(2 * day))
	a := replica(t, srv, now)
	observe(t, a, obs("alice", 0, 1))

	srv.Stop()
	got, _, st := observe(t, a, obs("alice", 8*day, 2))
	require.Error(t, st.StorageErr)
	assert.Equal(t, []bool{false}, got)
	srv.Restart() // empty; a alone knows alice was seen on day 8
	now.Advance(5 * time.Second)
	got, _, st = observe(t, a, obs("alice", 9*day, 3))
	require.NoError(t, st.StorageErr)
	require.Equal(t, []bool{false}, got)

	b := replica(t, srv, now)
	got, _, _ = observe(t, b, obs("alice", 17*day, 4))
	assert.Equal(t, []bool{false}, got, "within 10 days of day 9, though 17 days after Redis first saw alice")
}

// TestFallbackRedeliversFailedAlerts: while Redis is down, an alert whose
// batch was refused is raised again when the batch comes back.
func TestFallbackRedeliversFailedAlerts(t *testing.T) {
	srv := redistest.Start(t)
	now := testclock.At(t0.Add(2 * day))
	s := replica(t, srv, now)
	srv.Stop()
	got, alerts, _ := observe(t, s, obs("bob", 0, 7))
	require.Equal(t, []bool{true}, got)
	s.Settle(alerts, false)
	got, alerts, _ = observe(t, s, obs("bob", 0, 7))
	assert.Equal(t, []bool{true}, got, "the refused alert, raised again")
	s.Settle(alerts, true)
	got, _, _ = observe(t, s, obs("bob", 0, 7))
	assert.Equal(t, []bool{false}, got, "delivered: a further copy is not an alert")
}

// TestRedisSlow: a Redis that stops answering costs one timeout per retry
// interval, not one per batch; its data is intact when it answers again.
func TestRedisSlow(t *testing.T) {
	srv := redistest.Start(t)
	now := testclock.At(t0.Add(2 * day))
	s := replica(t, srv, now)
	observe(t, s, obs("alice", 0, 1))

	srv.Pause()
	begin := time.Now()
	got, _, st := observe(t, s, obs("carol", day, 2))
	var timeout net.Error
	require.ErrorAs(t, st.StorageErr, &timeout)
	assert.True(t, timeout.Timeout(), "%v", st.StorageErr)
	assert.Less(t, time.Since(begin), 3*time.Second, "the batch timeout (1s) bounds the wait")
	assert.Equal(t, []bool{true}, got)
	got, _, st = observe(t, s, obs("carol", day+time.Minute, 3))
	assert.NoError(t, st.StorageErr, "no second wait within the retry interval")
	assert.Equal(t, []bool{false}, got)

	srv.Resume()
	now.Advance(5 * time.Second)
	b := replica(t, srv, now)
	got, _, st = observe(t, b, obs("alice", 3*day, 4))
	require.NoError(t, st.StorageErr)
	assert.Equal(t, []bool{false}, got, "alice, stored before the pause, is still known")
}

// aliceDeliveredBeforeOutage is a replica whose alert of alice on day 0
// was delivered, and an outage hook on its client, not down yet.
func aliceDeliveredBeforeOutage(t *testing.T) (*redistest.Server, *testclock.Clock, *Store, *redistest.Outage) {
	srv := redistest.Start(t)
	now := testclock.At(t0.Add(20 * day))
	s := replica(t, srv, now)
	outage := &redistest.Outage{}
	s.set.Client.AddHook(outage)
	got, alerts, _ := observe(t, s, obs("alice", 0, 1))
	require.Equal(t, []bool{true}, got)
	s.Settle(alerts, true)
	return srv, now, s, outage
}

// TestOutageAlertRaisedAgain: an alert a replica raised from its own state
// while Redis did not answer, and whose delivery failed, is raised again
// when its event comes back after Redis does, though Redis holds an older
// alert of the term, delivered.
func TestOutageAlertRaisedAgain(t *testing.T) {
	srv, now, s, outage := aliceDeliveredBeforeOutage(t)

	outage.Down.Store(true)
	got, alerts, st := observe(t, s, obs("alice", 12*day, 2))
	require.Error(t, st.StorageErr)
	require.Equal(t, []bool{true}, got, "decided alone: twelve days after the last")
	s.Settle(alerts, false) // the next consumer refused the batch

	outage.Down.Store(false)
	now.Advance(5 * time.Second)
	got, alerts, st = observe(t, s, obs("alice", 12*day, 2))
	require.NoError(t, st.StorageErr)
	assert.Equal(t, []bool{true}, got, "its only alert was not delivered: raised again")
	s.Settle(alerts, true)
	got, _, _ = observe(t, replica(t, srv, now), obs("alice", 12*day, 2))
	assert.Equal(t, []bool{false}, got, "delivered now, for every replica")
}

// aliceAlertedAloneThenSeenInRedis is aliceDeliveredBeforeOutage, then
// alice alerted alone in an outage (event 2, day 12), settled before Redis
// is back when delivered is set, and, Redis back, a later occurrence of
// hers (event 3) decided there. It returns the outage's alert.
func aliceAlertedAloneThenSeenInRedis(t *testing.T, delivered *bool) (*redistest.Server, *testclock.Clock, *Store, []firstseen.Alert) {
	t.Helper()
	srv, now, s, outage := aliceDeliveredBeforeOutage(t)
	outage.Down.Store(true)
	got, alone, _ := observe(t, s, obs("alice", 12*day, 2))
	require.Equal(t, []bool{true}, got, "decided alone")
	if delivered != nil {
		s.Settle(alone, *delivered)
	}
	outage.Down.Store(false)
	now.Advance(5 * time.Second)
	got, _, st := observe(t, s, obs("alice", 12*day+5*time.Hour, 3))
	require.NoError(t, st.StorageErr)
	require.Equal(t, []bool{false}, got)
	return srv, now, s, alone
}

// TestOutageAlertInFlightMergedInFlight: an alert raised alone during an
// outage and still being delivered when a later occurrence reaches Redis is
// merged as in flight, so its refusal, when it comes, is recorded there.
func TestOutageAlertInFlightMergedInFlight(t *testing.T) {
	_, _, s, inFlight := aliceAlertedAloneThenSeenInRedis(t, nil)
	s.Settle(inFlight, false) // the next consumer refused event 2's batch
	got, _, _ := observe(t, s, obs("alice", 12*day, 2))
	assert.Equal(t, []bool{true}, got, "the refused alert, raised again")
}

// TestCacheBounded: the local cache holds cache_size terms and counts what
// it evicts; evicted terms are still known, in Redis.
func TestCacheBounded(t *testing.T) {
	srv := redistest.Start(t)
	now := testclock.At(t0.Add(2 * day))
	client := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = client.Close() })
	s, err := New(Settings{Client: client, Lease: time.Minute, Window: window, Timeout: time.Second, CacheSize: 2, Now: now.Now})
	require.NoError(t, err)
	_, _, st := observe(t, s, obs("a", 0, 1), obs("b", 0, 2), obs("c", 0, 3))
	assert.Equal(t, 1, st.Evictions)
	assert.Equal(t, 2, s.cache.Len())
	got, _, _ := observe(t, s, obs("a", time.Minute, 4))
	assert.Equal(t, []bool{false}, got)
}

// TestFreshnessBound pins the approximation README.md documents: an
// occurrence answered from the cache does not move Redis's latest time, so
// another replica may alert the term up to 1% of the window early.
func TestFreshnessBound(t *testing.T) {
	srv := redistest.Start(t)
	now := testclock.At(t0.Add(30 * day))
	a, b := replica(t, srv, now), replica(t, srv, now)
	observe(t, a, obs("alice", 0, 1))
	_, _, st := observe(t, a, obs("alice", 2*time.Hour, 2))
	require.Equal(t, 1, st.Hits, "within 2.4 h: answered by a's cache, Redis still says hour 0")

	got, _, _ := observe(t, b, obs("alice", window+time.Hour, 3))
	assert.Equal(t, []bool{true}, got, "a window after hour 0 but not after hour 2: alerted early")
	got, _, _ = observe(t, b, obs("carol", 0, 4), obs("carol", 5*time.Hour, 5), obs("carol", window+time.Hour, 6))
	assert.Equal(t, []bool{true, false, false}, got, "beyond the freshness Redis is asked and its latest moves: exact")
}

// TestDecideMirrorsGo runs one table of cases through the rule's Go writing
// (firstseen.Decide, which the local store and this backend's fallback use)
// and through decide.lua in a real redis-server: the same answers.
func TestDecideMirrorsGo(t *testing.T) {
	srv := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = client.Close() })
	const w = int64(10 * 24 * 3600 * 1000) // the window, ms
	stored := firstseen.State{Latest: 5 * w, AlertAt: 4 * w, AlertEv: 0xa1, Status: firstseen.StatusDelivered}
	retry, inFlight := stored, stored
	retry.Status, inFlight.Status = firstseen.StatusRetry, firstseen.StatusInFlight
	now := t0
	const lease = 60_000 // ms
	// lost is an alert in flight for longer than the lease: decided as a
	// failed one (firstseen.Decide's retry), its replica taken for gone.
	lost := inFlight
	// Each case's answer is written out too (new; the latest time and the
	// alert time after it), so that one mistake made in both writings
	// does not pass.
	for name, tc := range map[string]struct {
		prior      *firstseen.State
		t          int64
		ev         uint64
		new        bool
		latest, at int64
	}{
		"the alerting event, in flight past the lease": {&lost, 4 * w, 0xa1, true, 5 * w, 4 * w},
		"in flight past the lease, another event":      {&lost, 5*w + 1, 0xc3, false, 5*w + 1, 4 * w},
		"unknown term":                     {nil, 5 * w, 0xb2, true, 5 * w, 5 * w},
		"within the window":                {&stored, 5*w + w/2, 0xb2, false, 5*w + w/2, 4 * w},
		"exactly the window after":         {&stored, 6 * w, 0xb2, false, 6 * w, 4 * w},
		"past the window":                  {&stored, 6*w + 1, 0xb2, true, 6*w + 1, 6*w + 1},
		"late, older than the latest":      {&stored, 3 * w, 0xb2, false, 5 * w, 4 * w},
		"the alerting event again":         {&stored, 4 * w, 0xa1, false, 5 * w, 4 * w},
		"the alerting event, in flight":    {&inFlight, 4 * w, 0xa1, false, 5 * w, 4 * w},
		"the alerting event, failed":       {&retry, 4 * w, 0xa1, true, 5 * w, 4 * w},
		"same time, another event":         {&stored, 4 * w, 0xa2, false, 5 * w, 4 * w},
		"the alerting event, another time": {&stored, 4*w + 7, 0xa1, false, 5 * w, 4 * w},
		"the failed alert, another time":   {&retry, 5 * w, 0xa1, true, 5 * w, 5 * w},
		"retry state, another event later": {&retry, 5*w + 1, 0xc3, false, 5*w + 1, 4 * w},
	} {
		var prior firstseen.State
		if tc.prior != nil {
			prior = *tc.prior
		}
		goPrior := prior
		if tc.prior == &lost {
			goPrior.Status = firstseen.StatusRetry
		}
		want, wantNew, _ := firstseen.Decide(goPrior, tc.prior != nil, tc.t, tc.ev, w, false)
		assert.Equal(t, [3]any{tc.new, tc.latest, tc.at}, [3]any{wantNew, want.Latest, want.AlertAt}, "%s: Go's answer", name)

		key := "mirror:" + name
		if tc.prior != nil {
			status := map[firstseen.Status]string{firstseen.StatusInFlight: "i", firstseen.StatusDelivered: "d", firstseen.StatusRetry: "r"}[prior.Status]
			switch {
			case tc.prior == &lost:
				status += fmt.Sprint(":", now.Add(-2*lease*time.Millisecond).UnixMilli())
			case prior.Status == firstseen.StatusInFlight:
				status += fmt.Sprint(":", now.UnixMilli())
			}
			require.NoError(t, client.Set(ctx, key, fmt.Sprintf("%d:%d:%x:%s", prior.Latest, prior.AlertAt, prior.AlertEv, status), 0).Err())
		}
		res, err := decide.Run(ctx, client, []string{key}, tc.t, strconv.FormatUint(tc.ev, 16), w, w, 0, 0, "0", "d", lease, now.UnixMilli()).Slice()
		require.NoError(t, err, name)
		gotNew, latest, at := res[0].(int64) == 1, res[1].(int64), res[2].(int64)
		ev, err := strconv.ParseUint(res[3].(string), 16, 64)
		require.NoError(t, err)
		assert.Equal(t, wantNew, gotNew, "%s: new", name)
		assert.Equal(t, want.Latest, latest, "%s: latest", name)
		assert.Equal(t, want.AlertAt, at, "%s: alert time", name)
		assert.Equal(t, want.AlertEv, ev, "%s: alert event", name)
	}
}

// TestSettleMirrorsGo: settle.lua moves an alert's status as
// firstseen.Settled does, for every status and outcome, as written out: a
// delivered alert stays delivered.
func TestSettleMirrorsGo(t *testing.T) {
	srv := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = client.Close() })
	letter := map[firstseen.Status]string{firstseen.StatusInFlight: "i", firstseen.StatusDelivered: "d", firstseen.StatusRetry: "r"}
	for status, l := range letter {
		for _, delivered := range []bool{true, false} {
			key := fmt.Sprintf("settle:%s:%v", l, delivered)
			v := "50:40:a1:" + l
			if status == firstseen.StatusInFlight {
				v += ":1764000000000" // when it was raised
			}
			require.NoError(t, client.Set(ctx, key, v, 0).Err())
			outcome := map[bool]string{true: "d", false: "r"}[delivered]
			require.NoError(t, settle.Run(ctx, client, []string{key}, 40, "a1", outcome).Err())
			v, err := client.Get(ctx, key).Result()
			require.NoError(t, err)
			want := map[string]string{"i:true": "d", "i:false": "r", "d:true": "d", "d:false": "d", "r:true": "d", "r:false": "r"}[fmt.Sprint(l, ":", delivered)]
			assert.Equal(t, want, letter[firstseen.Settled(status, delivered)], "%s, delivered %v: Go's answer", l, delivered)
			assert.Equal(t, "50:40:a1:"+want, v, "%s, delivered %v", l, delivered)
		}
	}
}

// clusterReplicas are two replicas' stores on cl, each with a client of
// its own, a round trip bounded by timeout, and one term decided (warm-0,
// warm-1).
func clusterReplicas(t *testing.T, cl *redistest.Cluster, now *testclock.Clock, timeout time.Duration) []*Store {
	t.Helper()
	replicas := make([]*Store, 2)
	for r := range replicas {
		client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Seeds(), MaxRetries: -1, MaxRedirects: -1,
			DialTimeout: 200 * time.Millisecond, ContextTimeoutEnabled: true})
		t.Cleanup(func() { _ = client.Close() })
		s, err := New(Settings{Client: client, Lease: time.Minute, KeyPrefix: "test:", Window: window, Slack: time.Hour,
			Timeout: timeout, RetryAfter: 5 * time.Second, CacheSize: 1000, Now: now.Now})
		require.NoError(t, err)
		_, _, st := observe(t, s, obs(fmt.Sprint("warm-", r), 0, uint64(r+1)))
		require.NoError(t, st.StorageErr)
		replicas[r] = s
	}
	return replicas
}

// A Cluster master down fails only its share: the terms whose keys the
// other masters serve are still decided in Redis (while they serve: with
// partial coverage allowed, or until the cluster marks the master failed),
// new once between two replicas; the dead master's are decided by each
// replica alone, and it is left alone (not asked, no error) until
// retry_interval has passed. Killed, it refuses connections at once;
// paused, as a host gone away, it eats the round trip's timeout, and the
// masters that must be given the scripts still get them.
func TestClusterMasterDownFailsItsShareOnly(t *testing.T) {
	for _, mode := range []string{"killed", "paused"} {
		t.Run(mode, func(t *testing.T) {
			cl := redistest.StartCluster(t, 3, 0, redistest.PartialCoverage...)
			now := testclock.At(t0.Add(2 * day))
			replicas := clusterReplicas(t, cl, now, 500*time.Millisecond) // the scripts on one master each
			warm := replicas[0].key(obs("warm-0", 0, 1).Key)
			if mode == "killed" {
				cl.KillMaster(warm)
			} else {
				cl.PauseMaster(warm)
			}

			batch := make([]firstseen.Observation, 30)
			dead := map[int]bool{}
			for i := range batch {
				batch[i] = obs(fmt.Sprint("user-", i), time.Hour, uint64(100+i))
				dead[i] = cl.Down(replicas[0].key(batch[i].Key))
			}
			alerted := make([]int, len(batch))
			for r, s := range replicas {
				got, _, st := observe(t, s, batch...)
				assert.Error(t, st.StorageErr, "replica %d meets the dead master", r)
				fallback := 0
				for i, isNew := range got {
					if dead[i] {
						fallback++
					}
					if isNew {
						alerted[i]++
					}
				}
				assert.Equal(t, fallback, st.Fallback, "replica %d: only the dead master's share decided alone", r)
			}
			deadKeys := 0
			for i, n := range alerted {
				if dead[i] {
					deadKeys++
					assert.Equal(t, 2, n, "user-%d, on the dead master: new on each replica", i)
				} else {
					assert.Equal(t, 1, n, "user-%d, on a live master: new once between the replicas", i)
				}
			}
			require.Positive(t, deadKeys, "some keys on the dead master")
			require.Less(t, deadKeys, len(batch), "some on the live ones")

			later := make([]firstseen.Observation, len(batch))
			for i := range later {
				later[i] = obs(fmt.Sprint("other-", i), 2*time.Hour, uint64(200+i))
			}
			_, _, st := observe(t, replicas[0], later...)
			assert.NoError(t, st.StorageErr, "the dead master is not asked again within retry_interval")
			// Each retry asks the dead master again, and only its share
			// falls back: re-reading the slot map (from any node, maybe
			// the dead one) does not take the round trip's time.
			for round := range 4 {
				now.Advance(5 * time.Second)
				deadN := 0
				for i := range later {
					later[i] = obs(fmt.Sprint("round-", round, "-", i), time.Duration(3+round)*time.Hour, uint64(1000*(round+1)+i))
					if cl.Down(replicas[0].key(later[i].Key)) {
						deadN++
					}
				}
				_, _, st = observe(t, replicas[0], later...)
				assert.Error(t, st.StorageErr, "round %d: after retry_interval the dead master is asked again", round)
				assert.Equal(t, deadN, st.Fallback, "round %d: only the dead master's share decided alone", round)
			}
		})
	}
}

// A node that has the decide script and not settle (settle.lua changed in
// a rolling upgrade, or the scripts flushed and one loaded again) refuses
// a mark sent before the decision of the same term in the same round
// trip: the decision, which ran without the mark, is not taken; the local
// cache, which knows of the refusal, decides, and the retried alert is
// raised again.
func TestMarkRefusedWhereItsDecisionRan(t *testing.T) {
	for _, when := range []string{"from the start", "after a flush"} {
		t.Run(when, func(t *testing.T) {
			srv := redistest.Start(t)
			now := testclock.At(t0.Add(2 * day))
			raw := redis.NewClient(&redis.Options{Addr: srv.Addr})
			t.Cleanup(func() { _ = raw.Close() })
			if when == "from the start" {
				require.NoError(t, raw.ScriptLoad(ctx, decideScript).Err())
			}
			a := replica(t, srv, now)
			got, alerts, _ := observe(t, a, obs("bob", 0, 8))
			require.Equal(t, []bool{true}, got)
			if when == "after a flush" {
				require.NoError(t, raw.ScriptFlush(ctx).Err())
				require.NoError(t, raw.ScriptLoad(ctx, decideScript).Err())
			}
			a.Settle(alerts, false) // the next consumer refused the batch
			got, _, _ = observe(t, a, obs("bob", 0, 8))
			assert.Equal(t, []bool{true}, got, "the retry carries the alert")
		})
	}
}

// A term whose slot is moving (ASK) or has moved (MOVED) to another master
// is decided there, once, by two replicas whose slot maps are out of date:
// new for the first, known for the second, with no fallback.
func TestRedirectedDecisions(t *testing.T) {
	for _, done := range []bool{false, true} {
		name := map[bool]string{false: "moving (ASK)", true: "moved (MOVED)"}[done]
		t.Run(name, func(t *testing.T) {
			cl := redistest.StartCluster(t, 3, 0)
			now := testclock.At(t0.Add(2 * day))
			replicas := clusterReplicas(t, cl, now, time.Second) // their slot maps read
			cl.MigrateSlot(replicas[0].key(obs("carol", 0, 10).Key), "", done)
			for r, s := range replicas {
				got, _, st := observe(t, s, obs("carol", time.Duration(r)*time.Minute, uint64(10+r)))
				require.NoError(t, st.StorageErr, "replica %d", r)
				assert.Zero(t, st.Fallback, "replica %d: decided in Redis", r)
				assert.Equal(t, []bool{r == 0}, got, "replica %d: new once between the two", r)
			}
		})
	}
}

// An ASK to a master that serves no slot yet (added for a scale-out, the
// first slot moving onto it) is not followed: the slot map does not list
// it. The term is decided locally, and the source, which answered, is not
// left alone: the other terms it serves are still decided in Redis.
func TestAskToAnEmptyMaster(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0)
	now := testclock.At(t0.Add(2 * day))
	s := clusterReplicas(t, cl, now, time.Second)[0]
	empty := cl.AddMaster()
	carol := s.key(obs("carol", 0, 10).Key)
	from, _ := cl.MigrateSlot(carol, empty, false)
	got, _, st := observe(t, s, obs("carol", 0, 10))
	assert.NoError(t, st.StorageErr, "no node failed")
	assert.Equal(t, 1, st.Fallback, "decided locally")
	assert.Equal(t, []bool{true}, got)
	assert.False(t, s.set.Backoff.Down(from), "the source answered")
}
