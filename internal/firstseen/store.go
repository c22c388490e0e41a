// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

// Package firstseen decides whether a term (an identity, a combination of
// field values) is seen for the first time within a history window, as
// Elastic's new_terms rules do, but in the stream: a bounded LRU answers for
// recent terms and a storage extension keeps the state across restarts.
package firstseen // import "github.com/cloudtrail-detect/ssmsession/internal/firstseen"

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// FutureSkew is how far ahead of the wall clock an event time may be and
// still move the clocks that expire state (pruning here, the hunt's window):
// CloudTrail times are the API call's, so a time past it is a bad one.
const FutureSkew = time.Hour

// LateSlack is how long past the window a term's state is kept, swept or
// expired, for events CloudTrail delivers late (minutes, usually): the
// newest event time seen may be ahead of a late one's by that much, and its
// term's state must still be there.
const LateSlack = time.Hour

// Plausible reports whether an event time may begin or move a clock that
// never moves back (the window's anchor, the learning period, the start of
// watching launches): not before 1970, not beyond FutureSkew ahead of now.
// One bad time must not set such a clock decades away.
func Plausible(t, now time.Time) bool {
	return !t.Before(time.Unix(0, 0)) && !t.After(now.Add(FutureSkew))
}

// Settings configure a Store.
type Settings struct {
	// Window is the history window: a term is new when its latest earlier
	// occurrence is more than Window before this one.
	Window time.Duration
	// CacheSize bounds the terms held in memory, and the states kept for
	// writing while storage fails.
	CacheSize int
	// Persistent says a storage extension is configured; without a client
	// the store then keeps unsaved states and reports it.
	Persistent bool
	// PruneInterval is the wall time between sweeps of stored terms older
	// than the window.
	PruneInterval time.Duration
	// Now is the wall clock (injectable for tests).
	Now func() time.Time
	// OnPrune, when set, is told how many stored terms each sweep removed.
	OnPrune func(removed int)
	// KeyPrefix begins the storage keys of states (TermPrefix) and MarkKey
	// is that of the store's mark (LearningKey), unless the store keeps
	// other state than terms in the same client.
	KeyPrefix, MarkKey string
	// RaiseInFlight raises an alert again for a copy of its event that
	// comes while the alert's own batch is still under way (see Decide):
	// alerts, which that batch may still lose. Not for marks of what is
	// held in memory once decided (counts), which a copy would double.
	RaiseInFlight bool
	// Unalerted records each new term as delivered when it is decided,
	// for marks that raise nothing to deliver (launches): none waits in
	// memory for Settle, and each is written once. Observe then returns no
	// alerts.
	Unalerted bool
}

// Observation is one occurrence of a term.
type Observation struct {
	Key  Key
	Time time.Time
	// Event fingerprints the event (its eventID), so that the same event
	// delivered twice is recognised.
	Event uint64
}

// Alert is a new-term decision that was passed on and awaits Settle: the
// term, and the event time (Unix ns) and fingerprint of the event.
type Alert struct {
	Key   Key
	At    int64
	Event uint64
}

// Decider decides new terms: the local Store, or a backend shared by
// replicas.
type Decider interface {
	// Observe decides, in order, whether each observation is a new term.
	Observe(ctx context.Context, obs []Observation, isNew []bool) ([]Alert, Stats)
	// Settle records whether the alerts reached the next consumer.
	Settle(alerts []Alert, delivered bool)
	// Close writes what is pending, within ctx; the caller closes clients after.
	Close(ctx context.Context) Stats
	// LearningEnd is the end of the learning period, shared with the state:
	// the one recorded, or, when none is, proposed, recorded first (the
	// first proposal wins and never moves). ok is false while the state
	// cannot say (storage or Redis unreachable before the end was known).
	LearningEnd(ctx context.Context, proposed time.Time) (end time.Time, ok bool)
}

var _ Decider = (*Store)(nil)

