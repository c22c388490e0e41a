// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionprocessor

import (
	"fmt"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/transformprocessor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/cloudtrail-detect/ssmsession/internal/sharedcomponent"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/redistest"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/shapes"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/stock"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/storagetest"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/traffic"
	"github.com/cloudtrail-detect/ssmsession/processor/ssmsessionprocessor/internal/metadatatest"
)

// benchShapes are the input shapes benchmarked; each batch holds 1,000
// events, about 5% of them StartSession.
var benchShapes = []shapes.Shape{shapes.Raw, shapes.Map, shapes.ECS, shapes.OTel, shapes.Envelope}

const batchSize = 1000

// benchBatch builds a batch before any timing: as records in a shape, or
// as 10 CloudTrail file objects of 100 events.
func benchBatch(tb testing.TB, shape shapes.Shape) plog.Logs {
	tb.Helper()
	raws := traffic.Mix(1, batchSize, 0.05, 40)
	if shape != shapes.Envelope {
		ld, err := shapes.Logs(shape, raws)
		if err != nil {
			tb.Fatal(err)
		}
		return ld
	}
	ld, err := shapes.Objects(shape, raws, 100)
	if err != nil {
		tb.Fatal(err)
	}
	return ld
}

// stockRule is what the stock configurations tag a match with: the
// processor's defaults.
var stockRule = func() stock.Rule {
	q := strconv.Quote
	r := stock.Rule{Target: AttrTarget, Principal: AttrPrincipal}
	for _, t := range [][2]string{
		{AttrRuleID, q(RuleID)}, {AttrRuleName, q(RuleName)}, {AttrRiskScore, "47"}, {AttrSeverity, q("medium")},
		{AttrFramework, q("MITRE ATT&CK")}, {AttrTacticID, q(TacticID)}, {AttrTacticName, q(TacticName)},
		{AttrTechniqueID, q(TechniqueID)}, {AttrTechniqueName, q(TechniqueName)},
		{AttrSubTechID, q(SubTechID)}, {AttrSubTechName, q(SubTechName)},
	} {
		r.Static = append(r.Static, stock.Tag{Key: t[0], Literal: t[1]})
	}
	return r
}()

func stockVariants(shape shapes.Shape) []stock.Variant { return stock.Variants(shape, stockRule) }

func newStock(tb testing.TB, v stock.Variant) processor.Logs {
	tb.Helper()
	return newStockTo(tb, v, consumertest.NewNop())
}

func newStockTo(tb testing.TB, v stock.Variant, next consumer.Logs) processor.Logs {
	tb.Helper()
	f := transformprocessor.NewFactory()
	cfg := f.CreateDefaultConfig()
	if err := confmap.NewFromStringMap(v.Config()).Unmarshal(cfg); err != nil {
		tb.Fatal(err)
	}
	p, err := f.CreateLogs(ctx, processortest.NewNopSettings(f.Type()), cfg, next)
	if err != nil {
		tb.Fatal(err)
	}
	startBench(tb, p)
	return p
}

func newOurs(tb testing.TB, cfg *Config) processor.Logs {
	tb.Helper()
	return newOursTo(tb, cfg, consumertest.NewNop())
}

func newOursTo(tb testing.TB, cfg *Config, next consumer.Logs) processor.Logs {
	tb.Helper()
	f := NewFactory()
	p, err := f.CreateLogs(ctx, processortest.NewNopSettings(f.Type()), cfg, next)
	if err != nil {
		tb.Fatal(err)
	}
	startBench(tb, p)
	return p
}

func startBench(tb testing.TB, p processor.Logs) {
	if err := p.Start(ctx, componenttest.NewNopHost()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = p.Shutdown(ctx) })
}

// copyOf is a fresh copy of ld: each run consumes its own, as the
// processors modify what they consume.
func copyOf(ld plog.Logs) plog.Logs {
	out := plog.NewLogs()
	ld.CopyTo(out)
	return out
}

// copiesOf is n fresh copies of ld.
func copiesOf(ld plog.Logs, n int) []plog.Logs {
	out := make([]plog.Logs, n)
	for i := range out {
		out[i] = copyOf(ld)
	}
	return out
}

