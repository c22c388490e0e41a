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

// pending lists the writes for series changed since the last successful
// save, with the anchor.
func (c *counter) pending() ([]*storage.Operation, []*series) {
	var ops []*storage.Operation
	var changed []*series
	for _, s := range c.series {
		if !s.changed {
			continue
		}
		raw, err := json.Marshal(s)
		if err != nil {
			continue // plain data: cannot fail
		}
		ops = append(ops, storage.SetOperation(storageKey(s.Key), raw))
		changed = append(changed, s)
	}
	if len(ops) > 0 {
		ops = append(ops, storage.SetOperation(anchorKey, binary.BigEndian.AppendUint64(nil, uint64(c.anchor))))
	}
	return ops, changed
}

func deletes(keys []seriesKey) []*storage.Operation {
	ops := make([]*storage.Operation, len(keys))
	for i, k := range keys {
		ops[i] = storage.DeleteOperation(storageKey(k))
	}
	return ops
}

// load merges the stored series into memory: counts made before storage was
// reachable add to the stored ones.
func (c *counter) load(ctx context.Context, client storage.Client) error {
	walker, ok := client.(storage.Walker)
	if !ok {
		return errNoWalk
	}
	return walker.Walk(ctx, func(key string, value []byte) ([]*storage.Operation, error) {
		switch {
		case key == anchorKey && len(value) == 8:
			if a := int64(binary.BigEndian.Uint64(value)); !c.anchorSeen || a > c.anchor {
				c.anchor, c.anchorSeen = a, true
			}
		case strings.HasPrefix(key, seriesPrefix):
			var s series
			if err := json.Unmarshal(value, &s); err != nil {
				return []*storage.Operation{storage.DeleteOperation(key)}, nil // unreadable: drop it
			}
			c.merge(&s)
		}
		return nil, nil
	})
}

func (c *counter) merge(stored *series) {
	s, ok := c.series[stored.Key]
	if !ok {
		c.series[stored.Key] = stored
		return
	}
	s.Total += stored.Total
	s.Start = min(s.Start, stored.Start)
	for _, b := range stored.Buckets {
		for range b.Count {
			s.Buckets = insertBucket(s.Buckets, b.Index)
		}
	}
	s.changed = true
}