// Stats says what one call did, for the caller's telemetry.
type Stats struct {
	Hits, Misses, Evictions, Writes int
	// StorageErr is the storage failure of this call, if any; state then
	// lives in memory until a later write succeeds.
	StorageErr error
	// Recovered is set on the first successful write after failures.
	Recovered bool
	// Fallback counts decisions a shared backend could not make, taken
	// from local state instead.
	Fallback int
}

// Store is safe for concurrent use. Its lock guards memory only: storage is
// read before a batch is decided and written after, outside the lock. The
// decisions of one batch are made under one hold of the lock, in record
// order, so batch boundaries never change an answer, and concurrent batches
// see each other's decisions.
type Store struct {
	set    Settings
	window int64

	mu       sync.Mutex
	lru      *simplelru.LRU[Key, State]
	evicted  int // since the last Observe returned
	client   storage.Client
	degraded bool
	// unreported is a storage failure met outside Observe and Flush (the
	// mark's read, a sweep), which the next of them reports.
	unreported error
	unsaved    map[Key]State // changed and not yet known to every reader of storage
	// settling holds states the cache evicted while their alert was in
	// flight, until Settle records its outcome (with storage; at most
	// CacheSize of them): else a delivered alert would be read back from
	// storage as one to retry, and raised again.
	settling  map[Key]State
	changes   uint64 // generation of the newest change to unsaved
	writer    writer
	loads     map[uint64]int // storage reads in flight, by the writer.saved they began at
	watermark int64          // newest plausible event time seen

	learning mark
	pruner   pruner
	// complete is the event time (Unix ns) from which every state recorded
	// is still held: states older than it may have been forgotten (evicted
	// without storage, dropped while storage failed, or swept).
	complete int64
}

// writer is the state of the one write in flight, and of the writes done
// that a storage read begun earlier may not have seen.
type writer struct {
	busy    chan struct{} // closed when the write in flight ends; nil when idle
	saved   uint64        // changes up to this generation are written
	written []written     // oldest first
}

// written is what one write stored: its states stay in unsaved until no
// storage read begun before it is in flight.
type written struct {
	gen    uint64
	states map[Key]State
}

// New returns an empty store; SetClient attaches storage.
func New(set Settings) (*Store, error) {
	if set.Window <= 0 || set.CacheSize <= 0 {
		return nil, errors.New("firstseen: window and cache size must be positive")
	}
	if set.Now == nil {
		set.Now = time.Now
	}
	if set.KeyPrefix == "" {
		set.KeyPrefix = TermPrefix
	}
	if set.MarkKey == "" {
		set.MarkKey = LearningKey
	}
	s := &Store{set: set, window: int64(set.Window), unsaved: map[Key]State{}, settling: map[Key]State{}, loads: map[uint64]int{}, degraded: set.Persistent}
	lru, err := simplelru.NewLRU[Key, State](set.CacheSize, func(k Key, v State) {
		s.evicted++
		switch {
		case !set.Persistent:
			s.forgot(v)
		case v.Status == StatusInFlight && len(s.settling) < set.CacheSize:
			s.settling[k] = v
		}
	})
	if err != nil {
		return nil, err
	}
	s.lru = lru
	s.pruner.init(set.Now())
	return s, nil
}

// SetClient attaches (or, with nil, detaches) the storage client.
func (s *Store) SetClient(c storage.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.client = c
	s.degraded = s.set.Persistent && c == nil
}

// slot is a term's state while a batch is decided.
type slot struct {
	s     State
	known bool
}

