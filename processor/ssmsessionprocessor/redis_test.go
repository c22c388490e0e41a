// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionprocessor

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/cloudtrail-detect/ssmsession/internal/sharedcomponent"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/collectorrun"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/redistest"
	"github.com/cloudtrail-detect/ssmsession/processor/ssmsessionprocessor/internal/metadatatest"
)

func withRedis(addr string) *Config {
	cfg := defaultConfig()
	cfg.NewTerms.Backend = BackendRedis
	cfg.NewTerms.Redis.Endpoint = addr
	return cfg
}

// trusting sets cfg's Redis client to TLS, trusting the CA in caFile.
func trusting(cfg *Config, caFile string) *Config {
	cfg.NewTerms.Redis.TLS = &configtls.ClientConfig{Config: configtls.Config{CAFile: caFile}}
	return cfg
}

// TestReplicasShareRedis: two processors take turns on the corpus, one
// record at a time, as a load balancer would spread it; together they tag
// exactly what one processor would.
func TestReplicasShareRedis(t *testing.T) {
	srv := redistest.Start(t)
	assertReplicasShare(t, func() *Config { return withRedis(srv.Addr) })
}

// assertReplicasShare runs two processors of configuration cfg taking
// turns on the corpus: they tag exactly what one would, every decision
// taken in Redis.
func assertReplicasShare(t *testing.T, cfg func() *Config) {
	t.Helper()
	raws := identities(t)
	replicas := []*harness{start(t, cfg(), nil, nil), start(t, cfg(), nil, nil)}
	var got []string
	for i, raw := range raws {
		got = append(got, newTerms(process(t, replicas[i%2], rawLogs(t, [][]byte{raw})))...)
	}
	assertExpected(t, 0, got)
	for _, h := range replicas {
		assert.Empty(t, h.host.Statuses(), "no storage trouble")
		assertNoCounter(t, h, "otelcol_processor_ssmsession_decisions_fallback")
	}
}

// TestRedisReplicaRestart: a replica restarted (new process, empty cache)
// re-alerts nothing Redis knows, and the replayed records stay quiet.
func TestRedisReplicaRestart(t *testing.T) {
	srv := redistest.Start(t)
	raws := identities(t)
	h1 := start(t, withRedis(srv.Addr), nil, nil)
	first := newTerms(process(t, h1, rawLogs(t, raws[:10])))
	require.NoError(t, h1.logs.Shutdown(ctx))

	h2 := start(t, withRedis(srv.Addr), nil, nil)
	assertReplayQuiet(t, first, newTerms(process(t, h2, rawLogs(t, raws[:10]))))
	assertExpected(t, 10, newTerms(process(t, h2, rawLogs(t, raws[10:]))))
}

// TestRedisKilledMidStream: Redis dies mid-stream. Every record still
// passes, decided locally; the processor reports a recoverable error and
// counts fallback decisions, then returns to OK once Redis is back.
func TestRedisKilledMidStream(t *testing.T) {
	srv := redistest.Start(t)
	raws := identities(t)
	h := start(t, withRedis(srv.Addr), nil, nil)
	third := len(raws) / 3
	got := newTerms(process(t, h, rawLogs(t, raws[:third])))

	srv.Stop()
	in := rawLogs(t, raws[third:2*third])
	want := plog.NewLogs()
	in.CopyTo(want)
	out := process(t, h, in)
	require.Equal(t, want.LogRecordCount(), out.LogRecordCount(), "no record lost")
	for i, lr := range records(out) {
		assert.Equal(t, records(want)[i].Body().AsString(), lr.Body().AsString(), "record %d unchanged", third+i)
	}
	decided := 0
	for _, v := range newTerms(out) {
		if v != "" {
			decided++
		}
	}
	require.Positive(t, decided)
	got = append(got, newTerms(out)...)
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError}, h.host.Statuses())
	assertCounter(t, h, "otelcol_processor_ssmsession_decisions_fallback", int64(decided))
	// One failure: the terms and the launches (read for the matches'
	// targets) then leave Redis alone for retry_interval, both.
	assertCounter(t, h, "otelcol_processor_ssmsession_storage_errors", 1)

	srv.Restart()
	h.clock.Advance(h.logs.(*logsProcessor).Value.cfg.NewTerms.Redis.RetryInterval)
	got = append(got, newTerms(process(t, h, rawLogs(t, raws[2*third:])))...)
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK}, h.host.Statuses())
	// One replica alone: its own knowledge bridges the outage, so the
	// answers are those of an uninterrupted run.
	assertExpected(t, 0, got)
}

