// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionconnector // import "github.com/cloudtrail-detect/ssmsession/connector/ssmsessionconnector"

import "math"

// DurationBounds are the explicit bounds of aws.ssm.session.duration, in
// seconds: a minute, 5 and 15 minutes, half an hour, an hour, 4 hours, a day.
var DurationBounds = []float64{60, 300, 900, 1800, 3600, 14400, 86400}

// histogram is a cumulative explicit-bucket histogram of durations.
type histogram struct {
	Sum    float64 `json:"sum"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Counts []int64 `json:"counts"` // len(DurationBounds)+1
}

func (h *histogram) record(secs float64) {
	if h.Counts == nil {
		h.Counts = make([]int64, len(DurationBounds)+1)
		h.Min, h.Max = math.Inf(1), math.Inf(-1)
	}
	i := 0
	for i < len(DurationBounds) && secs > DurationBounds[i] {
		i++
	}
	h.Counts[i]++
	h.Sum += secs
	h.Min, h.Max = min(h.Min, secs), max(h.Max, secs)
}

// valid reports whether a stored histogram has one count per bucket (or
// none: nothing recorded yet).
func (h *histogram) valid() bool {
	return h == nil || h.Counts == nil || len(h.Counts) == len(DurationBounds)+1
}

// merge adds another histogram's counts.
func (h *histogram) merge(o *histogram) {
	if o == nil || o.Counts == nil {
		return
	}
	if h.Counts == nil {
		*h = histogram{Sum: o.Sum, Min: o.Min, Max: o.Max, Counts: append([]int64(nil), o.Counts...)}
		return
	}
	for i := range h.Counts {
		if i < len(o.Counts) {
			h.Counts[i] += o.Counts[i]
		}
	}
	h.Sum += o.Sum
	h.Min, h.Max = min(h.Min, o.Min), max(h.Max, o.Max)
}

// openSession is a session started and not terminated yet, or a
// TerminateSession that came before its StartSession (Ended set), which
// CloudTrail's delivery order allows: the start, when it comes, pairs with it.
type openSession struct {
	ID    string    `json:"id"`
	Key   seriesKey `json:"key"`   // the start's hunt attributes (a durations key)
	Start int64     `json:"start"` // Unix ns of event time
	Last  int64     `json:"last"`  // newest activity: start, resume or early end
	Ended int64     `json:"ended,omitempty"`
	// Resumed is, for an end met before its start, the newest resume
	// before that end: activity the start's pairing counts.
	Resumed int64 `json:"resumed,omitempty"`
	idx     int   // in the openSet's heap
}

// sessions holds the open sessions, bounded: the least recently active (in
// event time) goes when max_open_sessions is reached. Changes are versioned
// by the counter's generation, so a save knows what it covered. Guarded by
// the connector's mutex, as the counter is.
type sessions struct {
	set     *openSet
	maxAge  int64             // ns
	changed map[string]uint64 // id -> counter generation of its last change (set or delete)
	// stored holds the sessions storage may hold: restored, or written by a
	// save (from when it begins, so that an end meanwhile keeps its
	// delete), and not deleted since. Only those need a delete.
	stored  map[string]bool
	maxOpen int
	// shown is the open count per account and target the last delivered
	// emission showed, so a count falling to 0 is shown once; stored, so
	// that a 0 owed when the collector stops is shown after the restart.
	// shownGen is the counter generation of its last change, 0 once saved.
	shown    map[[2]string]int64
	shownGen uint64
	// evicted counts the sessions max_open_sessions pushed out, since the
	// connector last read it.
	evicted int
	// agedOut counts the sessions forgotten for their age, likewise.
	agedOut int
}

func newSessions(maxOpen int, maxAge int64) *sessions {
	return &sessions{set: newOpenSet(maxOpen), maxAge: maxAge, maxOpen: maxOpen, changed: map[string]uint64{},
		stored: map[string]bool{}, shown: map[[2]string]int64{}}
}

// lifecycle is what the counter did with one lifecycle call.
type lifecycle uint8

const (
	lifeIgnored    lifecycle = iota // a duplicate, or nothing to do
	lifeOpened                      // a session is open
	lifeTerminated                  // a start and its end paired: a duration
	lifeUnknown                     // an end (or resume) of a session not known
)

// Whether a session was still open when a later call names it is decided
// by the two events' times alone, not by when the connector aged it out:
// the answer is the same however the events are batched.

// aged reports whether a session last active at last had aged out by at.
func (s *sessions) aged(last, at int64) bool { return at-last > s.maxAge }

// openSessionAt records a successful StartSession: it opens the session,
// or pairs it with the end that came first.
func (c *counter) openSessionAt(id string, key seriesKey, at int64) lifecycle {
	s := c.sessions
	e, ok := s.set.Get(id)
	switch {
	case ok && e.Ended == 0:
		return lifeIgnored // the same session again
	case ok:
		return c.pairEarlyEnd(e, key, at, at)
	}
	s.add(c, &openSession{ID: id, Key: key, Start: at, Last: at})
	return lifeOpened
}

// pairEarlyEnd pairs e, an end met before its start, with that start (its
// last activity at last, or a resume kept with the end): a duration,
// unless it had aged out before the end.
func (c *counter) pairEarlyEnd(e *openSession, key seriesKey, start, last int64) lifecycle {
	if c.sessions.aged(max(last, e.Resumed), e.Ended) {
		c.sessions.forget(c, e.ID)
		return lifeIgnored
	}
	e.Key, e.Start = key, start
	c.endSession(e, e.Ended)
	return lifeTerminated
}

// resumeSession renews a session's activity: ResumeSession keeps it open.
// Of an end met before its start, a resume before that end is kept for the
// start's pairing; a resume that comes after both cannot change it.
func (c *counter) resumeSession(id string, at int64) {
	s := c.sessions
	e, ok := s.set.Get(id)
	switch {
	case !ok:
	case e.Ended != 0:
		if at <= e.Ended && at > e.Resumed {
			e.Resumed = at
			s.touch(c, id)
		}
	case s.aged(e.Last, at):
		s.forget(c, id)
	case at > e.Last:
		e.Last = at
		s.set.Moved(e)
		s.touch(c, id)
	}
}

// terminateSession ends a session: its duration is recorded. An end of a
// session not known is kept, for a start that comes later.
func (c *counter) terminateSession(id string, at int64) lifecycle {
	s := c.sessions
	e, ok := s.set.Get(id)
	switch {
	case ok && e.Ended != 0:
		return lifeIgnored
	case ok && s.aged(e.Last, at):
		s.forget(c, id)
		return lifeUnknown
	case ok:
		c.endSession(e, at)
		return lifeTerminated
	}
	s.add(c, &openSession{ID: id, Last: at, Ended: at})
	return lifeUnknown
}

// forget removes a session.
func (s *sessions) forget(c *counter, id string) {
	s.set.Remove(id)
	s.touch(c, id)
}

// endSession records the duration of e, ended at end, and forgets it.
func (c *counter) endSession(e *openSession, end int64) {
	secs := float64(max(end-e.Start, 0)) / 1e9
	c.addDuration(e.Key, secs, end)
	c.sessions.forget(c, e.ID)
}

// add keeps e, changed.
func (s *sessions) add(c *counter, e *openSession) {
	s.admit(c, e)
	s.touch(c, e.ID)
}

// admit puts e in the set; when max_open_sessions is reached, the least
// recently active session (e itself, when it is) is pushed out, and
// removed from storage with the next save.
func (s *sessions) admit(c *counter, e *openSession) {
	if out := s.set.Add(e); out != nil {
		s.evicted++
		s.touch(c, out.ID)
	}
}

// touch marks a session changed (or removed) at a new generation; an
// evicted one is removed from storage with the next save. The changes
// waiting for a save are bounded: beyond 2 x max_open_sessions, removals
// of sessions storage never held (started and gone between two saves) are
// dropped, as they need no delete; should that not suffice (saves failing
// while sessions end), so are removals of stored ones, whose entries come
// back at a restart, to age out (session_max_age).
func (s *sessions) touch(c *counter, id string) {
	c.gen++
	s.changed[id] = c.gen
	if len(s.changed) <= 2*s.maxOpen {
		return
	}
	for other := range s.changed {
		if !s.set.Contains(other) && !s.stored[other] {
			delete(s.changed, other)
		}
	}
	if len(s.changed) <= 2*s.maxOpen {
		return
	}
	for other := range s.changed {
		if !s.set.Contains(other) {
			delete(s.changed, other)
			delete(s.stored, other) // its entry ages out after a restart
		}
	}
}

// openCounts is the number of open sessions per account and target, with
// a 0 for each that the last emission showed and that has none now: what
// has seen no activity within session_max_age of the newest event time is
// not open (sessions that end without a TerminateSession, on SSM's idle
// timeout or a closed client, stop counting this way). It is forgotten
// (counted in agedOut) only session_max_age later still, so that an end or
// resume delivered late pairs with it as it would had no emission come
// between them.
func (c *counter) openCounts() map[[2]string]int64 {
	s := c.sessions
	horizon, forgotten := c.newest-s.maxAge, c.newest-2*s.maxAge
	counts := map[[2]string]int64{}
	for _, e := range s.set.Values() {
		switch {
		case c.anchorSeen && e.Last < forgotten:
			s.forget(c, e.ID)
			s.agedOut++
		case e.Ended == 0 && (!c.anchorSeen || e.Last >= horizon):
			counts[[2]string{e.Key.Account, e.Key.Target}]++
		}
	}
	for k := range s.shown {
		if _, ok := counts[k]; !ok {
			counts[k] = 0
		}
	}
	return counts
}

// shownOpen records the counts a delivered emission showed.
func (c *counter) shownOpen(counts map[[2]string]int64) {
	s := c.sessions
	changed := false
	for k, n := range counts {
		if old, ok := s.shown[k]; n == 0 && ok {
			delete(s.shown, k)
			changed = true
		} else if n != 0 && old != n {
			s.shown[k] = n
			changed = true
		}
	}
	if changed {
		c.gen++
		s.shownGen = c.gen
	}
}
