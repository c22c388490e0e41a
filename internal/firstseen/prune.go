// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package firstseen // import "github.com/cloudtrail-detect/ssmsession/internal/firstseen"

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// A sweep reads the stored terms in walks that stop after pruneScan expired
// keys, and deletes those in transactions of pruneChunk: file_storage runs a
// walk as one write transaction, so short ones let batches write between
// them.
const (
	pruneScan  = 50_000
	pruneChunk = 1_000
)

// pruner runs the background sweep of stored terms older than the window.
// Its fields are guarded by the store's mutex.
type pruner struct {
	last    time.Time
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{} // closed when the running sweep ends; nil when none ran
	running bool
	// written holds the terms stored while the sweep runs: a walk may have
	// found one expired before it came back, so it is not deleted. Beyond
	// sweepWritten (or a cache's worth, if more) the sweep stops deleting
	// (overflow) until the next one.
	written  map[Key]struct{}
	overflow bool
}

// sweepWritten bounds the terms a sweep remembers as stored meanwhile (16
// bytes each and the map's overhead: a few MiB).
const sweepWritten = 1 << 16

// wrote records terms stored while a sweep runs. Called with the store's
// mutex held.
func (p *pruner) wrote(states map[Key]State, limit int) {
	if !p.running {
		return
	}
	limit = max(limit, sweepWritten)
	for k := range states {
		if len(p.written) >= limit {
			p.overflow = true
			return
		}
		p.written[k] = struct{}{}
	}
}

func (p *pruner) init(now time.Time) {
	p.last = now
	p.ctx, p.cancel = context.WithCancel(context.Background())
}

// maybeStart starts a sweep when one is due. Called with the store's mutex
// held.
func (p *pruner) maybeStart(s *Store) {
	walker, ok := s.client.(storage.Walker)
	if !ok || s.watermark == 0 || p.running || p.ctx.Err() != nil {
		return
	}
	now := s.set.Now()
	if now.Sub(p.last) < s.set.PruneInterval {
		return
	}
	p.last, p.running = now, true
	p.written, p.overflow = map[Key]struct{}{}, false
	done := make(chan struct{})
	p.done = done
	client, horizon := s.client, s.horizon()
	s.complete = max(s.complete, horizon)
	go func() {
		defer close(done)
		removed, err := s.prune(p.ctx, walker, client, horizon)
		if s.set.OnPrune != nil {
			s.set.OnPrune(removed)
		}
		s.mu.Lock()
		p.running, p.written = false, nil
		if err != nil && p.ctx.Err() == nil { // not the stop's cancellation
			s.failedOutside(fmt.Errorf("pruning stored terms: %w", err))
		}
		s.mu.Unlock()
	}()
}

// horizon is the event time (Unix ns) before which a stored state's latest
// occurrence has it swept: older than the window, and than LateSlack, before
// the newest event time seen. Called with the store's mutex held.
func (s *Store) horizon() int64 { return s.watermark - s.window - int64(LateSlack) }

// stop cancels a running sweep and waits for it, within ctx.
func (p *pruner) stop(ctx context.Context, s *Store) {
	s.mu.Lock()
	p.cancel()
	done := p.done
	s.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-ctx.Done():
		}
	}
}

// prune deletes stored terms whose latest occurrence is before horizon,
// unless memory holds a newer occurrence (the term came back meanwhile). It
// stops when ctx is cancelled, and returns how many it removed.
func (s *Store) prune(ctx context.Context, walker storage.Walker, client storage.Client, horizon int64) (int, error) {
	removed := 0
	for {
		var expired []string
		err := walker.Walk(ctx, func(key string, value []byte) ([]*storage.Operation, error) {
			if !strings.HasPrefix(key, s.set.KeyPrefix) {
				return nil, nil
			}
			if v, err := decode(value); err == nil && v.Latest >= horizon {
				return nil, nil
			}
			if expired = append(expired, key); len(expired) >= pruneScan {
				return nil, storage.SkipAll
			}
			return nil, nil
		})
		if err != nil {
			return removed, err
		}
		before := removed
		for i := 0; i < len(expired); i += pruneChunk {
			ops := s.deletable(expired[i:min(i+pruneChunk, len(expired))], horizon)
			if len(ops) == 0 {
				continue
			}
			if err := client.Batch(ctx, ops...); err != nil {
				return removed, err
			}
			s.rewriteDeleted(ops)
			removed += len(ops)
		}
		// Another walk would find the same keys when none of them went.
		if len(expired) < pruneScan || removed == before {
			return removed, nil
		}
	}
}

// rewriteDeleted writes again, with the next batch, the terms among the
// deletes ops that a batch began to write after deletable let them go: the
// delete may have landed after that write.
func (s *Store) rewriteDeleted(ops []*storage.Operation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, op := range ops {
		k, ok := s.termOf(op.Key)
		if _, written := s.pruner.written[k]; !ok || !written {
			continue
		}
		for _, w := range s.writer.written { // which would count it as stored
			delete(w.states, k)
		}
		if v, ok := s.peek(k); ok {
			s.change(k, v)
		}
	}
}

// termOf is the term a storage key holds; false for another key.
func (s *Store) termOf(storageKey string) (Key, bool) {
	var k Key
	raw, err := hex.DecodeString(strings.TrimPrefix(storageKey, s.set.KeyPrefix))
	if err != nil || len(raw) != len(k) {
		return k, false
	}
	copy(k[:], raw)
	return k, true
}

// deletable turns expired storage keys into deletes, leaving out the terms
// memory knows a recent occurrence of and those stored since the sweep
// began (their stored state may be newer than the walk's).
func (s *Store) deletable(keys []string, horizon int64) []*storage.Operation {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pruner.overflow {
		return nil
	}
	ops := make([]*storage.Operation, 0, len(keys))
	for _, sk := range keys {
		if k, ok := s.termOf(sk); ok {
			if v, ok := s.peek(k); ok && v.Latest >= horizon {
				continue
			}
			if _, ok := s.pruner.written[k]; ok {
				continue
			}
		}
		ops = append(ops, storage.DeleteOperation(sk))
	}
	return ops
}
