// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionprocessor

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/cloudtrail-detect/ssmsession/internal/firstseen"
	"github.com/cloudtrail-detect/ssmsession/internal/redisterms"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/redistest"
)

func withRedisCluster(seeds []string) *Config {
	cfg := withRedis("")
	cfg.NewTerms.Redis.Cluster = &RedisClusterConfig{Endpoints: seeds}
	return cfg
}

func withRedisSentinel(endpoints []string) *Config {
	cfg := withRedis("")
	cfg.NewTerms.Redis.Sentinel = &RedisSentinelConfig{MasterName: redistest.MasterName, Endpoints: endpoints}
	return cfg
}

// sessions are one StartSession per user, users from..to, at t.
func sessions(from, to int, t time.Time) [][]byte {
	var out [][]byte
	for i := from; i < to; i++ {
		out = append(out, session(fmt.Sprintf("user-%03d", i), t.Add(time.Duration(i)*time.Second), 100000+i))
	}
	return out
}

// alertsOf counts the records of one processor tagged new, by principal.
func alertsOf(t *testing.T, h *harness, raws [][]byte, counts map[string]int) {
	t.Helper()
	out := process(t, h, rawLogs(t, raws))
	require.Equal(t, len(raws), out.LogRecordCount(), "no record lost")
	for _, lr := range records(out) {
		if newTerm(lr) == "true" {
			counts[attrStr(lr, AttrPrincipal)]++
		}
	}
}

// redisKey is the Redis key of the term lr was decided on.
func redisKey(h *harness, lr plog.LogRecord) string {
	p := h.logs.(*logsProcessor).Value
	return redisterms.KeyName(p.cfg.NewTerms.Redis.KeyPrefix, firstseen.KeyOf(p.spec.namespace, terms(lr)))
}

// failover runs two replicas of the processor on a replicated Redis through
// a failover: before it, each term is new exactly once between them. While
// the primary is gone (killed tells which keys were on it: in a Cluster,
// one master's share), records flow; a term whose key was on it is decided
// from each replica's cache (a term the replica never saw is new once on
// it, so once per replica; one it knows is not), a term on a live master
// still in Redis, new exactly once between them. Once a replica is promoted
// and retry_interval has passed, both report OK again and each new term,
// seen by both, is new exactly once between them.
func failover(t *testing.T, cfg func() *Config, kill func(), killed func(key string) bool, promoted func()) {
	a, b := start(t, cfg(), nil, nil), start(t, cfg(), nil, nil)
	replicas := []*harness{a, b}

	before := map[string]int{}
	for i, raw := range sessions(0, 20, day0) {
		alertsOf(t, replicas[i%2], [][]byte{raw}, before)
	}
	assert.Len(t, before, 20)
	for p, n := range before {
		assert.Equal(t, 1, n, "%s before the failover", p)
	}

	kill()
	during := map[string]int{}
	inRedis := map[string]bool{} // the term's master is alive
	for r, h := range replicas {
		out := process(t, h, rawLogs(t, sessions(20, 30, day0.Add(time.Hour))))
		require.Equal(t, 10, out.LogRecordCount(), "no record lost")
		perReplica, fallbacks := map[string]int{}, 0
		for _, lr := range records(out) {
			p := attrStr(lr, AttrPrincipal)
			if inRedis[p] = !killed(redisKey(h, lr)); !inRedis[p] {
				fallbacks++
			}
			if newTerm(lr) == "true" {
				perReplica[p]++
				during[p]++
			}
		}
		for p, live := range inRedis {
			want := 1 // never seen by this replica: new on it...
			if live && r > 0 {
				want = 0 // ...unless Redis, reached, knows it from the other
			}
			assert.Equal(t, want, perReplica[p], "replica %d: %s during the failover (its master alive: %v)", r, p, live)
		}
		assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError}, h.host.Statuses())

		var known [][]byte // new events of the terms this replica decided
		for i := r; i < 30; i++ {
			if i >= 20 || i%2 == r {
				known = append(known, session(fmt.Sprintf("user-%03d", i), day0.Add(90*time.Minute+time.Duration(i)*time.Second), 200000+i))
			}
		}
		again := map[string]int{}
		alertsOf(t, h, known, again)
		assert.Empty(t, again, "replica %d: terms it knows are not new during the failover", r)
		// The known ones are answered by the cache: Redis confirmed them
		// (or the replica decided them) within the freshness.
		assertCounter(t, h, "otelcol_processor_ssmsession_decisions_fallback", int64(fallbacks))
	}
	assert.Len(t, during, 10)
	for p, n := range during {
		want := len(replicas) // alerted by every replica that saw it
		if inRedis[p] {
			want = 1
		}
		assert.Equal(t, want, n, "%s during the failover (its master alive: %v)", p, inRedis[p])
	}

	promoted()
	after := map[string]int{}
	for _, h := range replicas {
		h.clock.Advance(h.logs.(*logsProcessor).Value.cfg.NewTerms.Redis.RetryInterval)
	}
	for _, h := range replicas { // both see every term: only Redis can make it new once
		alertsOf(t, h, sessions(30, 50, day0.Add(2*time.Hour)), after)
	}
	for _, h := range replicas {
		assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK}, h.host.Statuses())
	}
	assert.Len(t, after, 20)
	for p, n := range after {
		assert.Equal(t, 1, n, "%s after the failover", p)
	}
}