// run processes a fresh copy of batch, timing only the processor.
func run(b *testing.B, p processor.Logs, batch plog.Logs) {
	b.Helper()
	for b.Loop() {
		b.StopTimer()
		ld := copyOf(batch)
		b.StartTimer()
		if err := p.ConsumeLogs(ctx, ld); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batchSize)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkProcessor: ours (tagging and new_terms, memory state) and the
// best stock configuration, per shape. Compare runs with benchstat.
func BenchmarkProcessor(b *testing.B) {
	for _, shape := range benchShapes {
		batch := benchBatch(b, shape)
		b.Run(string(shape)+"/ssmsession", func(b *testing.B) { run(b, newOurs(b, defaultConfig()), batch) })
		b.Run(string(shape)+"/ottl", func(b *testing.B) { run(b, newStock(b, stockVariants(shape)[0]), batch) })
	}
}

// BenchmarkVersusOTTL alternates ours and every stock variant round by
// round on the same batch (one round per b.N, 20 batches each) and reports
// the median of the per-round throughput ratios, which a noisy machine
// disturbs far less than one long run. Each batch is copied and garbage
// collected before its timed part, so no side pays for another's (or the
// copies') garbage; this leaves out the collection OTTL's extra
// allocation would cost it.
func BenchmarkVersusOTTL(b *testing.B) {
	const perRound = 20
	for _, shape := range benchShapes {
		b.Run(string(shape), func(b *testing.B) {
			batch := benchBatch(b, shape)
			ours := newOurs(b, defaultConfig())
			variants := stockVariants(shape)
			stock := make([]processor.Logs, len(variants))
			for i, v := range variants {
				stock[i] = newStock(b, v)
			}
			timeIt := func(p processor.Logs) time.Duration {
				var total time.Duration
				for range perRound {
					ld := copyOf(batch)
					runtime.GC()
					start := time.Now()
					if err := p.ConsumeLogs(ctx, ld); err != nil {
						b.Fatal(err)
					}
					total += time.Since(start)
				}
				return total
			}
			rate := func(d time.Duration) float64 { return perRound * batchSize / d.Seconds() }
			ratios := make([][]float64, len(variants))
			stockRate := make([][]float64, len(variants))
			var oursRate []float64
			for b.Loop() {
				o := timeIt(ours)
				oursRate = append(oursRate, rate(o))
				for i, p := range stock {
					s := timeIt(p)
					ratios[i] = append(ratios[i], s.Seconds()/o.Seconds())
					stockRate[i] = append(stockRate[i], rate(s))
				}
			}
			b.ReportMetric(median(oursRate), "records/s_ssmsession")
			for i, v := range variants {
				b.ReportMetric(median(ratios[i]), "x_"+v.Name)
				b.ReportMetric(median(stockRate[i]), "records/s_"+v.Name)
			}
		})
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

// BenchmarkNonMatching measures the per-record cost of records that are not
// StartSession, the 95% and more of a trail: ours without the
// processorhelper around it (allocs/op is per batch of 1,000, so it must
// not grow with the batch), and the best stock configuration for the shape
// through its processor. "hot" consumes the same batch again and again
// (neither side modifies it), so it stays in the CPU's caches; "fresh"
// consumes copies made outside the timer, 20 at a time (about 25 MB of
// records), as a pipeline hands over batches a receiver has just built:
// the difference is the cost of fetching records from memory.
func BenchmarkNonMatching(b *testing.B) {
	const copies = 20
	for _, shape := range []shapes.Shape{shapes.Raw, shapes.ECS, shapes.OTel, shapes.Map} {
		ld := nonMatching(b, shape)
		best := stockVariants(shape)[0]
		for _, side := range []struct {
			name string
			new  func(testing.TB) func(plog.Logs)
		}{
			{"ssmsession", func(tb testing.TB) func(plog.Logs) {
				p, err := newProcessor(processortest.NewNopSettings(NewFactory().Type()), defaultConfig(), time.Now)
				if err != nil {
					tb.Fatal(err)
				}
				return func(ld plog.Logs) { p.process(ctx, ld) }
			}},
			{best.Name, func(tb testing.TB) func(plog.Logs) {
				p := newStock(tb, best)
				return func(ld plog.Logs) {
					if err := p.ConsumeLogs(ctx, ld); err != nil {
						tb.Fatal(err)
					}
				}
			}},
		} {
			b.Run(string(shape)+"/hot/"+side.name, func(b *testing.B) {
				consume := side.new(b)
				b.ReportAllocs()
				for b.Loop() {
					consume(ld)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(batchSize*b.N), "ns/record")
			})
			b.Run(string(shape)+"/fresh/"+side.name, func(b *testing.B) {
				consume := side.new(b)
				for b.Loop() {
					b.StopTimer()
					lds := copiesOf(ld, copies)
					b.StartTimer()
					for _, ld := range lds {
						consume(ld)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(copies*batchSize*b.N), "ns/record")
			})
		}
	}
}

// BenchmarkMatches measures the cost of a match on both sides: batches in
// which every event is a StartSession (one in ten failing, 40 identities:
// terms known after the first batch), each a fresh copy made outside the
// timer, through ours and the best stock configuration, in ns per record.
func BenchmarkMatches(b *testing.B) {
	const copies = 20
	for _, shape := range []shapes.Shape{shapes.Raw, shapes.ECS, shapes.OTel, shapes.Map} {
		batch, err := shapes.Logs(shape, traffic.Mix(1, batchSize, 1, 40))
		if err != nil {
			b.Fatal(err)
		}
		best := stockVariants(shape)[0]
		for _, side := range []struct {
			name string
			new  func(testing.TB) processor.Logs
		}{
			{"ssmsession", func(tb testing.TB) processor.Logs { return newOurs(tb, defaultConfig()) }},
			{best.Name, func(tb testing.TB) processor.Logs { return newStock(tb, best) }},
		} {
			b.Run(string(shape)+"/"+side.name, func(b *testing.B) {
				p := side.new(b)
				b.ReportAllocs()
				for b.Loop() {
					b.StopTimer()
					lds := copiesOf(batch, copies)
					b.StartTimer()
					for _, ld := range lds {
						if err := p.ConsumeLogs(ctx, ld); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(copies*batchSize*b.N), "ns/record")
			})
		}
	}
}

// nonMatching is a batch of 1,000 everyday events without any StartSession.
func nonMatching(tb testing.TB, shape shapes.Shape) plog.Logs {
	tb.Helper()
	raws := traffic.Mix(2, batchSize, 0, 1)
	ld, err := shapes.Logs(shape, raws)
	if err != nil {
		tb.Fatal(err)
	}
	return ld
}

// BenchmarkFirstSeenAtScale sends 1,000,000 StartSession calls by distinct
// identities through a 100,000-term cache backed by file_storage: every
// term misses the cache, is looked up in and written to bbolt in one
// Batch per ConsumeLogs. Batches are built outside the timer; the peak
// heap is sampled between batches.
func BenchmarkFirstSeenAtScale(b *testing.B) {
	if testing.Short() {
		b.Skip("minutes of work; run with make bench")
	}
	const terms, cache = 1_000_000, 100_000
	cfg := withStorage()
	cfg.NewTerms.CacheSize = cache
	ext := storagetest.FileStorage(b, b.TempDir())
	f := NewFactory()
	p, err := f.CreateLogs(ctx, processortest.NewNopSettings(f.Type()), cfg, consumertest.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Start(ctx, storagetest.NewHost(map[component.ID]component.Component{storagetest.ID: ext})); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Shutdown(ctx) })
	var peak uint64
	var ms runtime.MemStats
	for b.Loop() {
		for n := 0; n < terms; n += batchSize {
			b.StopTimer()
			ld := distinctTerms(n)
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			b.StartTimer()
			if err := p.ConsumeLogs(ctx, ld); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(terms)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak_heap_MiB")
}

// scaleEvent is a StartSession by IAM user user-N at an event time, with
// its own event id.
const scaleEvent = `{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDA%016d","arn":"arn:aws:iam::111122223333:user/user-%d","accountId":"111122223333","userName":"user-%d"},` +
	`"eventTime":"%s","eventSource":"ssm.amazonaws.com","eventName":"StartSession","awsRegion":"eu-west-1","sourceIPAddress":"203.0.113.9",` +
	`"requestParameters":{"target":"i-0a3f5c2e91b7d4e01"},"eventID":"00000000-0000-4000-8000-%012d","recipientAccountId":"111122223333","requestID":"%d"}`

var scaleTime = time.Date(2026, 11, 16, 10, 0, 0, 0, time.UTC)

// distinctTerms is a batch of StartSessions by users from-(from+batchSize),
// each a term of its own.
func distinctTerms(from int) plog.Logs { return distinctTermsAt(from, scaleTime) }

func distinctTermsAt(from int, at time.Time) plog.Logs {
	ld := plog.NewLogs()
	recs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	ts := at.Format(time.RFC3339)
	for i := from; i < from+batchSize; i++ {
		recs.AppendEmpty().Body().SetStr(fmt.Sprintf(scaleEvent, i, i, i, ts, i, i))
	}
	return ld
}

// BenchmarkConsumeDuringPrune: a file_storage store of 1,000,000 terms,
// half of them older than the window, is swept while batches keep coming
// (1,000 records, 5% StartSession: known terms and new ones). It reports
// ConsumeLogs latency with no sweep, and during the sweep, which runs in
// walks and delete transactions so that batches write between them.
func BenchmarkConsumeDuringPrune(b *testing.B) {
	if testing.Short() {
		b.Skip("a minute of setup; run with make bench")
	}
	const terms = 1_000_000
	for range b.N {
		b.StopTimer()
		now := scaleTime.Add(11 * 24 * time.Hour)
		var mu sync.Mutex
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		cfg := withStorage()
		ext := storagetest.FileStorage(b, b.TempDir())
		tel := componenttest.NewTelemetry()
		pruned := func() int64 {
			m, err := tel.GetMetric("otelcol_processor_ssmsession_terms_pruned")
			if err != nil {
				return 0
			}
			return m.Data.(metricdata.Sum[int64]).DataPoints[0].Value
		}
		p, err := newLogs(sharedcomponent.NewMap[*ssmProcessor](), metadatatest.NewSettings(tel), cfg, consumertest.NewNop(), clock)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Start(ctx, storagetest.NewHost(map[component.ID]component.Component{storagetest.ID: ext})); err != nil {
			b.Fatal(err)
		}
		// Half the terms 11 days old, half recent: the sweep deletes 500,000.
		for n := 0; n < terms; n += batchSize {
			at := scaleTime
			if n >= terms/2 {
				at = now
			}
			if err := p.ConsumeLogs(ctx, distinctTermsAt(n, at)); err != nil {
				b.Fatal(err)
			}
		}
		batches := make([]plog.Logs, 200)
		for i := range batches {
			batches[i] = benchBatchAt(b, uint64(100+i), now)
		}
		measure := func(k int, until func() bool) []time.Duration {
			var d []time.Duration
			for i := 0; i < k || until != nil && !until(); i++ {
				start := time.Now()
				if err := p.ConsumeLogs(ctx, batches[i%len(batches)]); err != nil {
					b.Fatal(err)
				}
				d = append(d, time.Since(start))
			}
			return d
		}
		quiet := measure(200, nil)
		mu.Lock()
		now = now.Add(2 * time.Hour) // a sweep is due; the next batch starts it
		mu.Unlock()
		b.StartTimer()
		sweepStart := time.Now()
		during := measure(1, func() bool { return pruned() > 0 })
		b.StopTimer()
		if n := pruned(); n != terms/2 {
			b.Fatalf("the sweep removed %d terms, want %d", n, terms/2)
		}
		reportLatency(b, "quiet", quiet)
		reportLatency(b, "sweep", during)
		b.ReportMetric(time.Since(sweepStart).Seconds(), "sweep_s")
		b.ReportMetric(float64(len(during)), "batches_during_sweep")
		if err := p.Shutdown(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// benchBatchAt is the everyday mix (5% StartSession, 40 identities) at an
// event time.
func benchBatchAt(tb testing.TB, seed uint64, at time.Time) plog.Logs {
	tb.Helper()
	raws := traffic.Mix(seed, batchSize, 0.05, 40)
	for i, r := range raws {
		raws[i] = eventTimePattern.ReplaceAll(r, []byte(`"eventTime":"`+at.Format(time.RFC3339)+`"`))
	}
	ld, err := shapes.Logs(shapes.Raw, raws)
	if err != nil {
		tb.Fatal(err)
	}
	return ld
}

var eventTimePattern = regexp.MustCompile(`"eventTime":"[^"]*"`)

func reportLatency(b *testing.B, name string, d []time.Duration) {
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, name+"_p50_ms")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds())/1000, name+"_p99_ms")
	b.ReportMetric(float64(d[len(d)-1].Microseconds())/1000, name+"_max_ms")
}

// BenchmarkBackends: the cost of each new_terms backend, worst case (every
// record a StartSession with a term never seen: each one written, in Redis
// one script per record in one pipeline per batch, per master in a
// 3-master Cluster) and usual case (the benchmark batch again and again:
// terms known, answered from the cache).
func BenchmarkBackends(b *testing.B) {
	known := benchBatch(b, shapes.Raw)
	cluster := redistest.StartCluster(b, 3, 1)
	clustered := benchBackend{"redis_cluster", func() *Config { return withRedisCluster(cluster.Seeds()) }, nopHost}
	for _, be := range append(benchBackends(b), clustered) {
		b.Run(be.name+"/new_terms", func(b *testing.B) {
			p, n := be.start(b), benchRun.Add(1)<<32 // distinct from other runs' terms in the shared Redis
			for b.Loop() {
				b.StopTimer()
				ld := distinctTerms(int(n))
				n += batchSize
				b.StartTimer()
				if err := p.ConsumeLogs(ctx, ld); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(batchSize)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
		b.Run(be.name+"/known_terms", func(b *testing.B) { run(b, be.start(b), known) })
	}
}

var benchRun atomic.Int64

// benchBackend is a new_terms backend to benchmark, and how to start a
// processor on it.
type benchBackend struct {
	name string
	cfg  func() *Config
	host func(b *testing.B) component.Host
}

// benchBackends: memory, file_storage and one Redis server.
func benchBackends(b *testing.B) []benchBackend {
	srv := redistest.Start(b)
	return []benchBackend{
		{"memory", defaultConfig, nopHost},
		{"file_storage", withStorage, func(b *testing.B) component.Host {
			return storagetest.NewHost(map[component.ID]component.Component{storagetest.ID: storagetest.FileStorage(b, b.TempDir())})
		}},
		{"redis", func() *Config { return withRedis(srv.Addr) }, nopHost},
	}
}

func nopHost(*testing.B) component.Host { return componenttest.NewNopHost() }

func (be benchBackend) start(b *testing.B) processor.Logs {
	f := NewFactory()
	p, err := f.CreateLogs(ctx, processortest.NewNopSettings(f.Type()), be.cfg(), consumertest.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Start(ctx, be.host(b)); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Shutdown(ctx) })
	return p
}

// BenchmarkEnvelopeScale splits one CloudTrail object of 1,000 and of 10,000
// events (5% StartSession) in each form file_log gives it: time per event
// must not grow with the object. Each iteration gets a fresh copy, made
// outside the timer (a split consumes its input).
func BenchmarkEnvelopeScale(b *testing.B) {
	for _, shape := range []shapes.Shape{shapes.Envelope, shapes.EnvelopeMap, shapes.EnvelopeAttrs} {
		for _, n := range []int{1_000, 10_000} {
			b.Run(fmt.Sprintf("%s/%d", shape, n), func(b *testing.B) {
				object, err := shapes.Logs(shape, traffic.Mix(3, n, 0.05, 200))
				if err != nil {
					b.Fatal(err)
				}
				p, err := newProcessor(processortest.NewNopSettings(NewFactory().Type()), defaultConfig(), time.Now)
				if err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					b.StopTimer()
					ld := copyOf(object)
					b.StartTimer()
					p.process(ctx, ld)
					if ld.LogRecordCount() != n {
						b.Fatalf("%d records for %d events", ld.LogRecordCount(), n)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
			})
		}
	}
}

// TestStockVariantsTagAsWeDo keeps the comparison honest: every stock
// configuration benchmarked tags exactly the records ours tags, with the
// Every stock variant tags the records ours tags, with the same values for
// the attributes it sets.
func TestStockVariantsTagAsWeDo(t *testing.T) {
	for _, shape := range benchShapes {
		if shape == shapes.Envelope {
			continue // OTTL cannot split an S3 object: its variant only parses
		}
		batch := benchBatch(t, shape)
		ours := &consumertest.LogsSink{}
		want := stockTags(t, newOursTo(t, defaultConfig(), ours), ours, batch)
		require.NotEmpty(t, want)
		for _, v := range stockVariants(shape) {
			sink := &consumertest.LogsSink{}
			assert.Equal(t, want, stockTags(t, newStockTo(t, v, sink), sink, batch), "%s/%s", shape, v.Name)
		}
	}
}

// stockTags runs p on a copy of batch and returns, by record index, the
// attributes the stock configurations set of each record tagged with the
// rule.
func stockTags(t *testing.T, p processor.Logs, sink *consumertest.LogsSink, batch plog.Logs) map[int]map[string]string {
	t.Helper()
	ld := copyOf(batch)
	require.NoError(t, p.ConsumeLogs(ctx, ld))
	out := map[int]map[string]string{}
	for i, lr := range records(sink.AllLogs()[0]) {
		if attrStr(lr, AttrRuleID) != RuleID {
			continue
		}
		// The stock side sets the raw ARN, ours the identity's principal
		// (a role's, for its sessions): that it is set is compared.
		tags := map[string]string{AttrTarget: attrStr(lr, AttrTarget), AttrPrincipal: fmt.Sprint(attrStr(lr, AttrPrincipal) != "")}
		for _, tag := range stockRule.Static {
			v, _ := lr.Attributes().Get(tag.Key)
			tags[tag.Key] = v.AsString()
		}
		out[i] = tags
	}
	return out
}
