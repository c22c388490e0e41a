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

// failover runs two replicas of the processor on a replicated Redis through
// a failover: before it, each term is new exactly once between them; while
// the primary is gone, records flow, decided from each replica's cache: a
// term the replica never saw is new once on it (so once per replica), one it
// knows is not; once a replica is promoted and retry_interval has passed, both
// report OK again and each new term is new exactly once between them.
func failover(t *testing.T, cfg func() *Config, kill, promoted func()) {
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
	// While the primary is gone, each replica decides from its own cache, the
	// documented fallback: a term it never saw is new, once on each replica
	// that sees it (at least once); a term it knows, whether Redis confirmed
	// it before or the replica alerted it meanwhile, is not.
	during := map[string]int{}
	for r, h := range replicas {
		perReplica := map[string]int{}
		alertsOf(t, h, sessions(20, 30, day0.Add(time.Hour)), perReplica)
		assert.Len(t, perReplica, 10, "replica %d: each term never seen alerted during the failover", r)
		for p, n := range perReplica {
			assert.Equal(t, 1, n, "%s once per replica during the failover", p)
			during[p] += n
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
		assertCounter(t, h, "otelcol_processor_ssmsession_decisions_fallback", int64(10+len(known)))
	}
	assert.Len(t, during, 10)
	for p, n := range during {
		assert.Equal(t, len(replicas), n, "%s: alerted by every replica that saw it during the failover", p)
	}

	promoted()
	after := map[string]int{}
	for _, h := range replicas {
		h.clock.Advance(h.logs.(*logsProcessor).Value.cfg.NewTerms.Redis.RetryInterval)
	}
	for i, raw := range sessions(30, 50, day0.Add(2*time.Hour)) {
		alertsOf(t, replicas[i%2], [][]byte{raw}, after)
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
// of a key in use is killed mid-stream.
func TestRedisClusterFailover(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 1)
	seeds := cl.Seeds()
	cfg := func() *Config { return withRedisCluster(seeds) }
	begin := time.Now()
	failover(t, cfg,
		func() { cl.KillMaster("ssmsession:learning_end") },
		func() {
			cl.WaitOK()
			t.Logf("cluster: master killed to all slots served again: %s", time.Since(begin).Round(100*time.Millisecond))
		})
}

// TestRedisSentinelFailover: a primary and a replica watched by three
// sentinels; the primary is killed mid-stream.
func TestRedisSentinelFailover(t *testing.T) {
	s := redistest.StartSentinels(t)
	cfg := func() *Config { return withRedisSentinel(s.Endpoints()) }
	var killed time.Time
	failover(t, cfg,
		func() { killed = time.Now(); s.KillPrimary() },
		func() {
			s.WaitPrimary(s.Replica())
			t.Logf("sentinel: primary killed to replica promoted: %s", time.Since(killed).Round(100*time.Millisecond))
		})
}

// TestReplicasShareRedisCluster: two processors take turns on the corpus on
// a cluster; together they tag exactly what one processor would.
func TestReplicasShareRedisCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 1)
	raws := identities(t)
	replicas := []*harness{start(t, withRedisCluster(cl.Seeds()), nil, nil), start(t, withRedisCluster(cl.Seeds()), nil, nil)}
	var got []string
	for i, raw := range raws {
		got = append(got, newTerms(process(t, replicas[i%2], rawLogs(t, [][]byte{raw})))...)
	}
	assertExpected(t, 0, got)
	for _, h := range replicas {
		assert.Empty(t, h.host.Statuses(), "no storage trouble")
	}
}
