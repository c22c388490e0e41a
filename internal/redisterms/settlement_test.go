// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package redisterms

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/redistest"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/testclock"
)

// TestRefusalOutlivesALaterDecision: a refused alert stays refused in the
// cache when Redis then decides another event of its term, so that while
// Redis is unreachable its redelivery is alerted again.
func TestRefusalOutlivesALaterDecision(t *testing.T) {
	srv := redistest.Start(t)
	s := replica(t, srv, testclock.At(t0.Add(2*day)))
	outage := &redistest.Outage{}
	s.set.Client.AddHook(outage)

	got, alerts, _ := observe(t, s, obs("bob", 0, 7))
	require.Equal(t, []bool{true}, got)
	s.Settle(alerts, false)
	got, _, st := observe(t, s, obs("bob", day, 8)) // decided in Redis, with the refusal's mark
	require.NoError(t, st.StorageErr)
	require.Equal(t, []bool{false}, got)

	outage.Down.Store(true)
	got, _, st = observe(t, s, obs("bob", 0, 7))
	require.Error(t, st.StorageErr)
	assert.Equal(t, []bool{true}, got, "the refused alert, raised again from the cache")
}

// holdFirst holds the first pipeline sent once armed until released.
type holdFirst struct {
	armed            chan struct{}
	entered, release chan struct{}
}

func newHoldFirst() *holdFirst {
	return &holdFirst{armed: make(chan struct{}, 1), entered: make(chan struct{}), release: make(chan struct{})}
}

func (h *holdFirst) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *holdFirst) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *holdFirst) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		select {
		case <-h.armed:
			close(h.entered)
			<-h.release
		default:
		}
		return next(ctx, cmds)
	}
}

// TestRetryOvertakesItsRefusalMark: the receiver's retry of a refused
// batch is decided on another connection before the round trip that
// carries the refusal's mark reaches Redis; it is alerted all the same
// (the replica says what it settled), and a copy after it carries it.
func TestRetryOvertakesItsRefusalMark(t *testing.T) {
	srv := redistest.Start(t)
	s := replica(t, srv, testclock.At(t0.Add(2*day)))
	hold := newHoldFirst()
	s.set.Client.AddHook(hold)

	got, alerts, _ := observe(t, s, obs("bob", 0, 7))
	require.Equal(t, []bool{true}, got)
	s.Settle(alerts, false)

	hold.armed <- struct{}{}
	var wg sync.WaitGroup
	wg.Go(func() { observe(t, s, obs("carol", day, 9)) }) // takes the refusal's mark, and is held
	<-hold.entered
	got, retried, st := observe(t, s, obs("bob", 0, 7))
	close(hold.release)
	wg.Wait()
	require.NoError(t, st.StorageErr)
	assert.Equal(t, []bool{true}, got, "the retry, alerted")
	s.Settle(retried, true)
	got, _, _ = observe(t, s, obs("bob", 0, 7))
	assert.Equal(t, []bool{false}, got, "delivered by the retry: a further copy is not an alert")
}

// holdAfter holds the first pipeline sent once armed after Redis ran it,
// before its answers are read, until released.
type holdAfter struct{ holdFirst }

func newHoldAfter() *holdAfter { return &holdAfter{*newHoldFirst()} }

func (h *holdAfter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		select {
		case <-h.armed:
			close(h.entered)
			<-h.release
		default:
		}
		return err
	}
}

// TestAnAnswerOlderThanTheRefusal: an answer Redis gave before a refusal's
// mark reached it, applied after, does not undo the refusal in the cache:
// the retry during an outage is alerted again.
func TestAnAnswerOlderThanTheRefusal(t *testing.T) {
	srv := redistest.Start(t)
	s := replica(t, srv, testclock.At(t0.Add(2*day)))
	hold := newHoldAfter()
	outage := &redistest.Outage{}
	s.set.Client.AddHook(hold)
	s.set.Client.AddHook(outage)

	got, alerts, _ := observe(t, s, obs("bob", 0, 7))
	require.Equal(t, []bool{true}, got)
	hold.armed <- struct{}{}
	var wg sync.WaitGroup
	wg.Go(func() { observe(t, s, obs("bob", day, 8)) }) // run in Redis, its answer held
	<-hold.entered
	s.Settle(alerts, false)
	_, _, st := observe(t, s, obs("carol", day, 9)) // carries the refusal's mark
	require.NoError(t, st.StorageErr)
	close(hold.release)
	wg.Wait()

	outage.Down.Store(true)
	got, _, st = observe(t, s, obs("bob", 0, 7))
	require.Error(t, st.StorageErr)
	assert.Equal(t, []bool{true}, got, "the refused alert, raised again")
	assert.Empty(t, s.marking, "settled outcomes are forgotten once no answer under way predates them")
}

