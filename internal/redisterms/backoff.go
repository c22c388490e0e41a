// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package redisterms // import "github.com/cloudtrail-detect/ssmsession/internal/redisterms"

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Backoff says when a replica leaves Redis alone after a failed round trip.
// One serves all of a replica's Redis stores (terms, launches, the learning
// end), so an outage costs one timeout per retry interval, not one per
// store; and whichever store finds Redis back first, the next one that
// reports stats reports the recovery, once. Safe for concurrent use.
type Backoff struct {
	client redis.UniversalClient
	retry  time.Duration
	now    func() time.Time

	mu         sync.Mutex
	until      time.Time // Redis is left alone until then; zero: it answered last
	unreported bool      // Redis answered after failing; nobody reported it yet
}

// NewBackoff returns a backoff for client that leaves Redis alone for
// retry after each failure, by the clock now.
func NewBackoff(client redis.UniversalClient, retry time.Duration, now func() time.Time) *Backoff {
	if now == nil {
		now = time.Now
	}
	return &Backoff{client: client, retry: retry, now: now}
}

// Ready prepares a round trip: after a failure, a Cluster client re-reads
// which node serves which slots first (go-redis does that synchronously
// for a walk over the masters), so the retry reaches a promoted replica
// rather than the node that died. Bounded by ctx; a failure shows in the
// round trip that follows.
func (b *Backoff) Ready(ctx context.Context) {
	b.mu.Lock()
	failed := !b.until.IsZero()
	b.mu.Unlock()
	if cc, ok := b.client.(*redis.ClusterClient); ok && failed {
		_ = cc.ForEachMaster(ctx, func(context.Context, *redis.Client) error { return nil })
	}
}

// Down reports whether Redis is left alone now.
func (b *Backoff) Down() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.now().Before(b.until)
}

// Trip leaves Redis alone for the retry interval after a failed round
// trip. Only failures trip it: calls made while it is left alone do not
// extend the wait, or a steady stream of them would keep Redis untried.
func (b *Backoff) Trip() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.until = b.now().Add(b.retry)
}

// Reached records a round trip that succeeded: after a failure, the
// recovery is to be reported.
func (b *Backoff) Reached() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.until.IsZero() {
		b.until, b.unreported = time.Time{}, true
	}
}

// Recovered takes the recovery to report: true once after an outage.
func (b *Backoff) Recovered() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.unreported
	b.unreported = false
	return r
}
