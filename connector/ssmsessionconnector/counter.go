// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionconnector // import "github.com/cloudtrail-detect/ssmsession/connector/ssmsessionconnector"

import (
	"time"

	"github.com/cloudtrail-detect/ssmsession/internal/firstseen"
)

// seriesKey is the hunt's grouping (target, user ARN, user type, outcome),
// the account, and whether the caller was an instance's role.
type seriesKey struct {
	Account            string `json:"account,omitempty"`
	Target             string `json:"target,omitempty"`
	ARN                string `json:"arn,omitempty"`
	Type               string `json:"type,omitempty"`
	Outcome            string `json:"outcome,omitempty"`
	InstanceToInstance bool   `json:"i2i,omitempty"`
	// Overflow marks the series that take counts beyond max_series.
	Overflow bool `json:"overflow,omitempty"`
	// Durations marks a series of session durations (by the start's
	// account, target, ARN and type), not of starts.
	Durations bool `json:"durations,omitempty"`
}

// bucket counts the sessions of one time bucket.
type bucket struct {
	Index int64 `json:"i"` // event time / bucket size, since the Unix epoch
	Count int64 `json:"n"`
}

// series is one counted combination.
type series struct {
	Key   seriesKey `json:"key"`
	Total int64     `json:"total"` // cumulative since Start
	Start int64     `json:"start"` // Unix ns: when this count began
	// Buckets are sparse and ascending, and only those inside the window
	// are kept: memory grows with activity, never beyond window/bucket.
	Buckets []bucket `json:"buckets"`
	// Hist holds the durations of a Durations series (Total is its count,
	// Buckets count terminations).
	Hist *histogram `json:"hist,omitempty"`
	// Shown is the window count the last emission showed (0 when none).
	Shown    int64  `json:"shown,omitempty"`
	changed  bool   // not saved since it last changed
	version  uint64 // the counter generation of its last change
	reported uint64 // the version the last emission reported
}

// counter holds all series. It is not safe for concurrent use.
type counter struct {
	size      int64 // bucket width, ns
	nb        int64 // buckets per window
	maxSeries int
	now       func() time.Time

	series map[seriesKey]*series
	gen    uint64 // counts every change, so a save knows what it covered
	// anchor is the bucket of the newest plausible event time seen; the
	// window is the nb buckets ending with it. newest is that time (Unix
	// ns), from which open sessions age.
	anchor     int64
	anchorSeen bool
	newest     int64
	// storedAnchor and storedNewest are what storage holds of them, when
	// clockStored: a save writes them with any other change, when the
	// anchor has moved, and at an emission when newest has.
	storedAnchor, storedNewest int64
	clockStored                bool

	sessions *sessions

	// persistent says the counts are stored; gone then holds the series
	// that left memory (dropped, or folded into the overflow series at a
	// restore) and whose stored entries a save must still delete, with the
	// generation they left at. Folds are bounded by what storage held;
	// drops waiting for a save by maxSeries: beyond, a stale entry comes
	// back at a restart and is dropped again once reported.
	persistent bool
	gone       map[seriesKey]uint64
}

// limits bound what a counter holds.
type limits struct {
	window, bucket time.Duration
	maxSeries      int
	maxOpen        int
	sessionMaxAge  time.Duration
	persistent     bool
}

func limitsOf(cfg *Config) limits {
	return limits{cfg.Window, cfg.Bucket, cfg.MaxSeries, cfg.MaxOpenSessions, cfg.SessionMaxAge, cfg.Storage != nil}
}

func newCounter(l limits, now func() time.Time) *counter {
	return &counter{
		size:      int64(l.bucket),
		nb:        int64(l.window / l.bucket),
		maxSeries: l.maxSeries,
		now:       now,
		series:    map[seriesKey]*series{},
		sessions:  newSessions(l.maxOpen, int64(l.sessionMaxAge)),

		persistent: l.persistent,
		gone:       map[seriesKey]uint64{},
	}
}

// index is the bucket of t, in the range of times the state keeps
// (firstseen.UnixNanos): a time beyond it must not wrap around into the
// window.
func (c *counter) index(t time.Time) int64 { return firstseen.UnixNanos(t) / c.size }

// plausible reports whether t may move the window. Safe without the lock.
func (c *counter) plausible(t time.Time) bool { return firstseen.Plausible(t, c.now()) }

// observe moves the window's anchor with the event time of any CloudTrail
// record.
func (c *counter) observe(t time.Time) {
	if !c.plausible(t) {
		return
	}
	if i := c.index(t); !c.anchorSeen || i > c.anchor {
		c.anchor, c.anchorSeen = i, true
	}
	c.newest = max(c.newest, t.UnixNano())
}

