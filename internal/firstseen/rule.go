// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package firstseen // import "github.com/cloudtrail-detect/ssmsession/internal/firstseen"

// Status tracks the event that last made a term new, so that the same event
// seen again gets the same answer: re-alerted when its first alert may not
// have reached the next consumer, not alerted when it did.
type Status uint8

const (
	StatusNone      Status = iota
	StatusInFlight         // tagged and passed on; delivery not confirmed yet
	StatusDelivered        // the next consumer accepted the batch
	StatusRetry            // delivery failed, or the process stopped before knowing
)

// Settled is the status of an alert once one batch carrying it was
// delivered or failed: a delivery settles it whatever another copy's batch
// did; a failure only an alert whose fate nobody told yet.
func Settled(s Status, delivered bool) Status {
	switch {
	case delivered:
		return StatusDelivered
	case s == StatusInFlight:
		return StatusRetry
	}
	return s
}

// State is what is known of a term. Times are in one unit chosen by the
// caller: Unix nanoseconds here, milliseconds in Redis.
type State struct {
	Latest  int64  // newest occurrence
	AlertAt int64  // time of the occurrence that raised the alert
	AlertEv uint64 // fingerprint of that event
	Status  Status
}

// Decide is the new-term rule, the one place it is written in Go (the Redis
// backend's decide.lua mirrors it): the occurrence at t of event ev is new
// when the term is unknown, or when its latest occurrence is more than window
// before t; the alerting event seen again is new only if its alert may not
// have reached the next consumer: its delivery failed or, with
// raiseInFlight, is still under way in another batch, which may yet fail
// (an alert is raised at least once: the copy carries it too, under the
// same alert id). known says whether s holds anything. It returns the state
// after the occurrence and whether that state changed (and so must be
// written).
func Decide(s State, known bool, t int64, ev uint64, window int64, raiseInFlight bool) (next State, isNew, changed bool) {
	switch {
	case !known:
		// first occurrence
	case ev == s.AlertEv:
		// The event that raised the alert, again: a duplicate delivery.
		// Its fingerprint says so (an eventID's, or its time's and
		// identity's), whatever time it comes with: an event without an
		// eventTime is dated by its record, which a receiver may stamp
		// anew on each read.
		switch {
		case s.Status == StatusDelivered || s.Status == StatusInFlight && !raiseInFlight:
			return s, false, false
		case s.Status == StatusInFlight:
			return s, true, false // the alert under way, as it stands: either batch settles it
		}
	case t-s.Latest <= window:
		// Seen within the window, or a late event older than what we know.
		if t > s.Latest {
			s.Latest = t
			return s, false, true
		}
		return s, false, false
	}
	if !known || t > s.Latest {
		s.Latest = t
	}
	s.AlertAt, s.AlertEv, s.Status = t, ev, StatusInFlight
	return s, true, true
}
