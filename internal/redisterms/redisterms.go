// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

// Package redisterms decides new terms in Redis, so that any number of
// collector replicas give one answer: each term is new once per window
// whichever replica sees it. The decision is one atomic script per
// occurrence, sent in one pipeline per batch; a local cache answers for
// terms Redis confirmed very recently, and decides alone while Redis is
// unreachable.
package redisterms // import "github.com/cloudtrail-detect/ssmsession/internal/redisterms"

import (
	"context"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/redis/go-redis/v9"

	"github.com/cloudtrail-detect/ssmsession/internal/firstseen"
)

//go:embed decide.lua
var decideScript string

//go:embed settle.lua
var settleScript string

var (
	decide = redis.NewScript(decideScript)
	settle = redis.NewScript(settleScript)
)

// Settings configure a Store.
type Settings struct {
	Client    redis.UniversalClient
	KeyPrefix string
	// Window is the history window; keys expire this long after their last
	// write, plus Slack for late events.
	Window, Slack time.Duration
	// Timeout bounds one batch's round trip; RetryAfter is how long local
	// state decides alone after Redis failed.
	Timeout, RetryAfter time.Duration
	// Backoff is shared with the replica's other Redis stores; nil: one of
	// its own, by RetryAfter.
	Backoff *Backoff
	// Lease is how long an alert another replica raised (or this one, before
	// a restart) may stay in flight before a copy of its event is raised
	// again: that replica is then taken for gone, as if its delivery failed.
	// Replicas' clocks (Now) time it.
	Lease time.Duration
	// CacheSize bounds the local cache.
	CacheSize int
	Now       func() time.Time
}

// entry is what this replica knows of a term, times in Unix ms: the newest
// occurrence Redis confirmed (or, while Redis is down, this replica saw),
// and its alert, with what Redis or this replica's own batches said of its
// delivery.
type entry = firstseen.State

// millis dates an occurrence in Redis: in Unix ms, in the range the local
// store keeps times in (firstseen.UnixNanos), where decide.lua's numbers
// print as integers and the two writings of the rule agree.
func millis(t time.Time) int64 { return firstseen.UnixNanos(t) / int64(time.Millisecond) }

// statusOf reads a status letter of the scripts.
var statusOf = map[string]firstseen.Status{"i": firstseen.StatusInFlight, "d": firstseen.StatusDelivered, "r": firstseen.StatusRetry}

// settledBy is status s of an alert once what this replica settled of the
// same alert's delivery (o) is taken in, by the one rule (firstseen.Settled):
// a delivery or refusal settled here whose mark has not reached Redis yet
// stands. decide.lua merges such a status so too. Once its mark has
// reached Redis, Redis's status is newer (a retry raised since is in flight).
func settledBy(s, o firstseen.Status) firstseen.Status {
	switch o {
	case firstseen.StatusDelivered:
		return firstseen.Settled(s, true)
	case firstseen.StatusRetry:
		return firstseen.Settled(s, false)
	}
	return s
}

// carries reports whether the alert cached for the term is that of event
// ev: the alerting event itself, come again (at any time, as the rule has
// it).
func carries(e entry, ev uint64) bool { return e.AlertEv == ev }

// args are the decide script's arguments after t and the event: the
// window, the expiry, what this replica knows of the term (e, when
// cached), the lease, the clock, and the outcome settled here of the
// alert e holds whose mark has not reached Redis yet ("" when none).
// Called with mu held.
func (s *Store) args(o firstseen.Observation, e entry, cached bool) []any {
	known, at, ev, status, settling := int64(0), int64(0), "0", "d", ""
	if cached {
		known, at, ev, status = e.Latest, e.AlertAt, strconv.FormatUint(e.AlertEv, 16), letter(e.Status)
		if m, ok := s.marking[raisedKey{o.Key, e.AlertEv}]; ok && m.n > 0 {
			settling = letter(m.status)
		}
	} else if m, ok := s.marking[raisedKey{o.Key, o.Event}]; ok && m.n > 0 {
		// The term left the cache while this event's alert is settling:
		// what the cache held of it, for Redis to merge.
		known, at, ev, status, settling = m.at, m.at, strconv.FormatUint(o.Event, 16), "i", letter(m.status)
	}
	return []any{millis(o.Time), strconv.FormatUint(o.Event, 16), s.window, s.ttl, known, at, ev, status,
		s.set.Lease.Milliseconds(), s.set.Now().UnixMilli(), settling}
}

