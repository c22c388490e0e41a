// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionconnector

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/cloudtrail-detect/ssmsession/connector/ssmsessionconnector/internal/metadata"
	"github.com/cloudtrail-detect/ssmsession/connector/ssmsessionconnector/internal/metadatatest"
	"github.com/cloudtrail-detect/ssmsession/internal/firstseen"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/collectorrun"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/corpus"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/golden"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/samples"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/shapes"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/storagetest"
	"github.com/cloudtrail-detect/ssmsession/processor/ssmsessionprocessor"
)

var (
	ctx     = context.Background()
	emitAt  = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	clockAt = func() time.Time { return emitAt }
)

type harness struct {
	c    *ssmConnector
	sink *consumertest.MetricsSink
	tel  *componenttest.Telemetry
	host *storagetest.Host
}

func config(mod func(*Config)) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.EmitInterval = time.Hour // tests emit by hand
	if mod != nil {
		mod(cfg)
	}
	return cfg
}

func withStorage(cfg *Config) {
	id := storagetest.ID
	cfg.Storage = &id
}

func start(t testing.TB, cfg *Config, exts map[component.ID]component.Component) *harness {
	t.Helper()
	return startWith(t, cfg, exts, nil)
}

// startWith is start with next as the next consumer (nil: the sink).
func startWith(t testing.TB, cfg *Config, exts map[component.ID]component.Component, next consumer.Metrics) *harness {
	t.Helper()
	h := &harness{sink: &consumertest.MetricsSink{}, tel: componenttest.NewTelemetry(), host: storagetest.NewHost(exts)}
	set := connectortest.NewNopSettings(metadata.Type)
	set.ID = component.NewID(metadata.Type) // stable, as in a collector: it names the storage file
	set.TelemetrySettings = h.tel.NewTelemetrySettings()
	set.BuildInfo.Version = "test"
	if next == nil {
		next = h.sink
	}
	var err error
	h.c, err = newConnector(set, cfg, next, clockAt)
	require.NoError(t, err)
	require.NoError(t, h.c.Start(ctx, h.host))
	t.Cleanup(func() { _ = h.c.Shutdown(ctx) })
	return h
}

// consume feeds raw events in a shape and returns the next emission.
func (h *harness) consume(t *testing.T, shape shapes.Shape, raws [][]byte) pmetric.Metrics {
	t.Helper()
	ld, err := shapes.Logs(shape, raws)
	require.NoError(t, err)
	require.NoError(t, h.c.ConsumeLogs(ctx, ld))
	return h.emit(t)
}

func (h *harness) emit(t *testing.T) pmetric.Metrics {
	t.Helper()
	before := len(h.sink.AllMetrics())
	require.NoError(t, h.c.emit(ctx))
	all := h.sink.AllMetrics()
	if len(all) == before {
		return pmetric.NewMetrics()
	}
	return all[len(all)-1]
}

// points is a counter's one data point, named after the connector as
// every series of its telemetry is.
func points(v int64) []metricdata.DataPoint[int64] {
	return []metricdata.DataPoint[int64]{{Value: v, Attributes: attribute.NewSet(attribute.String("connector", "ssmsession"))}}
}

// values maps "metric|attr=value,..." to the value of each data point (a
// histogram's count).
func values(md pmetric.Metrics) map[string]int64 {
	out := map[string]int64{}
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		rm := md.ResourceMetrics().At(i)
		acct := ""
		if v, ok := rm.Resource().Attributes().Get(AttrAccount); ok {
			acct = v.Str()
		}
		ms := rm.ScopeMetrics().At(0).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			dps := pmetric.NewNumberDataPointSlice()
			switch m.Type() {
			case pmetric.MetricTypeSum:
				dps = m.Sum().DataPoints()
			case pmetric.MetricTypeGauge:
				dps = m.Gauge().DataPoints()
			case pmetric.MetricTypeHistogram:
				for k := 0; k < m.Histogram().DataPoints().Len(); k++ {
					dp := m.Histogram().DataPoints().At(k)
					out[fmt.Sprintf("%s|%s|%v", m.Name(), acct, dp.Attributes().AsRaw())] = int64(dp.Count())
				}
			}
			for k := 0; k < dps.Len(); k++ {
				out[fmt.Sprintf("%s|%s|%v", m.Name(), acct, dps.At(k).Attributes().AsRaw())] = dps.At(k).IntValue()
			}
		}
	}
	return out
}

