// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package firstseen // import "github.com/cloudtrail-detect/ssmsession/internal/firstseen"

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"
)

// LearningKey holds the end of the learning period beside the terms, so a
// restart, or kill -9, finds it where the state is: the default MarkKey.
const LearningKey = "learning_end"

// mark is the store's knowledge of its one set-once time. Guarded by the
// store's mutex.
type mark struct {
	end     int64  // Unix ns; 0: not set
	known   bool   // end is what storage holds (or there is no storage)
	unsaved bool   // end is to be written
	gen     uint64 // the change generation that set it
	// early is the earliest proposal made while storage could not say:
	// the mark, once decided, is not later than it.
	early int64
}

// Earliest is the earlier of two proposed times (in one unit), 0 being
// none: a set-once mark is not later than any proposal made before it is
// set.
func Earliest(a, b int64) int64 {
	if a == 0 || b != 0 && b < a {
		return b
	}
	return a
}

// LearningEnd implements Decider: the learning period's end is the store's
// mark.
func (s *Store) LearningEnd(ctx context.Context, proposed time.Time) (time.Time, bool) {
	return s.Mark(ctx, proposed)
}

// Mark is a time stored with the state once and never moved: the one
// recorded, or, when none is, proposed, recorded first. The stored mark is
// read once, outside the lock; a proposal is written with the next batch's
// states, before the batch is passed on. A zero proposal only reads. ok is
// false while storage is configured and cannot say.
func (s *Store) Mark(ctx context.Context, proposed time.Time) (time.Time, bool) {
	s.mu.Lock()
	l, client := s.learning, s.client
	s.mu.Unlock()
	if l.end != 0 {
		return time.Unix(0, l.end).UTC(), true
	}
	var stored int64
	var err error
	if !l.known && client != nil {
		var v []byte
		if v, err = client.Get(ctx, s.set.MarkKey); len(v) == 8 {
			stored = int64(binary.BigEndian.Uint64(v))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	propose := Earliest(UnixNanos(proposed), s.learning.early) // 0: none
	if err != nil {
		s.failedOutside(fmt.Errorf("reading the learning end: %w", err))
	}
	if !l.known && (err != nil || client == nil && s.set.Persistent) {
		// Unknown (a failed read, or storage not attached yet): no mark, or
		// two could exist. The proposal is kept for when storage answers.
		s.learning.early = propose
		return time.Time{}, false
	}
	switch {
	case s.learning.end != 0: // decided meanwhile
	case stored != 0:
		s.learning = mark{end: stored, known: true}
	case propose == 0:
		s.learning.known = true
		return time.Time{}, true
	default:
		s.changes++
		s.learning = mark{end: propose, known: true, unsaved: s.set.Persistent, gen: s.changes}
	}
	return time.Unix(0, s.learning.end).UTC(), true
}

func encodeNanos(ns int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(ns)) }