// letter is a status as the scripts write it; an alert in flight has its
// outcome settled in Redis when it comes.
func letter(st firstseen.Status) string {
	switch st {
	case firstseen.StatusRetry:
		return "r"
	case firstseen.StatusInFlight:
		return "i"
	}
	return "d"
}

// raisedKey names an alert by its term and event; raisedAlert is its time
// and how many batches under way carry it.
type raisedKey struct {
	key   firstseen.Key
	event uint64
}

type raisedAlert struct {
	at int64
	n  int
}

type mark struct {
	alert     firstseen.Alert
	delivered bool
}

// settling is the outcome of an alert's marks, n of them pending or under
// way, and the round trips begun when the last reached Redis: an answer of
// a round trip begun before may not know it.
type settling struct {
	status    firstseen.Status
	n         int
	at        int64 // the alert's time, ms
	confirmed uint64
}

// Store implements firstseen.Decider over Redis.
type Store struct {
	set       Settings
	window    int64 // ms
	ttl       int64 // ms: key expiry, the window plus the slack
	freshness int64 // ms: how recent a confirmation answers without Redis

	mu      sync.Mutex
	cache   *simplelru.LRU[firstseen.Key, entry]
	pending []mark // delivery marks to send with the next round trip
	// marking holds, by alert, the outcome of its marks: until Redis has
	// them, and for the answers of round trips begun before, this
	// replica's word on its delivery is newer than Redis's.
	marking map[raisedKey]settling
	// confirmedOnly counts the entries of marking with no mark left
	// (n 0), which forgetSettled looks for: none, no walk.
	confirmedOnly int
	// trips counts the round trips begun; underWay holds those not
	// returned yet, by number.
	trips    uint64
	underWay map[uint64]bool
	// raised holds the alerts this replica raised and has not settled
	// (at most CacheSize): a copy of the event in another batch carries
	// the alert too, as the local store has it (firstseen.Decide's
	// raiseInFlight); Redis's "in flight" may be another replica's, whose
	// own batch answers for it until the lease ends, so decide.lua cannot
	// tell.
	raised      map[raisedKey]raisedAlert
	evicted     int   // cache evictions since the last Observe returned
	learningEnd int64 // Unix ms; 0: not known yet
	// learningEarly is the earliest proposal made while Redis could not
	// answer (Unix ms; 0: none): the end, once set, is not later than it.
	learningEarly int64
	// learningErr is a failure of LearningEnd, which has no stats to carry
	// it: the next Observe reports it.
	learningErr error
}

// New returns a store; Redis is reached lazily, on the first batch.
func New(set Settings) (*Store, error) {
	if set.Client == nil || set.Window <= 0 || set.CacheSize <= 0 || set.Timeout <= 0 {
		return nil, errors.New("redisterms: client, window, cache size and timeout are required")
	}
	if set.Now == nil {
		set.Now = time.Now
	}
	if set.Backoff == nil {
		set.Backoff = NewBackoff(set.Client, set.RetryAfter, set.Now)
	}
	// A confirmation within 1% of the window answers locally: Redis's copy
	// of a term's latest occurrence lags by at most that much.
	s := &Store{set: set, window: set.Window.Milliseconds(), ttl: (set.Window + set.Slack).Milliseconds(),
		freshness: set.Window.Milliseconds() / 100, raised: map[raisedKey]raisedAlert{}, marking: map[raisedKey]settling{}, underWay: map[uint64]bool{}}
	cache, err := simplelru.NewLRU(set.CacheSize, func(firstseen.Key, entry) { s.evicted++ })
	if err != nil {
		return nil, err
	}
	s.cache = cache
	return s, nil
}

var _ firstseen.Decider = (*Store)(nil)

