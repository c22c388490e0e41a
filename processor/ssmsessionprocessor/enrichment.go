// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionprocessor // import "github.com/cloudtrail-detect/ssmsession/processor/ssmsessionprocessor"

import (
	"context"
	"slices"
	"time"

	"github.com/cloudtrail-detect/ssmsession/internal/cloudtrail"
	"github.com/cloudtrail-detect/ssmsession/internal/firstseen"
	"github.com/cloudtrail-detect/ssmsession/internal/launches"
	"github.com/cloudtrail-detect/ssmsession/internal/redisterms"
)

// launch is what a match is told of its target's launch.
type launch struct {
	at       time.Time // zero: not known
	recently bool
	answered bool // recently holds an answer
}

// newLaunches builds the local launch store, which shares the terms'
// storage client under its own keys; backend redis builds its store at
// start, on the Redis client.
func (p *ssmProcessor) newLaunches() (*launches.Local, error) {
	if !p.cfg.Enrichment.enabled() || p.cfg.NewTerms.Backend == BackendRedis {
		return nil, nil
	}
	nt, en := p.cfg.NewTerms, p.cfg.Enrichment
	store, err := launches.NewLocal(firstseen.Settings{
		Window: en.LaunchHistory, CacheSize: en.CacheSize, Persistent: nt.Storage != nil,
		PruneInterval: nt.PruneInterval, Now: p.now,
	})
	if err != nil {
		return nil, err
	}
	p.launches = store
	return store, nil
}

// startRedisLaunches keeps launches in the Redis the terms are decided in,
// leaving it alone when the terms' backoff does.
func (p *ssmProcessor) startRedisLaunches(backoff *redisterms.Backoff) error {
	if !p.cfg.Enrichment.enabled() {
		return nil
	}
	rc, en := p.cfg.NewTerms.Redis, p.cfg.Enrichment
	store, err := launches.NewRedis(launches.RedisSettings{
		Client: p.redis, KeyPrefix: rc.KeyPrefix, History: en.LaunchHistory, Slack: firstseen.LateSlack,
		Timeout: rc.Timeout, RetryAfter: rc.RetryInterval, Backoff: backoff, CacheSize: en.CacheSize, Now: p.now,
	})
	if err != nil {
		return err
	}
	p.launches = store
	return nil
}

// enrich records the batch's launches, then tells each match when its
// target was launched and whether that was recently. A state that cannot
// be read leaves the matches untold, never wrong.
func (p *ssmProcessor) enrich(ctx context.Context, b *batch) {
	if p.launches == nil || len(b.matches) == 0 && len(b.launches) == 0 {
		return
	}
	var begin time.Time // the earliest plausible time: watching began then
	now := p.now()
	for _, la := range b.launches {
		begin = earliestPlausible(begin, la.At, now)
	}
	ids := make([]string, 0, len(b.matches))
	for i := range b.matches {
		begin = earliestPlausible(begin, b.matches[i].ev.Time, now)
		if t := b.matches[i].ev.Target; cloudtrail.IsInstanceID(t) {
			ids = append(ids, t)
		}
	}
	// Each instance is looked up once, however many sessions it had.
	slices.Sort(ids)
	ids = slices.Compact(ids)
	st, err := p.launches.Record(ctx, b.launches, begin)
	p.launchHealth(st)
	if len(b.launches) > 0 {
		p.tel.ProcessorSsmsessionLaunchesRecorded.Add(ctx, int64(len(b.launches)), p.added...)
	}
	if len(b.matches) == 0 {
		return
	}
	var launched map[string]time.Time
	var since time.Time
	if err == nil {
		if launched, since, err = p.launches.Lookup(ctx, ids); err != nil {
			p.storage.Failed(err)
		}
	}
	recent, unknown := 0, 0
	recentLaunch := p.cfg.Enrichment.RecentLaunch
	for i := range b.matches {
		m := &b.matches[i]
		if !cloudtrail.IsInstanceID(m.ev.Target) {
			continue // managed nodes and ECS tasks are not launched by RunInstances
		}
		at, known := launched[m.ev.Target] // what could be read; since is zero after a failure
		m.launch.recently, m.launch.answered = launches.Recent(at, known, since, m.ev.Time, recentLaunch)
		if known {
			m.launch.at = at
		}
		switch {
		case !m.launch.answered:
			unknown++
		case m.launch.recently:
			recent++
		}
	}
	if recent > 0 {
		p.tel.ProcessorSsmsessionTargetsRecentlyLaunched.Add(ctx, int64(recent), p.added...)
	}
	if unknown > 0 {
		p.tel.ProcessorSsmsessionTargetsLaunchUnknown.Add(ctx, int64(unknown), p.added...)
	}
}

// launchHealth reports the launch store's storage outcome, on the link the
// terms report on: one storage, one health.
func (p *ssmProcessor) launchHealth(st firstseen.Stats) {
	p.tel.ProcessorSsmsessionStorageWrites.Add(context.Background(), int64(st.Writes), p.added...)
	p.storage.Report(st.StorageErr, st.Recovered)
}

// earliestPlausible is earliest of a and b, b only when it is plausible.
func earliestPlausible(a, b, now time.Time) time.Time {
	if !firstseen.Plausible(b, now) {
		return a
	}
	return earliest(a, b)
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}
