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
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// Settings configure a Store.
type Settings struct {
	// Window is the history window: a term is new when its latest earlier
	// occurrence is more than Window before this one.
	Window time.Duration
	// CacheSize bounds the terms held in memory.
	CacheSize int
	// Persistent says a storage extension is configured; without a client
	// the store then counts itself degraded and keeps unsaved terms.
	Persistent bool
	// PruneInterval is the wall time between sweeps of stored terms older
	// than the window.
	PruneInterval time.Duration
	// MaxFutureSkew: event times further ahead of Now do not advance the
	// clock that pruning uses, so one bad timestamp cannot empty the store.
	MaxFutureSkew time.Duration
	// Now is the wall clock (injectable for tests).
	Now func() time.Time
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
	// Close writes what is pending; the caller closes clients after.
	Close(ctx context.Context) Stats
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

// slot is a term's state while a batch is decided.
type slot struct {
	s              state
	known, changed bool
}

// Store is safe for concurrent use. Decisions of one batch are made under
// one lock, in record order, so batch boundaries never change an answer.
type Store struct {
	set    Settings
	window int64

	mu        sync.Mutex
	lru       *simplelru.LRU[Key, state]
	evicted   int
	client    storage.Client
	degraded  bool
	dirty     map[Key]struct{} // changed terms a failed write left unsaved
	work      map[Key]slot     // reused per batch
	watermark int64            // newest plausible event time seen

	pruneMu   sync.Mutex
	lastPrune time.Time
	bg        sync.WaitGroup
}

// New returns an empty store; SetClient attaches storage.
func New(set Settings) (*Store, error) {
	if set.Window <= 0 || set.CacheSize <= 0 {
		return nil, errors.New("firstseen: window and cache size must be positive")
	}
	if set.Now == nil {
		set.Now = time.Now
	}
	s := &Store{
		set:    set,
		window: int64(set.Window),
		dirty:  map[Key]struct{}{},
		work:   map[Key]slot{},
	}
	lru, err := simplelru.NewLRU[Key, state](set.CacheSize, func(k Key, _ state) {
		s.evicted++
		delete(s.dirty, k)
	})
	if err != nil {
		return nil, err
	}
	s.lru = lru
	s.degraded = set.Persistent
	s.lastPrune = set.Now()
	return s, nil
}

// SetClient attaches (or, with nil, detaches) the storage client.
func (s *Store) SetClient(c storage.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.client = c
	s.degraded = s.set.Persistent && c == nil
}

// Degraded reports whether configured storage is currently not in use.
func (s *Store) Degraded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.degraded
}

// Len is the number of terms in memory.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len()
}

// Observe decides, in order, whether each observation is a new term, sets
// isNew (len(isNew) >= len(obs)) and persists the changed state before it
// returns, so that a crash after the batch is passed on cannot re-alert.
func (s *Store) Observe(ctx context.Context, obs []Observation, isNew []bool) ([]Alert, Stats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var st Stats
	s.evicted = 0
	clear(s.work)
	s.load(ctx, obs, &st)

	var alerts []Alert
	horizon := clampNanos(s.set.Now().Add(s.set.MaxFutureSkew))
	for i, o := range obs {
		t := clampNanos(o.Time)
		sl := s.work[o.Key]
		isNew[i] = decide(&sl, t, o.Event, s.window)
		s.work[o.Key] = sl
		if isNew[i] {
			alerts = append(alerts, Alert{Key: o.Key, At: t, Event: o.Event})
		}
		if t > s.watermark && t <= horizon {
			s.watermark = t
		}
	}

	// Writes and cache recency follow record order, so that what is evicted
	// depends on the input alone.
	var writes []*storage.Operation
	var changed []Key
	for _, o := range obs {
		if sl := s.work[o.Key]; sl.changed {
			writes = append(writes, storage.SetOperation(storageKey(o.Key), encode(sl.s)))
			changed = append(changed, o.Key)
			sl.changed = false
			s.work[o.Key] = sl
		}
	}
	s.persist(ctx, writes, func() {
		for _, k := range changed {
			s.dirty[k] = struct{}{}
		}
	}, &st)
	for _, o := range obs {
		s.lru.Add(o.Key, s.work[o.Key].s)
	}
	st.Evictions = s.evicted
	s.maybePrune()
	return alerts, st
}

// decide applies the new-term rule to one occurrence at time t.
func decide(sl *slot, t int64, ev uint64, window int64) bool {
	s := &sl.s
	switch {
	case !sl.known:
		// first occurrence
	case ev == s.alertEv && t == s.alertAt:
		// The event that raised the alert, again: a duplicate delivery is
		// not a new alert, unless the first one may never have arrived.
		if s.status != alertRetry {
			return false
		}
	case t-s.latest <= window:
		// Seen within the window, or a late event older than what we know.
		if t > s.latest {
			s.latest, sl.changed = t, true
		}
		return false
	}
	if !sl.known || t > s.latest {
		s.latest = t
	}
	s.alertAt, s.alertEv, s.status = t, ev, alertInFlight
	sl.known, sl.changed = true, true
	return true
}

