// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package launches // import "github.com/cloudtrail-detect/ssmsession/internal/launches"

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/redis/go-redis/v9"

	"github.com/cloudtrail-detect/ssmsession/internal/firstseen"
	"github.com/cloudtrail-detect/ssmsession/internal/redisterms"
)

// RedisSettings configure launches kept in Redis, shared by replicas.
type RedisSettings struct {
	Client    redis.UniversalClient
	KeyPrefix string
	// History is how long a launch is kept, in event time; Slack is added
	// to the keys' expiry for late events.
	History, Slack time.Duration
	// Timeout bounds one round trip; after a failure Redis is left alone
	// for RetryAfter, so an outage costs one timeout, not one per batch.
	Timeout, RetryAfter time.Duration
	// Backoff is shared with the replica's other Redis stores (the terms);
	// nil: one of its own, by RetryAfter.
	Backoff *redisterms.Backoff
	// CacheSize bounds the launches cached locally: a launch time never
	// changes, so a cached one is always right.
	CacheSize int
	Now       func() time.Time
}

// Redis keeps one key per launched instance (its launch time, Unix ms,
// expiring History after it) and the event time watching began. Keys are
// read and written with pipelines of single-key commands, so a Redis
// Cluster spreads them over its slots.
type Redis struct {
	set RedisSettings

	mu    sync.Mutex // guards memory only
	cache *simplelru.LRU[string, int64]
	begun int64 // Unix ms; 0: not known yet
	// unsent are launches not written yet (the newest CacheSize), sent
	// again with the next Record: until then other replicas miss them.
	unsent []Launch
	// lost: launches up to this event time (Unix ms) may not have been
	// written (unsent, or dropped from it: dropped), so a target not found
	// is not known to be old before it.
	lost, dropped int64
	// resending counts the Records under way with launches of unsent: lost
	// holds until they are written.
	resending int
}

var _ Store = (*Redis)(nil)

// NewRedis returns a store over set.Client.
func NewRedis(set RedisSettings) (*Redis, error) {
	if set.Client == nil || set.History <= 0 || set.CacheSize <= 0 || set.Timeout <= 0 {
		return nil, errors.New("launches: client, history, cache size and timeout are required")
	}
	if set.Now == nil {
		set.Now = time.Now
	}
	if set.Backoff == nil {
		set.Backoff = redisterms.NewBackoff(set.Client, set.RetryAfter, set.Now)
	}
	cache, err := simplelru.NewLRU[string, int64](set.CacheSize, nil)
	if err != nil {
		return nil, err
	}
	return &Redis{set: set, cache: cache}, nil
}

func (r *Redis) key(instance string) string { return r.set.KeyPrefix + "launch:" + instance }

func (r *Redis) watchKey() string { return r.set.KeyPrefix + watchBeginKey }

// Record implements Store: the launches not written before go with these.
// Once none is left unwritten or under way, every launch lost is written
// or dropped: only what was dropped is missing.
func (r *Redis) Record(ctx context.Context, launches []Launch, begin time.Time) (firstseen.Stats, error) {
	r.mu.Lock()
	resend := len(r.unsent) > 0 && !r.set.Backoff.Down(redisterms.Whole)
	if resend {
		launches = append(r.unsent, launches...)
		r.unsent = nil
		r.resending++
	}
	r.mu.Unlock()
	st, err := r.record(ctx, launches, begin)
	r.mu.Lock()
	if resend {
		r.resending--
	}
	if len(r.unsent) == 0 && r.resending == 0 {
		r.lost = r.dropped
	}
	r.mu.Unlock()
	return st, err
}