func (s *Store) key(k firstseen.Key) string { return KeyName(s.set.KeyPrefix, k) }

// KeyName is the Redis key of a term's state.
func KeyName(prefix string, k firstseen.Key) string { return prefix + hex.EncodeToString(k[:]) }

// Observe decides each observation in order: from the cache when Redis
// confirmed the term within the freshness, else in Redis, all in one
// pipeline; from local state alone where Redis (or, in a Cluster, the
// master of the term's key) is unreachable. The lock is not held during the
// round trip, so concurrent batches share the pool; Redis orders their
// scripts as it orders other replicas'.
func (s *Store) Observe(ctx context.Context, obs []firstseen.Observation, isNew []bool) ([]firstseen.Alert, firstseen.Stats) {
	var st firstseen.Stats
	s.mu.Lock()
	alerts, remote, keys, args := s.ask(obs, isNew, &st)
	answers := make([]*redis.Cmd, len(remote))
	var trip uint64
	if (len(remote) > 0 || len(s.pending) > 0) && !s.set.Backoff.Down(Whole) {
		var err error
		answers, trip, err = s.exchange(ctx, keys, args)
		if st.StorageErr = err; err == nil {
			st.Recovered = s.set.Backoff.Recovered()
		}
	}
	defer s.mu.Unlock()
	for j, i := range remote {
		if answers[j] == nil {
			// Not decided in Redis: from local state; a script that did
			// run before its answer was lost may have recorded the term
			// there too.
			alerts = append(alerts, s.fallback(obs[i:i+1], isNew[i:i+1], &st)...)
		} else {
			alerts = append(alerts, s.apply(obs[i:i+1], isNew[i:i+1], answers[j], trip, &st)...)
		}
	}
	s.forgetSettled()
	s.raise(alerts)
	s.report(&st)
	return alerts, st
}

// raise records alerts this replica raised, until they are settled.
func (s *Store) raise(alerts []firstseen.Alert) {
	for _, a := range alerts {
		k := raisedKey{a.Key, a.Event}
		if r, ok := s.raised[k]; ok || len(s.raised) < s.set.CacheSize {
			s.raised[k] = raisedAlert{at: a.At, n: r.n + 1}
		}
	}
}

// report adds to st what the store gathered between calls: evictions, and
// a failure of LearningEnd.
func (s *Store) report(st *firstseen.Stats) {
	st.Evictions, s.evicted = s.evicted, 0
	if st.StorageErr == nil {
		st.StorageErr = s.learningErr
	}
	s.learningErr = nil
}

// ask answers from the cache what it can and returns the alerts raised
// again (copies of events whose alerts this replica has under way), and
// the indexes of the rest with their keys and script arguments.
func (s *Store) ask(obs []firstseen.Observation, isNew []bool, st *firstseen.Stats) (again []firstseen.Alert, remote []int, keys []string, args [][]any) {
	var copies map[raisedKey]bool // in this batch: a copy here shares its fate
	for i, o := range obs {
		t := millis(o.Time)
		if k := (raisedKey{o.Key, o.Event}); s.raised[k].n > 0 {
			if isNew[i] = !copies[k]; isNew[i] {
				again = append(again, firstseen.Alert{Key: o.Key, At: s.raised[k].at, Event: o.Event}) // its time: the mark must match
				if copies == nil {
					copies = map[raisedKey]bool{}
				}
				copies[k] = true
			}
			st.Hits++
			continue
		}
		e, cached := s.cache.Get(o.Key)
		if cached && !carries(e, o.Event) && t-e.Latest <= s.freshness {
			isNew[i] = false // Redis confirmed this term moments (in event time) before
			st.Hits++
			continue
		}
		st.Misses++
		remote = append(remote, i)
		keys = append(keys, s.key(o.Key))
		args = append(args, s.args(o, e, cached))
	}
	return again, remote, keys, args
}