// TestRetryOvertakesItsMarkAfterEviction: the refused alert's term left the
// cache while its mark is under way; its retry, overtaking the mark, is
// alerted all the same.
func TestRetryOvertakesItsMarkAfterEviction(t *testing.T) {
	srv := redistest.Start(t)
	now := testclock.At(t0.Add(2 * day))
	client := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })
	s, err := New(Settings{Client: client, Lease: time.Minute, Window: window, Timeout: 5 * time.Second,
		RetryAfter: 5 * time.Second, CacheSize: 2, Now: now.Now})
	require.NoError(t, err)
	hold := newHoldFirst()
	client.AddHook(hold)

	got, alerts, _ := observe(t, s, obs("bob", 0, 7))
	require.Equal(t, []bool{true}, got)
	s.Settle(alerts, false)
	hold.armed <- struct{}{}
	var wg sync.WaitGroup
	wg.Go(func() { observe(t, s, obs("carol", day, 9)) }) // takes the refusal's mark, held
	<-hold.entered
	observe(t, s, obs("dave", day, 10), obs("erin", day, 11))
	_, cached := s.cache.Peek(obs("bob", 0, 7).Key)
	require.False(t, cached, "bob left the cache")
	got, _, st := observe(t, s, obs("bob", 0, 7))
	close(hold.release)
	wg.Wait()
	require.NoError(t, st.StorageErr)
	assert.Equal(t, []bool{true}, got, "the retry of the refused alert")
}

// TestDecideMergesTheReplicasSettlement: for the alert Redis holds,
// decide.lua takes in the outcome the asking replica settled and Redis may
// not have yet, as firstseen.Settled has it, and answers with the status
// that stands ("": the replica has no such outcome).
func TestDecideMergesTheReplicasSettlement(t *testing.T) {
	srv := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = client.Close() })
	const w, lease = int64(10 * 24 * 3600 * 1000), 60_000
	now := t0.UnixMilli()
	// Redis's status, the replica's outcome: the one that stands, written out.
	for pair, want := range map[[2]string]string{
		{"i", ""}: "i", {"i", "d"}: "d", {"i", "r"}: "r",
		{"d", ""}: "d", {"d", "d"}: "d", {"d", "r"}: "d",
		{"r", ""}: "r", {"r", "d"}: "d", {"r", "r"}: "r",
	} {
		assert.Equal(t, want, letter(settledBy(statusOf[pair[0]], statusOf[pair[1]])), "%v: Go's answer", pair)
		key := "merge:" + pair[0] + pair[1]
		v := fmt.Sprintf("%d:%d:a1:%s", 5*w, 4*w, pair[0])
		if pair[0] == "i" {
			v += fmt.Sprint(":", now)
		}
		require.NoError(t, client.Set(ctx, key, v, 0).Err())
		// Another event of the term within the window, asked with the
		// replica's knowledge of the same alert.
		res, err := decide.Run(ctx, client, []string{key}, 5*w+1, "b2", w, w, 5*w, 4*w, "a1", "i", lease, now, pair[1]).Slice()
		require.NoError(t, err)
		assert.Equal(t, []any{int64(0), 5*w + 1, 4 * w, "a1", want}, res, "%v: answer", pair)
		stored, err := client.Get(ctx, key).Result()
		require.NoError(t, err)
		assert.Regexp(t, fmt.Sprintf(`^%d:%d:a1:%s(:\d+)?$`, 5*w+1, 4*w, want), stored, "%v: stored", pair)
	}
}