// Observe decides, in order, whether each observation is a new term, sets
// isNew (len(isNew) >= len(obs)) and persists the changed state before it
// returns, so that a crash after the batch is passed on cannot re-alert.
func (s *Store) Observe(ctx context.Context, obs []Observation, isNew []bool) ([]Alert, Stats) {
	var st Stats
	work := make(map[Key]slot, len(obs))
	s.mu.Lock()
	missing, client := s.cached(obs, work, &st)
	began := s.writer.saved
	s.loads[began]++
	s.mu.Unlock()

	loaded := s.load(ctx, client, missing, &st)

	s.mu.Lock()
	for _, k := range missing {
		if v, ok := s.peek(k); ok { // a concurrent batch decided it meanwhile
			work[k] = slot{s: v, known: true}
		} else if v, ok := loaded[k]; ok {
			work[k] = slot{s: v, known: true}
		}
	}
	// Only now is this read done with: until the peeks above, the states
	// written since it began had to stay in memory for it.
	if s.loads[began]--; s.loads[began] == 0 {
		delete(s.loads, began)
	}
	s.forgetWritten()
	alerts := s.decide(obs, isNew, work)
	st.Evictions, s.evicted = s.evicted, 0
	s.takeUnreported(&st) // before a sweep starts: its failure is the next call's
	upTo := s.changes
	s.pruner.maybeStart(s)
	s.mu.Unlock()

	s.persist(ctx, upTo, &st)
	return alerts, st
}

// cached fills work from memory and returns the keys to read from storage.
// Called with mu held.
func (s *Store) cached(obs []Observation, work map[Key]slot, st *Stats) ([]Key, storage.Client) {
	var missing []Key
	for _, o := range obs {
		if _, seen := work[o.Key]; seen {
			continue
		}
		if v, ok := s.lookup(o.Key); ok {
			st.Hits++
			work[o.Key] = slot{s: v, known: true}
			continue
		}
		st.Misses++
		work[o.Key] = slot{}
		missing = append(missing, o.Key)
	}
	return missing, s.client
}

// lookup finds a term in memory: the cache, else a state not written yet
// or waiting for its alert's outcome.
func (s *Store) lookup(k Key) (State, bool) {
	if v, ok := s.lru.Get(k); ok {
		return v, true
	}
	return s.uncached(k)
}

// peek is lookup without touching the cache's recency.
func (s *Store) peek(k Key) (State, bool) {
	if v, ok := s.lru.Peek(k); ok {
		return v, true
	}
	return s.uncached(k)
}

func (s *Store) uncached(k Key) (State, bool) {
	if v, ok := s.settling[k]; ok {
		return v, true
	}
	v, ok := s.unsaved[k]
	return v, ok
}

// load reads the states of keys from storage, outside the lock. A term
// storage cannot answer for is treated as unseen: a possible repeat alert
// is better than a missed one.
func (s *Store) load(ctx context.Context, client storage.Client, keys []Key, st *Stats) map[Key]State {
	if client == nil || len(keys) == 0 {
		return nil
	}
	gets := make([]*storage.Operation, len(keys))
	for i, k := range keys {
		gets[i] = storage.GetOperation(s.storageKey(k))
	}
	if err := client.Batch(ctx, gets...); err != nil {
		s.mu.Lock()
		s.degraded = true
		s.mu.Unlock()
		st.StorageErr = err
		return nil
	}
	out := make(map[Key]State, len(keys))
	for i, op := range gets {
		if op.Value == nil {
			continue
		}
		if v, err := decode(op.Value); err == nil {
			out[keys[i]] = v
		}
	}
	return out
}

// decide applies the rule to each observation in order. Called with mu held.
func (s *Store) decide(obs []Observation, isNew []bool, work map[Key]slot) []Alert {
	var alerts []Alert
	var raised map[Key]bool // in this batch: a copy here shares its fate, raised once
	horizon := UnixNanos(s.set.Now().Add(FutureSkew))
	for i, o := range obs {
		t := UnixNanos(o.Time)
		sl := work[o.Key]
		next, fresh, changed := Decide(sl.s, sl.known, t, o.Event, s.window, s.set.RaiseInFlight && !raised[o.Key])
		if fresh && s.set.Unalerted {
			next.Status = StatusDelivered
		}
		if fresh && s.set.RaiseInFlight {
			if raised == nil {
				raised = map[Key]bool{}
			}
			raised[o.Key] = true
		}
		isNew[i] = fresh
		work[o.Key] = slot{s: next, known: true}
		if changed {
			s.change(o.Key, next)
		}
		if fresh && !s.set.Unalerted {
			alerts = append(alerts, Alert{Key: o.Key, At: next.AlertAt, Event: o.Event})
		}
		if t > s.watermark && t <= horizon {
			s.watermark = t
		}
	}
	// Cache recency follows record order, so what is evicted depends on the
	// input alone.
	for _, o := range obs {
		s.lru.Add(o.Key, work[o.Key].s)
		delete(s.settling, o.Key) // cached again, as decided now
	}
	return alerts
}

