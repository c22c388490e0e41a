// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package firstseen

import (
	"context"

	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// cacheLen is the number of terms in memory.
func (s *Store) cacheLen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len()
}

// sweepDone waits for the sweep running, if any.
func (s *Store) sweepDone() {
	s.mu.Lock()
	done := s.pruner.done
	s.mu.Unlock()
	if done != nil {
		<-done
	}
}

// pruneNow runs a sweep at once, as the background one does when due.
func (s *Store) pruneNow(ctx context.Context) (int, error) {
	s.mu.Lock()
	client, horizon := s.client, s.horizon()
	s.pruner.running, s.pruner.written, s.pruner.overflow = true, map[Key]struct{}{}, false
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.pruner.running, s.pruner.written = false, nil
		s.mu.Unlock()
	}()
	return s.prune(ctx, client.(storage.Walker), client, horizon)
}
