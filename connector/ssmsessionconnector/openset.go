// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionconnector // import "github.com/cloudtrail-detect/ssmsession/connector/ssmsessionconnector"

import "container/heap"

// openSet holds sessions by id, at most max, and pushes out the least
// recently active in event time (the smallest Last) when full: the order
// sessions arrive in says nothing of it when events come late or out of
// order (a backfill after live traffic must not push out live sessions).
// A min-heap on Last keeps that one step per change.
type openSet struct {
	byID map[string]*openSession
	heap byActivity
	max  int
}

func newOpenSet(maxLen int) *openSet {
	return &openSet{byID: map[string]*openSession{}, max: maxLen}
}

func (o *openSet) Get(id string) (*openSession, bool) {
	e, ok := o.byID[id]
	return e, ok
}

func (o *openSet) Contains(id string) bool { _, ok := o.byID[id]; return ok }

func (o *openSet) Len() int { return len(o.byID) }

// Values lists the sessions, in no order; the set may change while the
// caller walks the list.
func (o *openSet) Values() []*openSession { return append([]*openSession(nil), o.heap...) }

// Add keeps e, whose id the set does not hold; when full, the least
// recently active session goes, which may be e itself: it returns the one
// pushed out, or nil.
func (o *openSet) Add(e *openSession) (out *openSession) {
	if len(o.heap) >= o.max {
		if o.heap[0].Last > e.Last {
			return e
		}
		out = o.heap[0]
		o.Remove(out.ID)
	}
	o.byID[e.ID] = e
	heap.Push(&o.heap, e)
	return out
}

func (o *openSet) Remove(id string) {
	if e, ok := o.byID[id]; ok {
		delete(o.byID, id)
		heap.Remove(&o.heap, e.idx)
	}
}

// Moved restores the order after e's Last changed.
func (o *openSet) Moved(e *openSession) { heap.Fix(&o.heap, e.idx) }

// byActivity is a min-heap of sessions on Last (container/heap).
type byActivity []*openSession

func (h byActivity) Len() int           { return len(h) }
func (h byActivity) Less(i, j int) bool { return h[i].Last < h[j].Last }
func (h byActivity) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *byActivity) Push(x any) {
	e := x.(*openSession)
	e.idx = len(*h)
	*h = append(*h, e)
}
func (h *byActivity) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
