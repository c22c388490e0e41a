// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionconnector // import "github.com/cloudtrail-detect/ssmsession/connector/ssmsessionconnector"

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/cloudtrail-detect/ssmsession/internal/firstseen"
)

// Storage layout: one key per series and per open session (JSON, readable
// with bbolt tools), the window's anchor, the newest event time, and the
// open counts the last delivered emission showed.
const (
	seriesPrefix = "s:"
	openPrefix   = "o:"
	anchorKey    = "anchor"
	newestKey    = "newest"
	shownKey     = "shown"
)

// shownOpen is one stored entry of the open counts shown.
type shownOpen struct {
	Account string `json:"account"`
	Target  string `json:"target"`
	Open    int64  `json:"open"`
}

var errNoWalk = errors.New("the storage extension cannot list its keys, so counts cannot be restored: use file_storage")

func storageKey(k seriesKey) string {
	fields := []string{k.Account, k.Target, k.ARN, k.Type, k.Outcome, boolStr(k.InstanceToInstance), boolStr(k.Overflow)}
	if k.Durations { // appended only for them: the keys of starts are as they were
		fields = append(fields, "durations")
	}
	id := firstseen.KeyOf("series", fields)
	return seriesPrefix + hex.EncodeToString(id[:])
}

func openKey(sessionID string) string {
	id := firstseen.KeyOf("open", []string{sessionID})
	return openPrefix + hex.EncodeToString(id[:])
}

func boolStr(b bool) string {
	if b {
		return "1"
	}
	return ""
}

// snapshot is what one save writes: the changed series and open sessions
// at the counter generation gen, with the version each had, and the
// deletes of series gone from memory.
type snapshot struct {
	gen     uint64
	ops     []*storage.Operation
	series  []savedSeries
	opens   map[string]uint64
	deletes []string // the sessions it deletes
	gone    map[seriesKey]uint64
	shown   uint64 // the generation of the open counts shown, when saved
	// clock says the anchor and newest time below are written.
	clock          bool
	anchor, newest int64
}

type savedSeries struct {
	s       *series
	version uint64
}

// pending lists the writes for series changed since the last successful
// save, with the anchor; without storage, only what a save covers. The
// anchor (and newest time) is also written alone once it moves to another
// bucket, and newest alone at an emission: a restart must not let a late
// event into a window that had moved past it.
func (c *counter) pending(emitting bool) snapshot {
	snap := snapshot{gen: c.gen}
	if len(c.gone) > 0 {
		snap.gone = maps.Clone(c.gone)
	}
	for _, s := range c.series {
		if !s.changed {
			continue
		}
		snap.series = append(snap.series, savedSeries{s, s.version})
		if !c.persistent {
			continue
		}
		if raw, err := json.Marshal(s); err == nil { // plain data: cannot fail
			snap.ops = append(snap.ops, storage.SetOperation(storageKey(s.Key), raw))
		}
	}
	for k := range snap.gone {
		if _, back := c.series[k]; !back { // else its Set is above
			snap.ops = append(snap.ops, storage.DeleteOperation(storageKey(k)))
		}
	}
	if len(c.sessions.changed) > 0 {
		snap.opens = make(map[string]uint64, len(c.sessions.changed))
	}
	for id, version := range c.sessions.changed {
		snap.opens[id] = version
		if !c.persistent {
			continue
		}
		e, ok := c.sessions.set.Get(id)
		if !ok {
			snap.ops = append(snap.ops, storage.DeleteOperation(openKey(id)))
			snap.deletes = append(snap.deletes, id)
			continue
		}
		if raw, err := json.Marshal(e); err == nil {
			snap.ops = append(snap.ops, storage.SetOperation(openKey(id), raw))
			// Possibly stored from now on: an end before this save
			// returns keeps its delete.
			c.sessions.stored[id] = true
		}
	}
	if snap.shown = c.sessions.shownGen; snap.shown != 0 && c.persistent {
		list := make([]shownOpen, 0, len(c.sessions.shown))
		for k, n := range c.sessions.shown {
			list = append(list, shownOpen{k[0], k[1], n})
		}
		if raw, err := json.Marshal(list); err == nil {
			snap.ops = append(snap.ops, storage.SetOperation(shownKey, raw))
		}
	}
	moved := c.persistent && c.anchorSeen &&
		(!c.clockStored || c.anchor != c.storedAnchor || emitting && c.newest != c.storedNewest)
	if len(snap.ops) > 0 || moved {
		snap.clock, snap.anchor, snap.newest = true, c.anchor, c.newest
		snap.ops = append(snap.ops,
			// The bucket width with the anchor: indexes count buckets of it.
			storage.SetOperation(anchorKey, binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, uint64(c.anchor)), uint64(c.size))),
			storage.SetOperation(newestKey, binary.BigEndian.AppendUint64(nil, uint64(c.newest))))
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
	for id, version := range snap.opens {
		if c.sessions.changed[id] == version {
			delete(c.sessions.changed, id)
		}
	}
	for _, id := range snap.deletes {
		delete(c.sessions.stored, id) // (pending, which would mark it again, waits for this save)
	}
	for k, gen := range snap.gone {
		if c.gone[k] == gen {
			delete(c.gone, k)
		}
	}
	if snap.shown != 0 && c.sessions.shownGen == snap.shown {
		c.sessions.shownGen = 0
	}
	if snap.clock {
		c.storedAnchor, c.storedNewest, c.clockStored = snap.anchor, snap.newest, true
	}
}