// TestRedisHangsOneTimeout: with Redis frozen (commands hang), a batch
// that records a launch, decides a term and asks for the learning end tries
// Redis once: the first store to time out leaves it alone for all of them.
func TestRedisHangsOneTimeout(t *testing.T) {
	srv := redistest.Start(t)
	cfg := withRedis(srv.Addr)
	cfg.NewTerms.LearningPeriod = 24 * time.Hour
	cfg.NewTerms.Redis.Timeout = 200 * time.Millisecond
	h := start(t, cfg, nil, nil)
	tries := &countTries{}
	h.logs.(*logsProcessor).Value.redis.AddHook(tries)
	srv.Pause()
	defer srv.Resume()
	raws := lifecycleRaws(t) // launches and sessions
	out := process(t, h, rawLogs(t, raws))
	assert.Equal(t, len(raws), out.LogRecordCount())
	assert.Equal(t, int64(1), tries.n.Load(), "one round trip timed out; the rest were answered locally")
}

// TestRedisDownWhileLearningIsReported: with a learning period whose end
// the replica never read, the learning end is the first to meet a dead
// Redis; its failure is reported (status and counter) by the decisions it
// leaves Redis alone for.
func TestRedisDownWhileLearningIsReported(t *testing.T) {
	port, err := collectorrun.FreePort()
	require.NoError(t, err)
	cfg := withRedis(fmt.Sprintf("127.0.0.1:%d", port))
	cfg.NewTerms.LearningPeriod = 24 * time.Hour
	cfg.Enrichment.LaunchHistory = 0 // no launch store to meet it first
	h := start(t, cfg, nil, nil)
	for range 2 {
		process(t, h, rawLogs(t, identities(t)[:1]))
		h.clock.Advance(cfg.NewTerms.Redis.RetryInterval)
	}
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError}, h.host.Statuses())
	assertCounter(t, h, "otelcol_processor_ssmsession_storage_errors", 2)
}

// countTries counts the commands and pipelines sent to Redis.
type countTries struct{ n atomic.Int64 }

func (c *countTries) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *countTries) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.n.Add(1); return next(ctx, cmd) }
}

func (c *countTries) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { c.n.Add(1); return next(ctx, cmds) }
}

// TestRedisAtStart: bad TLS material fails the start with a message that
// names the setting; an unreachable Redis does not (records must flow).
func TestRedisAtStart(t *testing.T) {
	cfg := withRedis("127.0.0.1:1")
	cfg.NewTerms.Redis.TLS = &configtls.ClientConfig{Config: configtls.Config{CAFile: "/nonexistent/ca.pem"}}
	p, err := newLogs(sharedcomponent.NewMap[*ssmProcessor](), metadatatest.NewSettings(componenttest.NewTelemetry()), cfg, &consumertest.LogsSink{}, time.Now)
	require.NoError(t, err)
	err = p.Start(ctx, componenttest.NewNopHost())
	require.ErrorContains(t, err, "new_terms::redis::tls")
	require.NoError(t, p.Shutdown(ctx))

	port, err := collectorrun.FreePort()
	require.NoError(t, err)
	h := start(t, withRedis(fmt.Sprintf("127.0.0.1:%d", port)), nil, nil)
	assert.Equal(t, []string{"true"}, newTerms(process(t, h, rawLogs(t, identities(t)[:1]))))
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError}, h.host.Statuses())
}

// TestRedisTLS: with `tls: {ca_file: ...}` two replicas share a Redis that
// accepts only TLS, as over plain TCP. The certificate is checked: a
// client that does not trust its CA (`tls: {}`, the system roots), or one
// that speaks plain TCP to it, decides locally and says so.
func TestRedisTLS(t *testing.T) {
	srv := redistest.StartTLS(t)
	assertReplicasShare(t, func() *Config { return trusting(withRedis(srv.Addr), srv.CAFile) })

	untrusted := withRedis(srv.Addr)
	untrusted.NewTerms.Redis.TLS = &configtls.ClientConfig{}
	for name, cfg := range map[string]*Config{"system roots": untrusted, "plain TCP": withRedis(srv.Addr)} {
		h := start(t, cfg, nil, nil)
		assert.Equal(t, []string{"true"}, newTerms(process(t, h, rawLogs(t, identities(t)[:1]))), name)
		assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError}, h.host.Statuses(), name)
		assertCounter(t, h, "otelcol_processor_ssmsession_decisions_fallback", 1)
	}
}