// TestRedisClusterFailover: a 3-master, 3-replica Redis Cluster; the master
// of a key in use is killed mid-stream. Only the terms whose keys it served
// fall back to each replica's cache. The other masters serve throughout
// because partial coverage is allowed: by Redis's default they refuse
// every command from the moment the cluster marks the master failed
// (cluster-node-timeout after the kill) until its replica is promoted,
// which this test's timing would then decide.
func TestRedisClusterFailover(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 1, redistest.PartialCoverage...)
	seeds := cl.Seeds()
	cfg := func() *Config { return withRedisCluster(seeds) }
	begin := time.Now()
	failover(t, cfg,
		func() { cl.KillMaster("ssmsession:learning_end") },
		cl.Down,
		func() {
			cl.WaitOK()
			t.Logf("cluster: master killed to all slots served again: %s", time.Since(begin).Round(100*time.Millisecond))
		})
}

// TestRedisSentinelFailover: a primary and a replica watched by three
// sentinels; the primary is killed mid-stream: every key was on it.
func TestRedisSentinelFailover(t *testing.T) {
	s := redistest.StartSentinels(t)
	cfg := func() *Config { return withRedisSentinel(s.Endpoints()) }
	var killed time.Time
	failover(t, cfg,
		func() { killed = time.Now(); s.KillPrimary() },
		func(string) bool { return true },
		func() {
			s.WaitPrimary(s.Replica())
			t.Logf("sentinel: primary killed to replica promoted: %s", time.Since(killed).Round(100*time.Millisecond))
		})
}

// TestRedisSentinelFailoverTLS: the same with the primary, its replica and
// the sentinels speaking only TLS: the sentinels are asked, and the
// promoted replica reached, over TLS.
func TestRedisSentinelFailoverTLS(t *testing.T) {
	s := redistest.StartSentinelsTLS(t)
	cfg := func() *Config { return trusting(withRedisSentinel(s.Endpoints()), s.CAFile) }
	failover(t, cfg, s.KillPrimary, func(string) bool { return true }, func() { s.WaitPrimary(s.Replica()) })
}

// TestReplicasShareRedisCluster: two processors take turns on the corpus on
// a cluster; together they tag exactly what one processor would.
func TestReplicasShareRedisCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 1)
	assertReplicasShare(t, func() *Config { return withRedisCluster(cl.Seeds()) })
}

// TestReplicasShareRedisClusterTLS: the same on a cluster whose nodes speak
// only TLS (ElastiCache's cluster mode with in-transit encryption), the
// slot map and redirections naming TLS ports.
func TestReplicasShareRedisClusterTLS(t *testing.T) {
	cl := redistest.StartClusterTLS(t, 3, 1)
	assertReplicasShare(t, func() *Config { return trusting(withRedisCluster(cl.Seeds()), cl.CAFile) })
}