// TestAStaleRefusalDoesNotUndoARetry: once a replica's refusal mark has
// reached Redis, its refusal is no longer its word on the alert: another
// replica's retry, in flight within the lease, stands, and no third copy
// is raised again.
func TestAStaleRefusalDoesNotUndoARetry(t *testing.T) {
	srv := redistest.Start(t)
	now := testclock.At(t0.Add(2 * day))
	a, b, c := replica(t, srv, now), replica(t, srv, now), replica(t, srv, now)

	got, alerts, _ := observe(t, a, obs("bob", 0, 7))
	require.Equal(t, []bool{true}, got)
	a.Settle(alerts, false)
	_, _, st := observe(t, a, obs("carol", day, 9)) // carries the refusal's mark
	require.NoError(t, st.StorageErr)
	got, _, _ = observe(t, b, obs("bob", 0, 7)) // b's retry, in flight on b
	require.Equal(t, []bool{true}, got)
	got, _, _ = observe(t, a, obs("bob", day, 8)) // a asks Redis of bob again
	require.Equal(t, []bool{false}, got)

	got, _, _ = observe(t, c, obs("bob", 0, 7))
	assert.Equal(t, []bool{false}, got, "b's retry is under way: c does not raise it again")
	got, _, _ = observe(t, a, obs("bob", 0, 7))
	assert.Equal(t, []bool{false}, got, "nor does a")
}

// TestOutageAlertDeliveredMergedDelivered: an alert a replica raised alone
// during an outage and delivered reaches Redis as delivered with the term's
// next decision there (its mark found no key to settle), so a copy of its
// event on another replica after the lease is not alerted again.
func TestOutageAlertDeliveredMergedDelivered(t *testing.T) {
	delivered := true
	srv, now, _, _ := aliceAlertedAloneThenSeenInRedis(t, &delivered)
	now.Advance(2 * time.Minute) // past the lease
	got, _, _ := observe(t, replica(t, srv, now), obs("alice", 12*day, 2))
	assert.Equal(t, []bool{false}, got, "delivered: not raised again")
}

// TestTimesOutsideTheStoresRange: event times before 1970 or far in the
// future are decided in Redis as the local store decides them (both clamp
// them to its range): a delivered copy is not an alert, another event
// within the window is known.
func TestTimesOutsideTheStoresRange(t *testing.T) {
	srv := redistest.Start(t)
	now := testclock.At(t0.Add(2 * day))
	for name, at := range map[string]time.Time{
		"before 1970":   time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC),
		"the year 9999": time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		s := replica(t, srv, now)
		o := obs(name, 0, 9)
		o.Time = at
		got, alerts, _ := observe(t, s, o)
		require.Equal(t, []bool{true}, got, name)
		s.Settle(alerts, true)
		s.Close(ctx)
		got, _, st := observe(t, replica(t, srv, now), o)
		require.NoError(t, st.StorageErr, name)
		assert.Equal(t, []bool{false}, got, "%s: the delivered copy", name)
		later := o
		later.Time, later.Event = at.Add(time.Hour), 10
		got, _, _ = observe(t, replica(t, srv, now), later)
		assert.Equal(t, []bool{false}, got, "%s: another event within the window", name)
	}
}

// TestLearningEndProposedInAnOutage: a proposal made while Redis could not
// answer is kept, so the end Redis sets once it answers is the earliest
// match's, not a later one's.
func TestLearningEndProposedInAnOutage(t *testing.T) {
	srv := redistest.Start(t)
	now := testclock.At(t0.Add(2 * day))
	s := replica(t, srv, now)
	outage := &redistest.Outage{}
	s.set.Client.AddHook(outage)

	outage.Down.Store(true)
	_, ok := s.LearningEnd(ctx, t0.Add(7*day))
	require.False(t, ok)
	outage.Down.Store(false)
	now.Advance(10 * time.Second)
	end, ok := s.LearningEnd(ctx, t0.Add(8*day))
	require.True(t, ok)
	assert.Equal(t, t0.Add(7*day), end, "the earliest proposal's end")
	end, ok = replica(t, srv, now).LearningEnd(ctx, time.Time{})
	require.True(t, ok)
	assert.Equal(t, t0.Add(7*day), end, "for every replica")
}