// load fills the working set from memory, then storage for the misses.
func (s *Store) load(ctx context.Context, obs []Observation, st *Stats) {
	var gets []*storage.Operation
	var keys []Key
	for _, o := range obs {
		if _, seen := s.work[o.Key]; seen {
			continue
		}
		if v, ok := s.lru.Get(o.Key); ok {
			st.Hits++
			s.work[o.Key] = slot{s: v, known: true}
			continue
		}
		st.Misses++
		s.work[o.Key] = slot{}
		if s.client != nil {
			gets = append(gets, storage.GetOperation(storageKey(o.Key)))
			keys = append(keys, o.Key)
		}
	}
	if len(gets) == 0 {
		return
	}
	if err := s.client.Batch(ctx, gets...); err != nil {
		// Unknown is treated as unseen: a possible repeat alert is better
		// than a missed one.
		s.fail(err, st)
		return
	}
	for i, op := range gets {
		if op.Value == nil {
			continue
		}
		if v, err := decode(op.Value); err == nil {
			s.work[keys[i]] = slot{s: v, known: true}
		}
	}
}

// persist writes ops plus anything an earlier failure left unsaved; onFail
// records what must be retried.
func (s *Store) persist(ctx context.Context, ops []*storage.Operation, onFail func(), st *Stats) {
	if !s.set.Persistent {
		return
	}
	if s.client == nil {
		onFail()
		return
	}
	for k := range s.dirty {
		if _, inBatch := s.work[k]; inBatch {
			continue
		}
		if v, ok := s.lru.Peek(k); ok {
			ops = append(ops, storage.SetOperation(storageKey(k), encode(v)))
		}
	}
	if len(ops) == 0 {
		return
	}
	if err := s.client.Batch(ctx, ops...); err != nil {
		onFail()
		s.fail(err, st)
		return
	}
	clear(s.dirty)
	st.Writes += len(ops)
	if s.degraded {
		s.degraded = false
		st.Recovered = true
	}
}

func (s *Store) fail(err error, st *Stats) {
	s.degraded = true
	if st.StorageErr == nil {
		st.StorageErr = err
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
		v, ok := s.lru.Peek(a.Key)
		if !ok || v.alertAt != a.At || v.alertEv != a.Event || v.status != alertInFlight {
			continue // evicted or superseded: the stored state still says in flight, read back as retry
		}
		if !delivered {
			v.status = alertRetry
			s.lru.Add(a.Key, v)
			continue
		}
		v.status = alertDelivered
		s.lru.Add(a.Key, v)
		if s.set.Persistent {
			s.dirty[a.Key] = struct{}{}
		}
	}
}

// maybePrune starts a background sweep when one is due. Called with mu held.
func (s *Store) maybePrune() {
	if _, ok := s.client.(storage.Walker); !ok || s.watermark == 0 {
		return
	}
	if now := s.set.Now(); now.Sub(s.lastPrune) >= s.set.PruneInterval {
		s.lastPrune = now
		client, horizon := s.client, s.watermark-s.window
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			_, _ = prune(context.Background(), client, horizon, &s.pruneMu)
		}()
	}
}

// Prune deletes stored terms whose latest occurrence is older than the
// window before the newest event seen; it returns how many it removed.
func (s *Store) Prune(ctx context.Context) (int, error) {
	s.mu.Lock()
	client, horizon := s.client, s.watermark-s.window
	s.mu.Unlock()
	if client == nil {
		return 0, nil
	}
	return prune(ctx, client, horizon, &s.pruneMu)
}

func prune(ctx context.Context, client storage.Client, horizon int64, mu *sync.Mutex) (int, error) {
	walker, ok := client.(storage.Walker)
	if !ok {
		return 0, nil
	}
	mu.Lock()
	defer mu.Unlock()
	removed := 0
	err := walker.Walk(ctx, func(key string, value []byte) ([]*storage.Operation, error) {
		if !strings.HasPrefix(key, keyPrefix) {
			return nil, nil
		}
		if v, err := decode(value); err == nil && v.latest >= horizon {
			return nil, nil
		}
		removed++
		return []*storage.Operation{storage.DeleteOperation(key)}, nil
	})
	if err != nil {
		return 0, err
	}
	return removed, nil
}

// Close waits for a running sweep and writes what is not saved yet; the
// caller closes the client afterwards.
func (s *Store) Close(ctx context.Context) Stats {
	s.bg.Wait()
	return s.Flush(ctx)
}

// Flush writes delivery marks and states a failed write left unsaved.
func (s *Store) Flush(ctx context.Context) Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	var st Stats
	clear(s.work)
	s.persist(ctx, nil, func() {}, &st)
	return st
}

// clampNanos keeps event times in a range where window arithmetic cannot
// overflow (years 1970 to 2262).
func clampNanos(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, 0)):
		return 0
	case t.After(time.Unix(0, math.MaxInt64/2)):
		return math.MaxInt64 / 2
	}
	return t.UnixNano()
}
