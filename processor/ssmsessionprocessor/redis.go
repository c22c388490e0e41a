// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionprocessor // import "github.com/cloudtrail-detect/ssmsession/processor/ssmsessionprocessor"

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/cloudtrail-detect/ssmsession/internal/redisterms"
)

// startRedis connects the redis backend. The client is built here, not at
// creation, because loading TLS material takes a context; a bad TLS setup
// fails the start, an unreachable Redis does not.
func (p *ssmProcessor) startRedis(ctx context.Context) error {
	rc := p.cfg.NewTerms.Redis
	opts := &redis.Options{
		Addr:         rc.Endpoint,
		Username:     rc.Username,
		Password:     string(rc.Password),
		DialTimeout:  rc.DialTimeout,
		ReadTimeout:  rc.Timeout,
		WriteTimeout: rc.Timeout,
		PoolSize:     rc.PoolSize,
		MaxRetries:   -1, // the store falls back instead of retrying
		// The batch deadline, not only the socket timeouts, bounds a call.
		ContextTimeoutEnabled: true,
	}
	if rc.TLS != nil {
		tlsCfg, err := rc.TLS.LoadTLSConfig(ctx)
		if err != nil {
			return fmt.Errorf("new_terms::redis::tls: %w", err)
		}
		opts.TLSConfig = tlsCfg
	}
	// go-redis (v9.22) logs only through a process-wide logger: it is left
	// alone, as a component must not change process state; Redis failures
	// reach the collector through status, counters and a sampled warning.
	p.redis = redis.NewClient(opts)
	store, err := redisterms.New(redisterms.Settings{
		Client:     p.redis,
		KeyPrefix:  rc.KeyPrefix,
		Window:     p.cfg.NewTerms.HistoryWindow,
		Slack:      lateSlack,
		Timeout:    rc.Timeout,
		RetryAfter: rc.RetryInterval,
		CacheSize:  p.cfg.NewTerms.CacheSize,
		Now:        p.now,
	})
	if err != nil {
		return err
	}
	p.decider = store
	return nil
}
