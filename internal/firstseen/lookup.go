// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package firstseen // import "github.com/cloudtrail-detect/ssmsession/internal/firstseen"

import (
	"context"
	"time"
)

// Lookup returns the states of keys known to memory or storage, reading
// storage outside the lock for the ones memory does not hold. complete is
// false when a configured storage is not attached: a key not found may then
// be stored. It fails when storage could not answer.
func (s *Store) Lookup(ctx context.Context, keys []Key) (found map[Key]State, complete bool, err error) {
	found = make(map[Key]State, len(keys))
	var missing []Key
	s.mu.Lock()
	for _, k := range keys {
		if v, ok := s.lookup(k); ok {
			found[k] = v
		} else {
			missing = append(missing, k)
		}
	}
	client, attached := s.client, s.client != nil || !s.set.Persistent
	s.mu.Unlock()
	if len(missing) == 0 || !attached {
		return found, attached, nil
	}
	var st Stats
	loaded := s.load(ctx, client, missing, &st)
	if st.StorageErr != nil {
		return found, false, st.StorageErr
	}
	for k, v := range loaded {
		found[k] = v
	}
	return found, true, nil
}

// Complete is the event time from which the store still holds every state
// it recorded (zero: all of them); older ones may have been evicted without
// storage, dropped while storage failed, or swept as expired.
func (s *Store) Complete() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.complete == 0 {
		return time.Time{}
	}
	return time.Unix(0, s.complete).UTC()
}
