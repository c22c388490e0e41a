// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package redisterms // import "github.com/cloudtrail-detect/ssmsession/internal/redisterms"

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Whole names, for a Backoff, the client as a whole: a standalone or
// Sentinel-watched Redis, or a Cluster whose slot map cannot be read.
const Whole = ""

// Backoff says when a replica leaves Redis alone after a failed round trip:
// the whole client, or in a Cluster one master, so that a master down
// leaves the keys of the others decided in Redis. One serves all of a
// replica's Redis stores (terms, launches, the learning end), so an outage
// costs one timeout per retry interval, not one per store; and whichever
// store finds Redis back first, the next one that reports stats reports the
// recovery, once. Safe for concurrent use.
type Backoff struct {
	client  redis.UniversalClient
	cluster *redis.ClusterClient // nil: not a Cluster
	retry   time.Duration
	now     func() time.Time

	mu sync.Mutex
	// until holds the nodes that failed (Whole, or a master's address) and
	// when they are tried again; a node leaves it when it answers, or when
	// it no longer serves slots.
	until      map[string]time.Time
	unreported bool      // Redis answered after failing; nobody reported it yet
	reloaded   time.Time // when Ready last re-read the slot map
}

// NewBackoff returns a backoff for client that leaves a node alone for
// retry after each failure, by the clock now.
func NewBackoff(client redis.UniversalClient, retry time.Duration, now func() time.Time) *Backoff {
	if now == nil {
		now = time.Now
	}
	cluster, _ := client.(*redis.ClusterClient)
	return &Backoff{client: client, cluster: cluster, retry: retry, now: now, until: map[string]time.Time{}}
}

// route tells which node a command on key goes to: in a Cluster its
// slot's master, by address, with its client (from go-redis's slot map,
// read once at the start, bounded by ctx); Whole and no client otherwise.
func (b *Backoff) route(ctx context.Context, key string) (string, *redis.Client) {
	if b.cluster == nil {
		return Whole, nil
	}
	c, err := b.cluster.MasterForKey(ctx, key)
	if err != nil {
		return Whole, nil
	}
	return c.Options().Addr, c
}

// Ready prepares a round trip: when a failed Cluster node is due to be
// tried again, go-redis re-reads which node serves which slots first (it
// does that synchronously for a walk over the masters), so the retry
// reaches a promoted replica rather than the node that died; a failed node
// that no longer serves slots is forgotten. At most once per retry
// interval, bounded by timeout of its own: go-redis asks a node at random,
// and one that does not answer must not take the round trip's time. A
// failure shows in the round trip that follows.
func (b *Backoff) Ready(ctx context.Context, timeout time.Duration) {
	if b.cluster == nil || !b.due() {
		return
	}
	b.mu.Lock()
	now := b.now()
	if now.Before(b.reloaded.Add(b.retry)) {
		b.mu.Unlock()
		return
	}
	b.reloaded = now
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	masters, err := b.masters(ctx)
	if err != nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for node := range b.until {
		if _, ok := masters[node]; node != Whole && !ok {
			b.forget(node)
		}
	}
}

// masters re-reads a Cluster's slot map and returns its masters' clients
// by address.
func (b *Backoff) masters(ctx context.Context) (map[string]*redis.Client, error) {
	var mu sync.Mutex
	masters := map[string]*redis.Client{}
	err := b.cluster.ForEachMaster(ctx, func(_ context.Context, c *redis.Client) error {
		mu.Lock()
		masters[c.Options().Addr] = c
		mu.Unlock()
		return nil
	})
	return masters, err
}

// due reports whether a failed node is to be tried again.
func (b *Backoff) due() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	for _, t := range b.until {
		if !now.Before(t) {
			return true
		}
	}
	return false
}

// Down reports whether node is left alone now: it failed, or the whole
// client did, within the retry interval.
func (b *Backoff) Down(node string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	return now.Before(b.until[Whole]) || node != Whole && now.Before(b.until[node])
}

// Trip leaves node alone for the retry interval after a failed round
// trip. Only failures trip it: calls made while it is left alone do not
// extend the wait, or a steady stream of them would keep it untried.
func (b *Backoff) Trip(node string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.until[node] = b.now().Add(b.retry)
	b.unreported = false // a recovery not reported yet is over
}

// Reached records that node answered a round trip begun at begun: once
// no node is failed any more, the recovery is to be reported. A failure
// met after it began stands (the node may have died since). The whole
// client answering clears only its own failure: a Cluster master may still
// be away.
func (b *Backoff) Reached(node string, begun time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if until, ok := b.until[node]; ok && until.Add(-b.retry).After(begun) {
		return
	}
	b.forget(node)
}

func (b *Backoff) forget(node string) {
	if _, ok := b.until[node]; !ok {
		return
	}
	delete(b.until, node)
	if len(b.until) == 0 {
		b.unreported = true
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