// apply takes Redis's answer (of round trip trip) for one observation into
// the cache and returns its alert.
func (s *Store) apply(one []firstseen.Observation, isNew []bool, cmd *redis.Cmd, trip uint64, st *firstseen.Stats) []firstseen.Alert {
	fresh, e, err := decided(cmd)
	if err != nil {
		// An answer the script does not give: decide it locally.
		if st.StorageErr == nil {
			st.StorageErr = fmt.Errorf("decide script: %w", err)
		}
		return s.fallback(one, isNew, st)
	}
	o := one[0]
	// A concurrent batch may have cached a later answer meanwhile; an
	// outcome settled here that Redis does not have yet stands.
	if old, ok := s.cache.Peek(o.Key); ok {
		if old.AlertAt > e.AlertAt {
			e.AlertAt, e.AlertEv, e.Status = old.AlertAt, old.AlertEv, old.Status
		}
		e.Latest = max(e.Latest, old.Latest)
	}
	if m, ok := s.marking[raisedKey{o.Key, e.AlertEv}]; ok && !fresh && (m.n > 0 || trip <= m.confirmed) {
		e.Status = settledBy(e.Status, m.status)
	}
	s.cache.Add(o.Key, e)
	st.Writes++
	if isNew[0] = fresh; !fresh {
		return nil
	}
	return []firstseen.Alert{{Key: o.Key, At: firstseen.UnixNanos(o.Time), Event: o.Event}}
}

// decided reads the decide script's answer: {new, latest, alertAt,
// alertEvent, status}.
func decided(cmd *redis.Cmd) (bool, entry, error) {
	res, err := cmd.Slice()
	if err != nil {
		return false, entry{}, err
	}
	if len(res) != 5 {
		return false, entry{}, fmt.Errorf("unexpected answer %v", res)
	}
	isNew, _ := res[0].(int64)
	latest, _ := res[1].(int64)
	at, _ := res[2].(int64)
	evHex, _ := res[3].(string)
	ev, err := strconv.ParseUint(evHex, 16, 64)
	if err != nil {
		return false, entry{}, err
	}
	letter, _ := res[4].(string)
	status, ok := statusOf[letter]
	if !ok {
		return false, entry{}, fmt.Errorf("unexpected status %q", letter)
	}
	return isNew == 1, entry{Latest: latest, AlertAt: at, AlertEv: ev, Status: status}, nil
}

// fallback decides from the cache alone, by the one rule (firstseen.Decide,
// in ms): known when seen within the window (by Redis before, or by this
// replica since), new otherwise. Replicas may then each alert once for the
// same term. What is decided here reaches Redis with the term's next
// decision there.
func (s *Store) fallback(obs []firstseen.Observation, isNew []bool, st *firstseen.Stats) []firstseen.Alert {
	var alerts []firstseen.Alert
	for i, o := range obs {
		e, known := s.cache.Get(o.Key)
		next, fresh, _ := firstseen.Decide(e, known, millis(o.Time), o.Event, s.window, false) // as decide.lua
		s.cache.Add(o.Key, next)
		if isNew[i] = fresh; fresh {
			alerts = append(alerts, firstseen.Alert{Key: o.Key, At: firstseen.UnixNanos(o.Time), Event: o.Event})
		}
		st.Fallback++
	}
	return alerts
}

// exchange sends the pending marks and the decisions in one round trip,
// numbered, with the lock released during it, and takes back what Redis
// took of the marks. Called, and returns, with mu held.
func (s *Store) exchange(ctx context.Context, keys []string, args [][]any) ([]*redis.Cmd, uint64, error) {
	marks := s.pending
	s.pending = nil
	s.trips++
	trip := s.trips
	s.underWay[trip] = true
	s.mu.Unlock()
	answers, sent, unsent, err := s.roundTrip(ctx, marks, keys, args)
	s.mu.Lock()
	delete(s.underWay, trip)
	s.confirm(sent)
	s.requeue(unsent)
	return answers, trip, err
}