// TestEveryShapeCountsAlike: the identity corpus in every input shape and
// delivery envelope (the inputs the processor's golden test reads) gives the
// same metrics, pinned in one golden file.
func TestEveryShapeCountsAlike(t *testing.T) {
	raws := corpus.Events(t, "identities")[:13]
	wide := func(c *Config) { c.Window = 30 * 24 * time.Hour }
	for _, shape := range shapes.Every {
		t.Run(string(shape), func(t *testing.T) {
			in := golden.Input(t, corpus.Path(t, "testdata", "shapes", string(shape)+".json"),
				func() (plog.Logs, error) { return shapes.Logs(shape, raws) })
			h := start(t, config(wide), nil)
			require.NoError(t, h.c.ConsumeLogs(ctx, in))
			golden.CompareMetrics(t, filepath.Join("testdata", "golden", "hunt.json"), h.emit(t))
		})
	}
	// Every StartSession counted once, duplicate deliveries not again.
	ids := map[string]bool{}
	for _, raw := range raws {
		var ev struct{ EventID, EventName string }
		require.NoError(t, json.Unmarshal(raw, &ev))
		if ev.EventName == "StartSession" {
			ids[ev.EventID] = true
		}
	}
	h := start(t, config(wide), nil)
	total := int64(0)
	for k, v := range values(h.consume(t, shapes.Raw, raws)) {
		if strings.HasPrefix(k, MetricStarts+"|") {
			total += v
		}
	}
	assert.Equal(t, int64(len(ids)), total)
}

// TestHuntOnSharedSamples compares with Elastic's hunting query on the real
// samples (its emulation): same counts per group, except where its dissect
// gets the target wrong.
func TestHuntOnSharedSamples(t *testing.T) {
	all := samples.Load(t)
	h := start(t, config(func(c *Config) { c.Window = 20 * 365 * 24 * time.Hour; c.Bucket = 24 * time.Hour }), nil)
	ld := plog.NewLogs()
	recs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	want := map[string]int64{}
	for _, s := range all {
		recs.AppendEmpty().Body().SetStr(s.Raw)
		e := s.Elastic
		if e["event.provider"] != "ssm.amazonaws.com" || e["event.action"] != "StartSession" {
			continue
		}
		target, _ := e["hunt_target_instance"].(string)
		if s.Line == 45 {
			require.Equal(t, "SSM-sudo, target=i-02311671588e96626", target, "Elastic's dissect")
			target = "i-02311671588e96626"
		}
		want[fmt.Sprint(target, "|", e["aws.cloudtrail.user_identity.arn"], "|", e["aws.cloudtrail.user_identity.type"], "|", e["event.outcome"])]++
	}
	require.NoError(t, h.c.ConsumeLogs(ctx, ld))
	got := map[string]int64{}
	for k, s := range h.c.counter.series {
		if !k.Durations {
			got[fmt.Sprint(k.Target, "|", k.ARN, "|", k.Type, "|", k.Outcome)] += s.Total
		}
	}
	assert.Equal(t, want, got)
}

