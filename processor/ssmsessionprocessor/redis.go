// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionprocessor // import "github.com/cloudtrail-detect/ssmsession/processor/ssmsessionprocessor"

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/cloudtrail-detect/ssmsession/internal/firstseen"
	"github.com/cloudtrail-detect/ssmsession/internal/redisterms"
)

// startRedis connects the redis backend: a standalone endpoint, a Cluster
// or a Sentinel-watched primary, through go-redis's own clients. The client
// is built here, not at creation, because loading TLS material takes a
// context; a bad TLS setup fails the start, an unreachable Redis does not.
// go-redis (v9.22) logs only through a process-wide logger: it is left
// alone, as a component must not change process state; Redis failures reach
// the collector through status, counters and a sampled warning.
func (p *ssmProcessor) startRedis(ctx context.Context) error {
	rc := p.cfg.NewTerms.Redis
	var tlsCfg *tls.Config
	if rc.TLS != nil {
		var err error
		if tlsCfg, err = rc.TLS.LoadTLSConfig(ctx); err != nil {
			return fmt.Errorf("new_terms::redis::tls: %w", err)
		}
	}
	// One set of options for the three deployments; go-redis picks the
	// client: a master name means Sentinel, IsClusterMode a Cluster. The
	// store falls back instead of retrying (MaxRetries -1, and one dial
	// attempt rather than go-redis's five, 100 ms apart), and the batch
	// deadline, not only the socket timeouts, bounds a call. A Cluster
	// client's pipeline would resend a node's whole share after a
	// redirection or a lost connection (MaxRedirects, 3 unless -1),
	// running decisions twice: redisterms follows redirections itself.
	opts := &redis.UniversalOptions{
		Addrs: []string{rc.Endpoint}, Username: rc.Username, Password: string(rc.Password), TLSConfig: tlsCfg,
		DialTimeout: rc.DialTimeout, ReadTimeout: rc.Timeout, WriteTimeout: rc.Timeout, PoolSize: rc.PoolSize,
		MaxRetries: -1, MaxRedirects: -1, DialerRetries: 1, ContextTimeoutEnabled: true,
	}
	switch {
	case rc.Cluster != nil:
		opts.Addrs, opts.IsClusterMode = rc.Cluster.Endpoints, true
	case rc.Sentinel != nil:
		opts.Addrs, opts.MasterName = rc.Sentinel.Endpoints, rc.Sentinel.MasterName
		opts.SentinelUsername, opts.SentinelPassword = rc.Sentinel.Username, string(rc.Sentinel.Password)
	}
	p.redis = redis.NewUniversalClient(opts)
	// One backoff for the terms and the launches: an outage costs one
	// timeout per retry interval, whichever store meets it first.
	backoff := redisterms.NewBackoff(p.redis, rc.RetryInterval, p.now)
	store, err := redisterms.New(redisterms.Settings{
		Client:     p.redis,
		KeyPrefix:  rc.KeyPrefix,
		Window:     p.cfg.NewTerms.HistoryWindow,
		Slack:      firstseen.LateSlack,
		Timeout:    rc.Timeout,
		RetryAfter: rc.RetryInterval,
		Lease:      rc.InFlightLease,
		Backoff:    backoff,
		CacheSize:  p.cfg.NewTerms.CacheSize,
		Now:        p.now,
	})
	if err != nil {
		return err
	}
	p.decider = store
	return p.startRedisLaunches(backoff)
}

// redisLabel names the Redis deployment in logs and status messages.
func redisLabel(rc RedisConfig) string {
	switch {
	case rc.Cluster != nil:
		return fmt.Sprintf("redis cluster %q", strings.Join(rc.Cluster.Endpoints, ","))
	case rc.Sentinel != nil:
		return fmt.Sprintf("redis sentinel %q (master %q)", strings.Join(rc.Sentinel.Endpoints, ","), rc.Sentinel.MasterName)
	}
	return fmt.Sprintf("redis %q", rc.Endpoint)
}