// change records a term's new state for the next write. Called with mu held.
func (s *Store) change(k Key, v State) {
	if !s.set.Persistent {
		return
	}
	s.changes++
	s.unsaved[k] = v
}

// trimUnsaved bounds what a failing storage leaves in memory to a cache's
// worth; what is dropped may be alerted again, as an evicted term without
// storage. Called with mu held.
func (s *Store) trimUnsaved() {
	for k := range s.unsaved {
		if len(s.unsaved) <= s.set.CacheSize {
			return
		}
		if _, cached := s.lru.Peek(k); !cached {
			s.forgot(s.unsaved[k])
			delete(s.unsaved, k)
		}
	}
	for k := range s.unsaved { // all cached: drop any
		if len(s.unsaved) <= s.set.CacheSize {
			return
		}
		s.forgot(s.unsaved[k])
		delete(s.unsaved, k)
	}
}

// forgot records that a state left memory without reaching storage.
// Called with mu held.
func (s *Store) forgot(v State) { s.complete = max(s.complete, v.Latest+1) }

// persist writes every unsaved state, at least the changes up to generation
// upTo, before it returns. One batch writes at a time, outside the lock,
// taking what concurrent batches changed too; they wait for that write
// instead of writing their own.
func (s *Store) persist(ctx context.Context, upTo uint64, st *Stats) {
	if !s.set.Persistent {
		return
	}
	for {
		s.mu.Lock()
		w := &s.writer
		switch {
		case w.saved >= upTo:
			s.mu.Unlock()
			return
		case w.busy != nil:
			busy := w.busy
			s.mu.Unlock()
			select {
			case <-busy:
				continue
			case <-ctx.Done():
				return // what this batch changed stays unsaved, for the next write
			}
		case s.client == nil:
			s.degraded = true // kept in memory until a client is attached
			s.trimUnsaved()
			s.mu.Unlock()
			return
		}
		gen, client := s.changes, s.client
		snapshot := s.unwritten()
		learningEnd, writeLearning := s.learning.end, s.learning.unsaved
		w.busy = make(chan struct{})
		// Told to a running sweep before the write, so that it deletes
		// none of these from now on (and rewrites one it just deleted).
		s.pruner.wrote(snapshot, s.set.CacheSize)
		s.mu.Unlock()

		ops := make([]*storage.Operation, 0, len(snapshot)+1)
		for k, v := range snapshot {
			ops = append(ops, storage.SetOperation(s.storageKey(k), encode(v)))
		}
		if writeLearning {
			ops = append(ops, storage.SetOperation(s.set.MarkKey, encodeNanos(learningEnd)))
		}
		err := client.Batch(ctx, ops...)

		s.mu.Lock()
		close(w.busy)
		w.busy = nil
		if err == nil {
			if writeLearning && s.learning.gen <= gen {
				s.learning.unsaved = false
			}
			w.saved = gen
			w.written = append(w.written, written{gen: gen, states: snapshot})
			s.forgetWritten()
			st.Writes += len(ops)
			if s.degraded && st.StorageErr == nil && s.unreported == nil { // a failure not yet told is not recovered from
				s.degraded, st.Recovered = false, true
			}
		} else {
			s.degraded = true
			s.trimUnsaved()
		}
		s.mu.Unlock()
		if err != nil && st.StorageErr == nil {
			st.StorageErr = err
		}
		return
	}
}