// oldest is the first bucket index inside the window.
func (c *counter) oldest() int64 { return c.anchor - c.nb + 1 }

// add counts one session at event time t; it reports whether the session
// went to the overflow series.
func (c *counter) add(key seriesKey, t time.Time) (overflowed bool) {
	c.observe(t)
	_, overflowed = c.count(key, t)
	return overflowed
}

// count adds one at event time t to the series of key: to its total, and
// to its bucket when t is inside the window. A time the window does not
// follow (too far ahead of the clock) has no bucket, so a series holds at
// most window/bucket of them.
func (c *counter) count(key seriesKey, t time.Time) (s *series, overflowed bool) {
	s, overflowed = c.seriesOf(key)
	s.Total++
	if i := c.index(t); c.anchorSeen && i >= c.oldest() && i <= c.anchor {
		s.Buckets = addBucket(c.trimmed(s.Buckets), i, 1)
	}
	c.touch(s)
	return s, overflowed
}

// seriesOf is the series of key, created within max_series, else the
// overflow series of its kind.
func (c *counter) seriesOf(key seriesKey) (s *series, overflowed bool) {
	if s, ok := c.series[key]; ok {
		return s, false
	}
	if len(c.series) >= c.maxSeries+c.overflowCount() {
		return c.overflowSeries(key.Durations), true
	}
	s = &series{Key: key, Start: c.now().UnixNano()}
	c.series[key] = s
	return s, false
}

// addDuration records a session of secs seconds that ended at end (Unix
// ns) in the durations series of key.
func (c *counter) addDuration(key seriesKey, secs float64, end int64) {
	key.Durations = true
	s, _ := c.count(key, time.Unix(0, end))
	if s.Hist == nil {
		s.Hist = &histogram{}
	}
	s.Hist.record(secs)
}

// touch marks s changed at a new generation.
func (c *counter) touch(s *series) {
	c.gen++
	s.changed, s.version = true, c.gen
}

// overflowSeries is the series that takes starts, or durations, beyond
// max_series.
func (c *counter) overflowSeries(durations bool) *series {
	key := seriesKey{Overflow: true, Durations: durations}
	s := c.series[key]
	if s == nil {
		s = &series{Key: key, Start: c.now().UnixNano()}
		c.series[key] = s
	}
	return s
}

// overflowCount is how many overflow series exist: they do not count
// against max_series.
func (c *counter) overflowCount() int {
	n := 0
	for _, d := range []bool{false, true} {
		if _, ok := c.series[seriesKey{Overflow: true, Durations: d}]; ok {
			n++
		}
	}
	return n
}

// addBucket adds n sessions to bucket i, keeping the slice ascending.
func addBucket(b []bucket, i, n int64) []bucket {
	for k := len(b) - 1; k >= 0; k-- {
		switch {
		case b[k].Index == i:
			b[k].Count += n
			return b
		case b[k].Index < i:
			b = append(b, bucket{})
			copy(b[k+2:], b[k+1:])
			b[k+1] = bucket{Index: i, Count: n}
			return b
		}
	}
	return append([]bucket{{Index: i, Count: n}}, b...)
}

// inWindow sums the buckets of s inside the window.
func (c *counter) inWindow(s *series) int64 {
	var n int64
	for _, b := range s.Buckets {
		if b.Index >= c.oldest() && b.Index <= c.anchor {
			n += b.Count
		}
	}
	return n
}

// trim drops buckets older than the window from every series, so that
// idle ones can be dropped.
func (c *counter) trim() {
	for _, s := range c.series {
		if b := c.trimmed(s.Buckets); len(b) != len(s.Buckets) {
			s.Buckets = b
			c.touch(s)
		}
	}
}

// trimmed is b without the buckets older than the window: memory grows
// with activity, never beyond window/bucket per series, even between
// emissions.
func (c *counter) trimmed(b []bucket) []bucket {
	n := 0
	for n < len(b) && b[n].Index < c.oldest() {
		n++
	}
	if n == 0 {
		return b
	}
	return append(b[:0], b[n:]...)
}

// drop removes the series idle for a whole window once a delivered
// emission has reported their final counts, and a window gauge that had a
// value was shown falling to 0: after a backfill, every series is reported
// at least once.
func (c *counter) drop() []seriesKey {
	var dropped []seriesKey
	for k, s := range c.series {
		if len(s.Buckets) == 0 && s.reported == s.version && s.Shown == 0 {
			delete(c.series, k)
			if len(c.gone) < c.maxSeries {
				c.left(k)
			}
			dropped = append(dropped, k)
		}
	}
	return dropped
}

// left records that the series of k left memory, for a save to delete.
func (c *counter) left(k seriesKey) {
	if c.persistent {
		c.gen++
		c.gone[k] = c.gen
	}
}