// record writes launches: SET NX with the key's remaining life, so the
// first launch time written is kept, and launches already past the history
// are not written at all; those not written are kept by lose.
func (r *Redis) record(ctx context.Context, launches []Launch, begin time.Time) (firstseen.Stats, error) {
	var st firstseen.Stats
	now := r.set.Now()
	r.mu.Lock()
	known := r.begun != 0
	r.mu.Unlock()
	propose := !begin.IsZero() && !known
	if len(launches) == 0 && !propose {
		st.Recovered = r.set.Backoff.Recovered() // a Lookup's, which has no stats to carry it
		return st, nil
	}
	if r.set.Backoff.Down(redisterms.Whole) {
		r.lose(launches)
		return st, nil
	}
	bt := r.set.Backoff.Begin(ctx, r.set.Timeout)
	defer bt.End()
	writes := make([]*redis.BoolCmd, len(launches))
	for i, la := range launches {
		ttl := la.At.Add(r.set.History + r.set.Slack).Sub(now)
		if ttl <= 0 {
			continue // past the history: nothing to keep
		}
		var queued bool
		writes[i], queued = redisterms.Queue(bt, r.key(la.Instance), func(ctx context.Context, pipe redis.Pipeliner) *redis.BoolCmd {
			return pipe.SetNX(ctx, r.key(la.Instance), la.At.UnixMilli(), ttl)
		})
		if queued {
			st.Writes++
		} else {
			r.lose(launches[i : i+1]) // its master is left alone
		}
	}
	var watch *redis.StringCmd
	if propose {
		watch, _ = redisterms.Queue(bt, r.watchKey(), func(ctx context.Context, pipe redis.Pipeliner) *redis.StringCmd {
			return redisterms.SetOnce(ctx, pipe, r.watchKey(), begin.UnixMilli())
		})
	}
	err := bt.Exec()
	for i, w := range writes {
		if w != nil && redisterms.Failure(w) != nil {
			r.lose(launches[i : i+1])
		}
	}
	if err != nil {
		st.StorageErr = err
		return st, err
	}
	st.Recovered = r.set.Backoff.Recovered()
	if watch != nil {
		if ms, err := watch.Int64(); err == nil {
			r.setBegun(ms)
		}
	}
	return st, nil
}

// Lookup implements Store. Launches expire in Redis by wall time, so every
// launch is known only from History before now.
func (r *Redis) Lookup(ctx context.Context, ids []string) (map[string]time.Time, time.Time, error) {
	launched := make(map[string]time.Time, len(ids))
	var missing []string
	r.mu.Lock()
	for _, id := range ids {
		if ms, ok := r.cache.Get(id); ok {
			launched[id] = time.UnixMilli(ms).UTC()
		} else {
			missing = append(missing, id)
		}
	}
	begun, lost := r.begun, r.lost
	r.mu.Unlock()
	if r.set.Backoff.Down(redisterms.Whole) {
		return launched, time.Time{}, nil // misses cannot be told from the old
	}
	untold := false // a target whose master was not asked: its miss tells nothing
	if len(missing) > 0 || begun == 0 {
		bt := r.set.Backoff.Begin(ctx, r.set.Timeout)
		defer bt.End()
		gets := make([]*redis.StringCmd, len(missing))
		for i, id := range missing {
			var asked bool
			gets[i], asked = redisterms.Queue(bt, r.key(id), func(ctx context.Context, pipe redis.Pipeliner) *redis.StringCmd {
				return pipe.Get(ctx, r.key(id))
			})
			untold = untold || !asked
		}
		var watch *redis.StringCmd
		if begun == 0 {
			watch, _ = redisterms.Queue(bt, r.watchKey(), func(ctx context.Context, pipe redis.Pipeliner) *redis.StringCmd {
				return redisterms.SetOnce(ctx, pipe, r.watchKey(), 0)
			})
		}
		err := bt.Exec() // reported by the next store with stats
		r.mu.Lock()
		for i, id := range missing {
			if gets[i] == nil {
				continue
			}
			if redisterms.Failure(gets[i]) != nil {
				untold = true // a redirection not followed: no answer, not a miss
				continue
			}
			if ms, err := gets[i].Int64(); err == nil {
				launched[id] = time.UnixMilli(ms).UTC()
				r.cache.Add(strings.Clone(id), ms)
			}
		}
		r.mu.Unlock()
		if err != nil {
			return launched, time.Time{}, err // the misses cannot be told
		}
		if watch != nil {
			if ms, err := watch.Int64(); err == nil {
				r.setBegun(ms)
				begun = ms
			}
		}
	}
	if begun == 0 || untold {
		return launched, time.Time{}, nil
	}
	since := later(time.UnixMilli(begun).UTC(), r.set.Now().Add(-r.set.History))
	return launched, later(since, time.UnixMilli(lost).UTC()), nil
}

// lose keeps launches not written for the next Record, and remembers
// that they may be missing from Redis; beyond CacheSize the oldest are
// dropped.
func (r *Redis) lose(launches []Launch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, la := range launches {
		r.lost = max(r.lost, la.At.UnixMilli()+1)
		r.unsent = append(r.unsent, Launch{Instance: strings.Clone(la.Instance), At: la.At, Event: la.Event})
	}
	if over := len(r.unsent) - r.set.CacheSize; over > 0 {
		for _, la := range r.unsent[:over] {
			r.dropped = max(r.dropped, la.At.UnixMilli()+1)
		}
		r.unsent = append(r.unsent[:0], r.unsent[over:]...)
	}
}

func (r *Redis) setBegun(ms int64) {
	r.mu.Lock()
	r.begun = ms
	r.mu.Unlock()
}

// Close implements Store: nothing is pending; the caller closes the client.
func (r *Redis) Close(context.Context) firstseen.Stats { return firstseen.Stats{} }