// stored is what storage held for the counter.
type stored struct {
	series []*series
	opens  []*openSession
	shown  []shownOpen
	anchor *int64
	width  int64 // the bucket width (ns) the indexes count; 0: not stored
	newest int64
}

// loadSeries reads the stored series, open sessions, anchor and newest
// event time; unreadable entries are deleted.
func loadSeries(ctx context.Context, client storage.Client) (st stored, err error) {
	walker, ok := client.(storage.Walker)
	if !ok {
		return st, errNoWalk
	}
	err = walker.Walk(ctx, func(key string, value []byte) ([]*storage.Operation, error) {
		switch {
		case key == anchorKey && (len(value) == 8 || len(value) == 16):
			a := int64(binary.BigEndian.Uint64(value))
			st.anchor = &a
			if len(value) == 16 {
				st.width = int64(binary.BigEndian.Uint64(value[8:]))
			}
		case key == newestKey && len(value) == 8:
			st.newest = int64(binary.BigEndian.Uint64(value))
		case key == shownKey:
			if err := json.Unmarshal(value, &st.shown); err != nil {
				st.shown = nil
				return []*storage.Operation{storage.DeleteOperation(key)}, nil
			}
		case strings.HasPrefix(key, seriesPrefix):
			var s series
			if err := json.Unmarshal(value, &s); err != nil || !s.Hist.valid() {
				return []*storage.Operation{storage.DeleteOperation(key)}, nil // unreadable: drop it
			}
			st.series = append(st.series, &s)
		case strings.HasPrefix(key, openPrefix):
			var o openSession
			if err := json.Unmarshal(value, &o); err != nil || o.ID == "" {
				return []*storage.Operation{storage.DeleteOperation(key)}, nil
			}
			st.opens = append(st.opens, &o)
		}
		return nil, nil
	})
	return st, err
}

