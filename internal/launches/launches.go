// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

// Package launches remembers when EC2 instances were launched (successful
// RunInstances calls), so that a session's alert can say whether its target
// is a fresh instance or one that has been running for a while: the
// hunt's "was the instance recently launched?", answered in the stream.
package launches // import "github.com/cloudtrail-detect/ssmsession/internal/launches"

import (
	"context"
	"time"

	"github.com/cloudtrail-detect/ssmsession/internal/firstseen"
)

// Launch is one instance a RunInstances call launched, at its event time.
type Launch struct {
	Instance string
	At       time.Time
	// Event fingerprints the RunInstances event, so a second delivery of
	// it is recognised.
	Event uint64
}

// Store remembers launches for a history window of event time. It is safe
// for concurrent use; every call is bounded by its context.
type Store interface {
	// Record remembers launches and proposes begin as the event time from
	// which launches are watched: the first proposal the state records
	// wins and never moves (a zero begin proposes nothing).
	Record(ctx context.Context, launches []Launch, begin time.Time) (firstseen.Stats, error)
	// Lookup returns the launch times known for ids, and the event time
	// from which every launch is known: the later of when watching began
	// and when the store may have forgotten older ones. since is zero when
	// the store cannot say. ids may be views of records' bodies: an id the
	// store keeps is copied. With an error, launched holds what could be
	// read, and since is zero.
	Lookup(ctx context.Context, ids []string) (launched map[string]time.Time, since time.Time, err error)
	// Close writes what is pending, within ctx.
	Close(ctx context.Context) firstseen.Stats
}

// Recent is the rule, in one place: a session at event time at on a target
// launched at launched (known says whether it is) was on a recently
// launched instance when the launch is at most recent before it (true), and
// was not when the launch is older, or when the state has watched every
// launch since at least recent before the session and saw none (false).
// Otherwise nobody can know yet: ok is false.
func Recent(launched time.Time, known bool, since, at time.Time, recent time.Duration) (recently, ok bool) {
	if known {
		age := at.Sub(launched)
		if age < 0 {
			return false, false // a session before its target's launch: bad times
		}
		return age <= recent, true
	}
	if since.IsZero() || since.After(at.Add(-recent)) {
		return false, false
	}
	return false, true
}
