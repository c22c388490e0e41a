// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionconnector // import "github.com/cloudtrail-detect/ssmsession/connector/ssmsessionconnector"

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"

	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/cloudtrail-detect/ssmsession/internal/firstseen"
)

// Storage layout: one key per series (JSON, readable with bbolt tools) and
// the window's anchor.
const (
	seriesPrefix = "s:"
	anchorKey    = "anchor"
)

var errNoWalk = errors.New("the storage extension cannot list its keys, so counts cannot be restored")

func storageKey(k seriesKey) string {
	id := firstseen.KeyOf("series", []string{k.Account, k.Target, k.ARN, k.Type, k.Outcome, boolStr(k.InstanceToInstance), boolStr(k.Overflow)})
	return seriesPrefix + hex.EncodeToString(id[:])
}

func boolStr(b bool) string {
	if b {
		return "1"
	}
	return ""
}

// snapshot is what one save writes: the changed series at the counter
// generation gen, with the version each had.
type snapshot struct {
	gen    uint64
	ops    []*storage.Operation
	series []savedSeries
}

type savedSeries struct {
	s       *series
	version uint64
}

// pending lists the writes for series changed since the last successful
// save, with the anchor.
func (c *counter) pending() snapshot {
	snap := snapshot{gen: c.gen}
	for _, s := range c.series {
		if !s.changed {
			continue
		}
		raw, err := json.Marshal(s)
		if err != nil {
			continue // plain data: cannot fail
		}
		snap.ops = append(snap.ops, storage.SetOperation(storageKey(s.Key), raw))
		snap.series = append(snap.series, savedSeries{s, s.version})
	}
	if len(snap.ops) > 0 {
		snap.ops = append(snap.ops, storage.SetOperation(anchorKey, binary.BigEndian.AppendUint64(nil, uint64(c.anchor))))
	}
	return snap
}

// saved marks the series of a successful save unchanged, unless they
// changed again since it was taken.
func (c *counter) saved(snap snapshot) {
	for _, ss := range snap.series {
		if ss.s.version == ss.version {
			ss.s.changed = false
		}
	}
}

func deletes(keys []seriesKey) []*storage.Operation {
	ops := make([]*storage.Operation, len(keys))
	for i, k := range keys {
		ops[i] = storage.DeleteOperation(storageKey(k))
	}
	return ops
}

// loadSeries reads the stored series and anchor; unreadable entries are
// deleted.
func loadSeries(ctx context.Context, client storage.Client) (stored []*series, anchor *int64, err error) {
	walker, ok := client.(storage.Walker)
	if !ok {
		return nil, nil, errNoWalk
	}
	err = walker.Walk(ctx, func(key string, value []byte) ([]*storage.Operation, error) {
		switch {
		case key == anchorKey && len(value) == 8:
			a := int64(binary.BigEndian.Uint64(value))
			anchor = &a
		case strings.HasPrefix(key, seriesPrefix):
			var s series
			if err := json.Unmarshal(value, &s); err != nil {
				return []*storage.Operation{storage.DeleteOperation(key)}, nil // unreadable: drop it
			}
			stored = append(stored, &s)
		}
		return nil, nil
	})
	return stored, anchor, err
}

// restore merges stored series into memory: counts made before storage was
// reachable add to the stored ones, and max_series bounds the result.
func (c *counter) restore(stored []*series, anchor *int64) {
	if anchor != nil && (!c.anchorSeen || *anchor > c.anchor) {
		c.anchor, c.anchorSeen = *anchor, true
	}
	for _, s := range stored {
		c.merge(s)
	}
}

// merge adds a stored series to memory, bounded by max_series; it is
// reported again before it can be dropped.
func (c *counter) merge(stored *series) {
	s, ok := c.series[stored.Key]
	if !ok {
		if len(c.series) < c.maxSeries+c.overflowCount() || stored.Key.Overflow {
			c.series[stored.Key] = stored
			c.gen++
			stored.version = c.gen // not reported yet, and already saved
			return
		}
		// Beyond max_series: its counts go to the overflow series.
		s = c.overflowSeries()
	}
	s.Total += stored.Total
	s.Start = min(s.Start, stored.Start)
	for _, b := range stored.Buckets {
		s.Buckets = addBucket(s.Buckets, b.Index, b.Count)
	}
	c.touch(s)
}
