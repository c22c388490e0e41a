// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package launches // import "github.com/cloudtrail-detect/ssmsession/internal/launches"

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/cloudtrail-detect/ssmsession/internal/firstseen"
)

// watchBeginKey is the storage key of the event time watching began;
// keyPrefix begins the keys of launches, in the storage client the terms use.
const (
	watchBeginKey = "launch_watch_begin"
	keyPrefix     = "l:"
)

// Local keeps launches in a firstseen.Store: an instance's first
// occurrence is its launch, so the store's bounded LRU, its storage
// extension, group writes and sweeps serve launches as they serve terms.
type Local struct {
	store *firstseen.Store

	// Only this component writes its storage client, so an instance
	// storage said was never launched stays so until Record says
	// otherwise: absent caches those answers (bounded), so a long-lived
	// target costs one read, not one per session. A lookup that raced a
	// Record is not cached: records moves when one begins and when it
	// ends, recording counts those in flight.
	mu        sync.Mutex
	absent    *simplelru.LRU[string, struct{}]
	records   uint64
	recording int
}

var _ Store = (*Local)(nil)

// NewLocal returns a store over set (its Window is the launch history).
func NewLocal(set firstseen.Settings) (*Local, error) {
	// Launches raise nothing to deliver: recorded as delivered when
	// decided, so that none waits in memory, past the cache, for an outcome.
	set.KeyPrefix, set.MarkKey, set.Unalerted = keyPrefix, watchBeginKey, true
	s, err := firstseen.New(set)
	if err != nil {
		return nil, err
	}
	absent, err := simplelru.NewLRU[string, struct{}](set.CacheSize, nil)
	if err != nil {
		return nil, err
	}
	return &Local{store: s, absent: absent}, nil
}

// SetClient attaches (or, with nil, detaches) the storage client.
func (l *Local) SetClient(c storage.Client) { l.store.SetClient(c) }

func keyOf(instance string) firstseen.Key { return firstseen.KeyOf("launch", []string{instance}) }

// Record implements Store.
func (l *Local) Record(ctx context.Context, launches []Launch, begin time.Time) (firstseen.Stats, error) {
	var st firstseen.Stats
	if !begin.IsZero() {
		// Proposed first, so that the batch's write below carries a new
		// mark: a crash after the batch must not let a later one move it.
		l.store.Mark(ctx, begin)
	}
	if len(launches) > 0 {
		l.mu.Lock()
		l.records++
		l.recording++
		for _, la := range launches {
			l.absent.Remove(la.Instance)
		}
		l.mu.Unlock()
		obs := make([]firstseen.Observation, len(launches))
		for i, la := range launches {
			obs[i] = firstseen.Observation{Key: keyOf(la.Instance), Time: la.At, Event: la.Event}
		}
		_, st = l.store.Observe(ctx, obs, make([]bool, len(obs)))
		l.mu.Lock()
		l.records++
		l.recording--
		l.mu.Unlock()
	}
	if !begin.IsZero() && len(launches) == 0 { // a new mark is written now (no I/O if none is)
		st = l.store.Flush(ctx)
	}
	return st, st.StorageErr
}

// Lookup implements Store.
func (l *Local) Lookup(ctx context.Context, ids []string) (map[string]time.Time, time.Time, error) {
	l.mu.Lock()
	gen, idle := l.records, l.recording == 0
	asked := make([]string, 0, len(ids))
	for _, id := range ids {
		if !l.absent.Contains(id) {
			asked = append(asked, id)
		}
	}
	l.mu.Unlock()
	keys := make([]firstseen.Key, len(asked))
	for i, id := range asked {
		keys[i] = keyOf(id)
	}
	states, complete, err := l.store.Lookup(ctx, keys) // with an error, what memory holds
	launched := make(map[string]time.Time, len(states))
	l.mu.Lock()
	for i, id := range asked {
		if v, ok := states[keys[i]]; ok {
			launched[id] = time.Unix(0, v.AlertAt).UTC()
		} else if complete && idle && l.records == gen {
			l.absent.Add(strings.Clone(id), struct{}{}) // Lookup's ids may be views
		}
	}
	l.mu.Unlock()
	if err != nil {
		return launched, time.Time{}, err
	}
	begun, ok := l.store.Mark(ctx, time.Time{})
	if !complete || !ok || begun.IsZero() {
		return launched, time.Time{}, nil
	}
	return launched, later(begun, l.store.Complete()), nil
}

// Close implements Store.
func (l *Local) Close(ctx context.Context) firstseen.Stats { return l.store.Close(ctx) }

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