// restore merges what was stored into memory: counts made before storage
// was reachable add to the stored ones, max_series bounds the result,
// sessions opened or ended meanwhile win over their stored state, and an
// open count shown before the stop is owed its 0 unless memory shows it.
func (c *counter) restore(st stored) {
	rebucketed := st.width > 0 && st.width != c.size
	if rebucketed {
		st.rebucket(c) // and saved so with the next batch
	}
	if st.anchor != nil && (!c.anchorSeen || *st.anchor > c.anchor) {
		c.anchor, c.anchorSeen = *st.anchor, true
	}
	if st.anchor != nil && st.width == c.size { // else written again, in this width
		c.storedAnchor, c.storedNewest, c.clockStored = *st.anchor, st.newest, true
	}
	c.newest = max(c.newest, st.newest)
	for _, s := range st.series {
		if c.merge(s); rebucketed && c.series[s.Key] == s {
			c.touch(s)
		}
	}
	var kept []*openSession
	for _, o := range st.opens {
		c.sessions.stored[o.ID] = true
		e, ok := c.sessions.set.Get(o.ID)
		switch {
		case !ok && !c.sessionChanged(o.ID):
			kept = append(kept, o)
		case ok && e.Start == 0 && e.Ended != 0 && o.Ended == 0:
			c.pairEarlyEnd(e, o.Key, o.Start, o.Last) // an end memory met first: they pair
		case ok && e.Ended == 0 && o.Start == 0 && o.Ended != 0:
			// A start memory met after the stored end and its resume.
			if o.Resumed != 0 {
				c.resumeSession(o.ID, o.Resumed)
			}
			c.terminateSession(o.ID, o.Ended)
		}
	}
	c.restoreOpen(kept)
	for _, sh := range st.shown {
		if k := [2]string{sh.Account, sh.Target}; c.sessions.shown[k] == 0 && sh.Open > 0 {
			c.sessions.shown[k] = sh.Open
		}
	}
}

// restoreOpen adds stored sessions memory does not hold, as stored (not
// changed): max_open_sessions pushes out the least recently active of both,
// whatever order storage listed them in.
func (c *counter) restoreOpen(kept []*openSession) {
	for _, e := range kept {
		c.sessions.admit(c, e)
	}
}

// rebucket re-indexes what was stored under another bucket width to the
// counter's (bucket changed across the restart): each bucket goes to the
// one holding its start, so no count is lost or dated into the future.
func (st *stored) rebucket(c *counter) {
	at := func(i int64) int64 { return c.index(time.Unix(0, i*st.width)) }
	if st.anchor != nil {
		a := at(*st.anchor)
		st.anchor = &a
	}
	for _, s := range st.series {
		old := s.Buckets
		s.Buckets = nil
		for _, b := range old {
			s.Buckets = addBucket(s.Buckets, at(b.Index), b.Count)
		}
	}
	st.width = c.size
}

// sessionChanged reports whether memory changed the session since start,
// ending or forgetting it: the stored state is then out of date.
func (c *counter) sessionChanged(id string) bool {
	_, ok := c.sessions.changed[id]
	return ok
}

// merge adds a stored series to memory, bounded by max_series; it is
// reported again before it can be dropped. What a delivered emission showed
// is memory's when it emitted the series, else the stored one's (owed its
// 0 when it falls).
func (c *counter) merge(stored *series) {
	s, ok := c.series[stored.Key]
	if !ok {
		if len(c.series) < c.maxSeries+c.overflowCount() || stored.Key.Overflow {
			c.series[stored.Key] = stored
			c.gen++
			stored.version = c.gen // not reported yet, and already saved
			return
		}
		// Beyond max_series: its counts go to the overflow series, and
		// its entry is deleted when that is saved.
		s = c.overflowSeries(stored.Key.Durations)
		c.left(stored.Key)
	}
	if ok && s.Shown == 0 {
		s.Shown = stored.Shown
	}
	s.Total += stored.Total
	s.Start = min(s.Start, stored.Start)
	for _, b := range stored.Buckets {
		s.Buckets = addBucket(s.Buckets, b.Index, b.Count)
	}
	if stored.Hist != nil {
		if s.Hist == nil {
			s.Hist = &histogram{}
		}
		s.Hist.merge(stored.Hist)
	}
	c.touch(s)
}