// TestProcessorAheadChangesNothing: records tagged (and envelopes split) by
// the processor count exactly as the raw input does.
func TestProcessorAheadChangesNothing(t *testing.T) {
	raws := corpus.Events(t, "identities")
	direct := start(t, config(nil), nil)
	want := values(direct.consume(t, shapes.Envelope, raws))
	require.NotEmpty(t, want)

	via := start(t, config(nil), nil)
	pf := ssmsessionprocessor.NewFactory()
	proc, err := pf.CreateLogs(ctx, processortest.NewNopSettings(pf.Type()), pf.CreateDefaultConfig(), via.c)
	require.NoError(t, err)
	require.NoError(t, proc.Start(ctx, componenttest.NewNopHost()))
	defer func() { require.NoError(t, proc.Shutdown(ctx)) }()
	ld, err := shapes.Logs(shapes.Envelope, raws)
	require.NoError(t, err)
	require.NoError(t, proc.ConsumeLogs(ctx, ld))
	assert.Equal(t, want, values(via.emit(t)))
}

// TestRestartKeepsCounts: counts survive a restart on file_storage; the
// window and totals continue where they were. The window spans the whole
// corpus, so every series restored is checked.
func TestRestartKeepsCounts(t *testing.T) {
	raws := corpus.Events(t, "identities")
	dir := t.TempDir()
	wide := func(c *Config) { c.Window = 30 * 24 * time.Hour }
	whole := start(t, config(wide), nil)
	want := values(whole.consume(t, shapes.Raw, raws))

	ext := storagetest.FileStorage(t, dir)
	first := start(t, config(func(c *Config) { wide(c); withStorage(c) }), map[component.ID]component.Component{storagetest.ID: ext})
	ld, err := shapes.Logs(shapes.Raw, raws[:11])
	require.NoError(t, err)
	require.NoError(t, first.c.ConsumeLogs(ctx, ld))
	// Crash: no emission, no shutdown; only the file is released, as the
	// dying process releases bbolt's lock.
	require.NoError(t, first.c.link.Shutdown(ctx))
	require.NoError(t, ext.Shutdown(ctx))

	second := start(t, config(func(c *Config) { wide(c); withStorage(c) }), map[component.ID]component.Component{storagetest.ID: storagetest.FileStorage(t, dir)})
	assert.Equal(t, want, values(second.consume(t, shapes.Raw, raws[11:])))
}

func TestEmitsOnShutdown(t *testing.T) {
	h := start(t, config(nil), nil)
	ld, err := shapes.Logs(shapes.Raw, corpus.Events(t, "identities"))
	require.NoError(t, err)
	require.NoError(t, h.c.ConsumeLogs(ctx, ld))
	require.Empty(t, h.sink.AllMetrics())
	require.NoError(t, h.c.Shutdown(ctx))
	require.Len(t, h.sink.AllMetrics(), 1)
	assert.Positive(t, h.sink.AllMetrics()[0].DataPointCount())
}

func TestStorageFaultsKeepCounting(t *testing.T) {
	raws := corpus.Events(t, "identities")
	faulty := &storagetest.FaultyExtension{Extension: storagetest.FileStorage(t, t.TempDir())}
	h := start(t, config(withStorage), map[component.ID]component.Component{storagetest.ID: faulty})
	require.Len(t, faulty.Clients, 1)
	faulty.Clients[0].SetFailing(true)
	md := h.consume(t, shapes.Raw, raws[:1])
	starts := 0
	for k := range values(md) {
		if strings.HasPrefix(k, MetricStarts) {
			starts++
		}
	}
	assert.Equal(t, 2, starts, "counted from memory: one series, sum and window")
	faulty.Clients[0].SetFailing(false)
	h.consume(t, shapes.Raw, raws[2:3])
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK}, h.host.Statuses())
}