// unwritten copies the unsaved states no earlier write stored as they are:
// those kept only for reads in flight are not written again. Called with mu
// held.
func (s *Store) unwritten() map[Key]State {
	out := make(map[Key]State, len(s.unsaved))
	for k, v := range s.unsaved {
		if !s.stored(k, v) {
			out[k] = v
		}
	}
	return out
}

// stored reports whether the newest write that stored k stored v. Called
// with mu held.
func (s *Store) stored(k Key, v State) bool {
	for i := len(s.writer.written) - 1; i >= 0; i-- {
		if w, ok := s.writer.written[i].states[k]; ok {
			return w == v
		}
	}
	return false
}

// forgetWritten drops from unsaved the states of writes that every storage
// read in flight began after: from then on storage answers for them. Called
// with mu held.
func (s *Store) forgetWritten() {
	oldest := s.writer.saved
	for began := range s.loads {
		oldest = min(oldest, began)
	}
	w := &s.writer
	for len(w.written) > 0 && w.written[0].gen <= oldest {
		for k, v := range w.written[0].states {
			if cur, ok := s.unsaved[k]; ok && cur == v {
				delete(s.unsaved, k)
			}
		}
		w.written = w.written[1:]
	}
}

// Settle records whether the batch holding alerts reached the next consumer.
// Delivered alerts are not raised again for the same event; failed ones are,
// when the event is delivered again. Delivery marks are written by Flush, or
// with the next batch: should the process die before, those alerts may be
// raised again for the same event, with the same alert id, which
// at-least-once allows.
func (s *Store) Settle(alerts []Alert, delivered bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range alerts {
		v, ok := s.peek(a.Key)
		delete(s.settling, a.Key)
		settled := Settled(v.Status, delivered)
		if !ok || v.AlertAt != a.At || v.AlertEv != a.Event || settled == v.Status {
			continue // forgotten, superseded or told: a stored state still says in flight, read back as retry
		}
		v.Status = settled
		s.lru.Add(a.Key, v)
		if delivered {
			s.change(a.Key, v)
		}
	}
}

// Forget lets go of alerts whose outcome will never be settled (a caller
// that keeps a bounded number waiting): their stored state says in flight,
// read back as one to retry (at least once).
func (s *Store) Forget(alerts []Alert) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range alerts {
		delete(s.settling, a.Key)
	}
}

// Flush writes delivery marks and states a failed write left unsaved.
func (s *Store) Flush(ctx context.Context) Stats {
	var st Stats
	s.mu.Lock()
	upTo := s.changes
	s.takeUnreported(&st)
	s.mu.Unlock()
	s.persist(ctx, upTo, &st)
	return st
}

// Close stops a running sweep (within ctx) and writes what is not saved
// yet; the caller closes the client afterwards.
func (s *Store) Close(ctx context.Context) Stats {
	s.pruner.stop(ctx, s)
	return s.Flush(ctx)
}

// failedOutside records a storage failure met outside Observe and Flush,
// for the next of them to report. Called with mu held.
func (s *Store) failedOutside(err error) {
	s.degraded = true
	if s.unreported == nil {
		s.unreported = err
	}
}

// takeUnreported moves a failure met outside into st. Called with mu held.
func (s *Store) takeUnreported(st *Stats) {
	if st.StorageErr == nil {
		st.StorageErr = s.unreported
	}
	s.unreported = nil
}

// UnixNanos is t in Unix nanoseconds, kept in a range where window
// arithmetic cannot overflow (years 1970 to 2116): every backend dates
// occurrences by it, so that they agree on times outside that range too.
func UnixNanos(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, 0)):
		return 0
	case t.After(time.Unix(0, math.MaxInt64/2)):
		return math.MaxInt64 / 2
	}
	return t.UnixNano()
}