// roundTrip sends the delivery marks, then the decisions (a key and its
// script arguments each), in one pipeline: marks first, so that a batch
// the next consumer refused and its retry in the same round trip are
// decided with the refusal known. It returns each decision's answer, nil
// where Redis did not give one (its node left alone, or failed), and the
// marks Redis took and those it did not.
func (s *Store) roundTrip(ctx context.Context, marks []mark, keys []string, args [][]any) ([]*redis.Cmd, []mark, []mark, error) {
	bt := s.set.Backoff.Begin(ctx, s.set.Timeout)
	defer bt.End()
	s.restoreLearningEnd(bt)
	settles := make([]*redis.Cmd, len(marks))
	for i, m := range marks {
		status := "d"
		if !m.delivered {
			status = "r"
		}
		key := s.key(m.alert.Key)
		settles[i], _ = Queue(bt, key, func(ctx context.Context, pipe redis.Pipeliner) *redis.Cmd {
			return pipe.EvalSha(ctx, settle.Hash(), []string{key},
				m.alert.At/int64(time.Millisecond), strconv.FormatUint(m.alert.Event, 16), status)
		})
	}
	answers := make([]*redis.Cmd, len(keys))
	for j, key := range keys {
		answers[j], _ = Queue(bt, key, func(ctx context.Context, pipe redis.Pipeliner) *redis.Cmd {
			return pipe.EvalSha(ctx, decide.Hash(), []string{key}, args[j]...)
		})
	}
	err := bt.Exec()
	var sent, unsent []mark
	late := map[string]bool{} // keys whose mark was sent again, after their decision had run
	for i, c := range settles {
		if c == nil || Failure(c) != nil {
			unsent = append(unsent, marks[i])
			continue
		}
		sent = append(sent, marks[i])
		if bt.resent[c] {
			late[s.key(marks[i].alert.Key)] = true
		}
	}
	for j, c := range answers {
		// A decision that ran before its term's mark (the node had the
		// one script, not the other) did not know of a refusal: the
		// local cache, which does, decides it.
		if c != nil && (Failure(c) != nil || late[keys[j]] && !bt.resent[c]) {
			answers[j] = nil
		}
	}
	return answers, sent, unsent, err
}

// Settle records whether alerts reached the next consumer; the marks go to
// Redis with the next round trip (or Close). The cache takes the outcome
// too, so that a refused alert is raised again while Redis is down, and a
// delivered one, decided alone in an outage, reaches Redis as delivered.
func (s *Store) Settle(alerts []firstseen.Alert, delivered bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range alerts {
		k := raisedKey{a.Key, a.Event}
		if r := s.raised[k]; r.n > 1 {
			s.raised[k] = raisedAlert{at: r.at, n: r.n - 1}
		} else {
			delete(s.raised, k)
		}
		s.pending = append(s.pending, mark{a, delivered})
		m, ok := s.marking[k]
		switch {
		case !ok:
			m.status = firstseen.StatusInFlight
		case m.n == 0:
			s.confirmedOnly--
		}
		m.status, m.n, m.at = firstseen.Settled(m.status, delivered), m.n+1, a.At/int64(time.Millisecond)
		s.marking[k] = m
		if e, ok := s.cache.Peek(a.Key); ok && carries(e, a.Event) {
			e.Status = firstseen.Settled(e.Status, delivered)
			s.cache.Add(a.Key, e)
		}
	}
	s.bound()
}

// requeue puts back marks a failed round trip did not deliver.
func (s *Store) requeue(marks []mark) {
	s.pending = append(marks, s.pending...)
	s.bound()
}

// confirm records marks Redis took (or that are dropped): Redis's word on
// their alerts is the newer for round trips begun from now on.
func (s *Store) confirm(marks []mark) {
	for _, m := range marks {
		k := raisedKey{m.alert.Key, m.alert.Event}
		if st, ok := s.marking[k]; ok && st.n > 0 {
			if st.n--; st.n == 0 {
				s.confirmedOnly++
			}
			st.confirmed = s.trips
			s.marking[k] = st
		}
	}
}

// forgetSettled forgets the outcomes Redis has and no answer under way can
// predate.
func (s *Store) forgetSettled() {
	if s.confirmedOnly == 0 {
		return
	}
	oldest := uint64(math.MaxUint64)
	for trip := range s.underWay {
		oldest = min(oldest, trip)
	}
	for k, m := range s.marking {
		if m.n == 0 && m.confirmed < oldest {
			delete(s.marking, k)
			s.confirmedOnly--
		}
	}
}

