// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/cloudtrail-detect/ssmsession/connector/ssmsessionconnector"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/storagetest"
	"github.com/cloudtrail-detect/ssmsession/processor/ssmsessionprocessor"
)

// The components are run in process here: memory is measured exactly, and
// the collector binary adds nothing to what they hold.

// pipeline is processor -> (sink, connector), as a logs pipeline fanning
// out to an exporter and the hunt connector.
type pipeline struct {
	proc       processor.Logs
	conn       connector.Logs
	sink       *countingSink
	mets       *consumertest.MetricsSink
	ptel, ctel *componenttest.Telemetry // the components' self-telemetry
}

// countingSink counts records and keeps none, so the heap measured is the
// components'.
type countingSink struct {
	mu sync.Mutex
	n  int
}

func (s *countingSink) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n += ld.LogRecordCount()
	return nil
}

func (s *countingSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func newPipeline(t *testing.T, procCfg func(*ssmsessionprocessor.Config), connCfg func(*ssmsessionconnector.Config)) *pipeline {
	t.Helper()
	ctx := context.Background()
	ext := storagetest.FileStorage(t, t.TempDir())
	host := storagetest.NewHost(map[component.ID]component.Component{storagetest.ID: ext})
	id := storagetest.ID
	p := &pipeline{sink: &countingSink{}, mets: &consumertest.MetricsSink{}, ptel: componenttest.NewTelemetry(), ctel: componenttest.NewTelemetry()}

	cf := ssmsessionconnector.NewFactory()
	ccfg := cf.CreateDefaultConfig().(*ssmsessionconnector.Config)
	ccfg.Storage = &id
	connCfg(ccfg)
	cset := connectortest.NewNopSettings(cf.Type())
	cset.ID = component.NewID(cf.Type())
	cset.TelemetrySettings = p.ctel.NewTelemetrySettings()
	var err error
	p.conn, err = cf.CreateLogsToMetrics(ctx, cset, ccfg, p.mets)
	require.NoError(t, err)

	pf := ssmsessionprocessor.NewFactory()
	pcfg := pf.CreateDefaultConfig().(*ssmsessionprocessor.Config)
	pcfg.NewTerms.Storage = &id
	procCfg(pcfg)
	pset := processortest.NewNopSettings(pf.Type())
	pset.ID = component.NewID(pf.Type())
	pset.TelemetrySettings = p.ptel.NewTelemetrySettings()
	fan := consumerFunc(func(ctx context.Context, ld plog.Logs) error {
		if err := p.conn.ConsumeLogs(ctx, ld); err != nil {
			return err
		}
		return p.sink.ConsumeLogs(ctx, ld)
	})
	p.proc, err = pf.CreateLogs(ctx, pset, pcfg, fan)
	require.NoError(t, err)

	require.NoError(t, p.conn.Start(ctx, host))
	require.NoError(t, p.proc.Start(ctx, host))
	t.Cleanup(func() {
		assert.NoError(t, p.proc.Shutdown(ctx))
		assert.NoError(t, p.conn.Shutdown(ctx))
	})
	return p
}

type consumerFunc func(context.Context, plog.Logs) error

func (f consumerFunc) ConsumeLogs(ctx context.Context, ld plog.Logs) error { return f(ctx, ld) }
func (consumerFunc) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

// Large parts of hostile records, built once.
var (
	hugeReason = strings.Repeat("A", 100<<10)
	junk       = "StartSession ssm.amazonaws.com " + strings.Repeat("\xff", 1<<20)
	deep       = strings.Repeat(`{"a":`, 1000) + `"StartSession ssm.amazonaws.com"` + strings.Repeat("}", 1000)
	brackets   = strings.Repeat("[", 200) + strings.Repeat("]", 200)
)

// hostile renders adversarial record n: StartSession calls by identities
// never seen before, with huge or nested parameters, and junk.
func hostile(rng *rand.Rand, n int) string {
	user := fmt.Sprintf("intruder-%d-%d", n, rng.Uint64())
	start := func(params string) string {
		return `{"eventSource":"ssm.amazonaws.com","eventName":"StartSession","eventTime":"2026-11-18T02:05:10Z",` +
			`"eventID":"` + user + `","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/` + user +
			`","accountId":"111122223333","userName":"` + user + `"},"requestParameters":` + params + `}`
	}
	switch n % 6 {
	case 0, 1: // every principal unique, every target unique
		return start(fmt.Sprintf(`{"target":"i-%017x"}`, rng.Uint64()))
	case 2: // a 100 KB reason
		return start(`{"target":"i-0a3f5c2e91b7d4e01","reason":"` + hugeReason + `"}`)
	case 3: // a 1 MiB body that is no JSON at all, naming the event
		return junk
	case 4: // nesting far beyond what any event has
		return deep
	}
	return start(`{"target":"i-0a3f5c2e91b7d4e01","parameters":` + brackets + `}`)
}

// TestHostileLoad streams adversarial records for a bounded time through
// processor and connector with small caps: nothing is dropped, and the
// memory they keep stays within the caps however many identities pass.
func TestHostileLoad(t *testing.T) {
	p := newPipeline(t,
		func(c *ssmsessionprocessor.Config) { c.NewTerms.CacheSize = 2000 },
		func(c *ssmsessionconnector.Config) { c.MaxSeries = 500 })
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)

	rng := rand.New(rand.NewPCG(7, 7))
	ctx := context.Background()
	sent, peak := 0, uint64(0)
	var busy time.Duration
	for began := time.Now(); time.Since(began) < 5*time.Second; {
		ld := plog.NewLogs()
		recs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
		for i := 0; i < 200; i++ {
			recs.AppendEmpty().Body().SetStr(hostile(rng, sent+i))
		}
		sent += recs.Len()
		st := time.Now()
		require.NoError(t, p.proc.ConsumeLogs(ctx, ld))
		busy += time.Since(st)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	assert.Equal(t, sent, p.sink.count(), "nothing dropped")

	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	kept := int64(after.HeapAlloc) - int64(base.HeapAlloc)
	t.Logf("%d hostile records (%d distinct identities): %.0f records/s in processor and connector; peak heap %d MiB; kept after GC %d MiB",
		sent, sent/2, float64(sent)/busy.Seconds(), peak>>20, kept>>20)
	// The caps hold: the cache keeps at most 2,000 terms (every miss adds
	// one, so all but 2,000 were evicted), the connector at most 500
	// series (every session beyond them went to the overflow series).
	misses, evicted := sum(t, p.ptel, "otelcol_processor_ssmsession_cache_misses"), sum(t, p.ptel, "otelcol_processor_ssmsession_cache_evictions")
	require.Greater(t, misses, int64(2000), "more identities than the cache holds")
	assert.GreaterOrEqual(t, evicted, misses-2000, "the cache holds at most 2,000 terms")
	counted, overflow := sum(t, p.ctel, "otelcol_connector_ssmsession_sessions_counted"), sum(t, p.ctel, "otelcol_connector_ssmsession_overflow_sessions")
	require.Greater(t, counted, int64(500))
	assert.GreaterOrEqual(t, overflow, counted-500, "at most 500 series")
	// 2,000 cached terms, 500 series and a 65,536-entry event cache: a few
	// MiB, against hundreds for unbounded state.
	assert.Less(t, kept, int64(32<<20), "state must stay within the caps")
}

// sum is the total of a counter of the components' self-telemetry.
func sum(t *testing.T, tel *componenttest.Telemetry, name string) int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	require.NoError(t, err, name)
	var n int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		n += dp.Value
	}
	return n
}

// TestShutdownWhileInFlight: batches keep arriving, from several goroutines,
// while the components shut down; nothing panics or races (run with -race),
// and every batch the processor accepted, before or after, reached its
// next consumer.
func TestShutdownWhileInFlight(t *testing.T) {
	p := newPipeline(t, func(*ssmsessionprocessor.Config) {}, func(*ssmsessionconnector.Config) {})
	ctx := context.Background()
	stop := make(chan struct{})
	var accepted atomic.Int64 // batches of one record each
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ld := plog.NewLogs()
				ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr(hostile(rng, 6*i))
				if p.proc.ConsumeLogs(ctx, ld) == nil {
					accepted.Add(1)
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	assert.NoError(t, p.proc.Shutdown(ctx))
	assert.NoError(t, p.conn.Shutdown(ctx))
	time.Sleep(100 * time.Millisecond) // late batches after shutdown
	close(stop)
	wg.Wait()
	require.Positive(t, accepted.Load())
	assert.Equal(t, int(accepted.Load()), p.sink.count(), "records accepted and records passed on")
}