func TestOverflowTelemetry(t *testing.T) {
	raws := corpus.Events(t, "identities")
	h := start(t, config(func(c *Config) { c.MaxSeries = 2 }), nil)
	md := h.consume(t, shapes.Raw, raws)
	found := false
	for k := range values(md) {
		if k == MetricStarts+"||map[otel.metric.overflow:true]" {
			found = true
		}
	}
	assert.True(t, found, "overflow series emitted")
	// 15 sessions; the first two series (alice on i-0a11..a: 3, on
	// i-0a22..b: 1) hold 4, the other 11 are folded into the overflow.
	metadatatest.AssertEqualConnectorSsmsessionOverflowSessions(t, h.tel, points(11), metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualConnectorSsmsessionSessionsCounted(t, h.tel, points(15), metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualConnectorSsmsessionSessionsDuplicate(t, h.tel, points(1), metricdatatest.IgnoreTimestamp())
}

// TestReplayAfterRestartIsNotCounted: a receiver that re-reads everything
// after a restart (or a deliberate replay) does not double the counts: the
// event ids counted are kept with the counts.
func TestReplayAfterRestartIsNotCounted(t *testing.T) {
	raws := corpus.Events(t, "identities")
	dir := t.TempDir()
	ext := storagetest.FileStorage(t, dir)
	wide := func(c *Config) { c.Window = 30 * 24 * time.Hour; withStorage(c) }
	first := start(t, config(wide), map[component.ID]component.Component{storagetest.ID: ext})
	want := values(first.consume(t, shapes.Raw, raws))
	require.NoError(t, first.c.Shutdown(ctx))
	require.NoError(t, ext.Shutdown(ctx))

	second := start(t, config(wide), map[component.ID]component.Component{storagetest.ID: storagetest.FileStorage(t, dir)})
	assert.Equal(t, want, values(second.consume(t, shapes.Raw, raws)))
	metadatatest.AssertEqualConnectorSsmsessionSessionsDuplicate(t, second.tel, points(16), metricdatatest.IgnoreTimestamp())
}

// await keeps the newest dedupeCache event marks waiting for a save, the
// batches beyond them dropped oldest first (and returned, for the store to
// forget), and its count of them exact.
func TestAwaitKeepsTheNewestMarks(t *testing.T) {
	c := &ssmConnector{counter: &counter{}}
	var dropped []firstseen.Alert
	for range 3 {
		dropped = append(dropped, c.await(make([]firstseen.Alert, dedupeCache/2))...)
	}
	assert.Empty(t, c.await(nil))
	assert.Len(t, dropped, dedupeCache/2)
	n := 0
	for _, m := range c.unsettled {
		n += len(m.alerts)
	}
	assert.Len(t, c.unsettled, 2)
	assert.Equal(t, dedupeCache, n)
	assert.Equal(t, n, c.nUnsettled)
}

// TestStateKeepsNoViewOfBodies: the reader's strings are views of the raw
// bodies it read (an S3 object's, perhaps), so the series and open sessions
// kept past the batch hold copies of their own.
func TestStateKeepsNoViewOfBodies(t *testing.T) {
	h := start(t, config(nil), nil)
	ld, err := shapes.Logs(shapes.Raw, corpus.Events(t, "lifecycle"))
	require.NoError(t, err)
	var bodies []string
	for _, lr := range collectorrun.Records([]plog.Logs{ld}) {
		bodies = append(bodies, lr.Body().Str())
	}
	require.NoError(t, h.c.ConsumeLogs(ctx, ld))
	view := func(s string) bool {
		for _, b := range bodies {
			if p, start := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(b))); s != "" && p >= start && p < start+uintptr(len(b)) {
				return true
			}
		}
		return false
	}
	kept := func(k seriesKey) []string { return []string{k.Account, k.Target, k.ARN, k.Type} }
	var held []string
	h.c.mu.Lock()
	for k := range h.c.counter.series {
		held = append(held, kept(k)...)
	}
	for _, e := range h.c.counter.sessions.set.Values() {
		held = append(append(held, e.ID), kept(e.Key)...)
	}
	h.c.mu.Unlock()
	require.NotEmpty(t, held)
	for _, s := range held {
		assert.False(t, view(s), "%q is a view of a body", s)
	}
}