// bound keeps the newest marks when Redis has been away for long.
func (s *Store) bound() {
	if len(s.pending) > 4*s.set.CacheSize {
		drop := len(s.pending) - s.set.CacheSize
		s.confirm(s.pending[:drop])
		s.pending = append(s.pending[:0], s.pending[drop:]...)
	}
}

// Close sends the pending marks.
func (s *Store) Close(ctx context.Context) firstseen.Stats {
	var st firstseen.Stats
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 0 {
		return st
	}
	_, _, st.StorageErr = s.exchange(ctx, nil, nil)
	s.forgetSettled()
	return st
}

// LearningEnd implements firstseen.Decider: one SetOnce round trip, once;
// the answer is kept. The key holds one end (Unix ms) for every replica. A
// zero proposal only reads. While Redis (the key's master, in a Cluster)
// cannot answer, ok is false: also while it is left alone after a failure
// (its own or another store's), so that an outage costs one timeout per
// retry interval in all.
func (s *Store) LearningEnd(ctx context.Context, proposed time.Time) (time.Time, bool) {
	var propose int64
	if !proposed.IsZero() {
		propose = millis(proposed)
	}
	s.mu.Lock()
	end, early := s.learningEnd, s.learningEarly
	s.mu.Unlock()
	if end != 0 {
		return time.UnixMilli(end).UTC(), true
	}
	propose = firstseen.Earliest(propose, early)
	ms, ok := s.askLearningEnd(ctx, propose)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !ok:
		s.learningEarly = firstseen.Earliest(s.learningEarly, propose) // kept for when Redis answers
		return time.Time{}, false
	case ms == 0:
		return time.Time{}, true // not begun
	}
	s.learningEnd = ms
	return time.UnixMilli(ms).UTC(), true
}

// askLearningEnd proposes the end to Redis and reads the one that stands:
// 0 when none does; ok false when Redis did not answer.
func (s *Store) askLearningEnd(ctx context.Context, propose int64) (int64, bool) {
	if s.set.Backoff.Down(Whole) {
		return 0, false
	}
	key := s.learningKey()
	bt := s.set.Backoff.Begin(ctx, s.set.Timeout)
	defer bt.End()
	get, asked := Queue(bt, key, func(ctx context.Context, pipe redis.Pipeliner) *redis.StringCmd {
		return SetOnce(ctx, pipe, key, propose)
	})
	if !asked {
		return 0, false
	}
	if err := bt.Exec(); err != nil {
		s.mu.Lock()
		s.learningErr = err
		s.mu.Unlock()
		return 0, false
	}
	ms, err := get.Int64()
	if errors.Is(err, redis.Nil) {
		return 0, true
	}
	return ms, err == nil
}

// restoreLearningEnd queues, once the end is known, its proposal again
// with every round trip: should Redis lose its data, replicas that knew the
// end put it back before a newcomer can begin another learning period.
func (s *Store) restoreLearningEnd(bt *Batch) {
	s.mu.Lock()
	end := s.learningEnd
	s.mu.Unlock()
	if end != 0 {
		Queue(bt, s.learningKey(), func(ctx context.Context, pipe redis.Pipeliner) *redis.BoolCmd {
			return pipe.SetNX(ctx, s.learningKey(), end, 0)
		})
	}
}

func (s *Store) learningKey() string { return s.set.KeyPrefix + firstseen.LearningKey }

// SetOnce queues on pipe the proposal of a value that the first proposer
// sets for good (SET NX, no expiry), then the read of the value that won,
// so every replica gets the same answer; a zero proposal only reads. The
// learning period's end and the time launches began to be watched are
// such values.
func SetOnce(ctx context.Context, pipe redis.Pipeliner, key string, proposed int64) *redis.StringCmd {
	if proposed != 0 {
		pipe.SetNX(ctx, key, proposed, 0)
	}
	return pipe.Get(ctx, key)
}
