// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionprocessor // import "github.com/cloudtrail-detect/ssmsession/processor/ssmsessionprocessor"

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/redis/go-redis/v9"

	"github.com/cloudtrail-detect/ssmsession/internal/cloudtrail"
	"github.com/cloudtrail-detect/ssmsession/internal/firstseen"
	"github.com/cloudtrail-detect/ssmsession/internal/launches"
	"github.com/cloudtrail-detect/ssmsession/internal/storagelink"
	"github.com/cloudtrail-detect/ssmsession/processor/ssmsessionprocessor/internal/metadata"
)

// ssmProcessor is the state of one processor id, shared by every pipeline
// that lists it (see logsProcessor): one decider, one storage client.
type ssmProcessor struct {
	cfg      *Config
	logger   *zap.Logger
	tel      *metadata.TelemetryBuilder
	added    []metric.AddOption    // the collector's processor attributes,
	recorded []metric.RecordOption // allocated once
	reader   cloudtrail.Reader
	spec     termSpec
	decider  firstseen.Decider
	storage  *storagelink.Link     // the storage extension, or Redis's health
	redis    redis.UniversalClient // backend redis only
	// launches remembers RunInstances launches (nil: enrichment off).
	launches launches.Store
	mode     cloudtrail.Mode // what to do with envelopes
	now      func() time.Time
	batches  sync.Pool
}

// match is a record that matched the rule, with its event, decision and
// what is known of its target's launch.
type match struct {
	lr     plog.LogRecord
	ev     cloudtrail.Event
	d      decision
	launch launch
}

// batch is per-call scratch space, pooled so steady traffic reuses it.
type batch struct {
	ev       cloudtrail.Event
	matches  []match
	launches []launches.Launch
	obs      []firstseen.Observation
	isNew    []bool
	terms    []string // the term values of all matches, reused per batch
}

func newProcessor(set processor.Settings, cfg *Config, now func() time.Time) (*ssmProcessor, error) {
	tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	logger := storagelink.SampledLogger(set.Logger)
	p := &ssmProcessor{
		cfg:    cfg,
		logger: logger,
		tel:    tel,

		spec: newTermSpec(cfg.NewTerms),
		mode: cloudtrail.Split,
		now:  now,
	}
	if cfg.Enrichment.enabled() { // a target's launch is read from RunInstances
		p.reader.Calls = []cloudtrail.Call{cloudtrail.StartSession, cloudtrail.RunInstances}
	}
	attrs := metric.WithAttributeSet(attribute.NewSet(
		attribute.String("processor", set.ID.String()), attribute.String("otel.signal", "logs")))
	p.added, p.recorded = []metric.AddOption{attrs}, []metric.RecordOption{attrs}
	onError := func() { tel.ProcessorSsmsessionStorageErrors.Add(context.Background(), 1, p.added...) }
	launchStore, err := p.newLaunches()
	if err != nil {
		return nil, err
	}
	if cfg.NewTerms.Backend == BackendRedis {
		p.storage = storagelink.Health(redisLabel(cfg.NewTerms.Redis), logger, onError)
	} else {
		store, err := firstseen.New(firstseen.Settings{
			Window:        cfg.NewTerms.HistoryWindow,
			CacheSize:     cfg.NewTerms.CacheSize,
			Persistent:    cfg.NewTerms.Storage != nil,
			PruneInterval: cfg.NewTerms.PruneInterval,
			Now:           now,
			RaiseInFlight: true,
			OnPrune:       func(n int) { tel.ProcessorSsmsessionTermsPruned.Add(context.Background(), int64(n), p.added...) },
		})
		if err != nil {
			return nil, err
		}
		p.decider = store
		p.storage = storagelink.New(storagelink.Settings{
			Kind: component.KindProcessor, Self: set.ID, Extension: cfg.NewTerms.Storage, Logger: logger,
			Attach: func(_ context.Context, c storage.Client) error {
				store.SetClient(c)
				if launchStore != nil {
					launchStore.SetClient(c)
				}
				return nil
			}, OnError: onError, Now: now,
		})
	}
	if cfg.Envelope == EnvelopeKeep {
		p.mode = cloudtrail.Keep
	}
	p.batches.New = func() any { return &batch{} }
	return p, nil
}

// Start connects the storage extension, or Redis, and says where the
// learning period stands.
func (p *ssmProcessor) Start(ctx context.Context, host component.Host) error {
	if err := p.storage.Start(ctx, host); err != nil {
		return err
	}
	if p.cfg.NewTerms.Backend == BackendRedis {
		if err := p.startRedis(ctx); err != nil {
			return err
		}
	}
	p.logLearning(ctx)
	return nil
}

// logLearning logs the learning period once, at start.
func (p *ssmProcessor) logLearning(ctx context.Context) {
	period := p.cfg.NewTerms.LearningPeriod
	if period <= 0 {
		return
	}
	end, ok := p.decider.LearningEnd(ctx, time.Time{})
	switch {
	case !ok:
		p.logger.Info("new_terms learning period: its end is not known yet (state unreachable); matches are alerted until it is", zap.Duration("learning_period", period))
	case end.IsZero():
		p.logger.Info("new_terms learning period: begins with the first match's event time", zap.Duration("learning_period", period))
	default:
		p.tel.ProcessorSsmsessionLearningEnd.Record(ctx, end.Unix(), p.recorded...)
		p.logger.Info("new_terms learning period: ends at this event time; matches before it are recorded, not alerted",
			zap.Duration("learning_period", period), zap.Time("learning_end", end))
	}
}

// Shutdown writes what is pending, within ctx, and closes clients.
func (p *ssmProcessor) Shutdown(ctx context.Context) error {
	defer p.tel.Shutdown()
	if p.decider != nil {
		p.record(ctx, p.decider.Close(ctx))
	}
	if p.launches != nil {
		p.launchHealth(p.launches.Close(ctx))
	}
	err := p.storage.Shutdown(ctx)
	if p.redis != nil {
		err = errors.Join(err, p.redis.Close())
	}
	return err
}

// process tags matches in ld in place, splitting envelopes first, and
// returns the alerts raised, to settle once the next consumer answered. It
// never fails: unreadable records pass through unchanged and are counted.
func (p *ssmProcessor) process(ctx context.Context, ld plog.Logs) []firstseen.Alert {
	start, in := time.Now(), ld.LogRecordCount()
	b := p.batches.Get().(*batch)
	defer p.putBatch(b)

	counts := p.reader.Walk(ld, p.mode, false, &b.ev, func(it cloudtrail.Item) {
		switch it.Result {
		case cloudtrail.Malformed:
			if errors.Is(it.Err, cloudtrail.ErrEnvelope) {
				p.logger.Warn("CloudTrail envelope could not be parsed; passed through unsplit (is file_log's max_log_size large enough?)", zap.Error(it.Err))
			} else {
				p.logger.Warn("CloudTrail record could not be read; passed through unchanged", zap.Error(it.Err))
			}
		case cloudtrail.Read:
			switch {
			case !b.ev.Success():
			case b.ev.Is(cloudtrail.StartSession):
				if b.ev.Time.IsZero() {
					b.ev.Time = p.now().UTC()
				}
				b.matches = append(b.matches, match{lr: it.Record, ev: b.ev})
			case b.ev.Is(cloudtrail.RunInstances) && !it.Time.IsZero():
				event := b.ev.Fingerprint()
				for _, id := range b.ev.Instances {
					b.launches = append(b.launches, launches.Launch{Instance: id, At: it.Time, Event: event})
				}
			}
		}
	})
	p.tel.ProcessorSsmsessionRecordsInspected.Add(ctx, int64(counts.Records), p.added...)
	if counts.Envelopes > 0 {
		p.tel.ProcessorSsmsessionEnvelopesSplit.Add(ctx, int64(counts.Envelopes), p.added...)
	}
	if counts.Malformed > 0 {
		p.tel.ProcessorSsmsessionRecordsMalformed.Add(ctx, int64(counts.Malformed), p.added...)
	}
	var alerts []firstseen.Alert
	p.enrich(ctx, b)
	if len(b.matches) > 0 {
		p.tel.ProcessorSsmsessionRecordsMatched.Add(ctx, int64(len(b.matches)), p.added...)
		alerts = p.decide(ctx, b)
	}
	p.tel.ProcessorIncomingItems.Add(ctx, int64(in), p.added...)
	p.tel.ProcessorOutgoingItems.Add(ctx, int64(counts.Records), p.added...)
	p.tel.ProcessorInternalDuration.Record(ctx, time.Since(start).Seconds(), p.recorded...)
	return alerts
}

// decide makes the new_terms decision for every match of the batch, in
// order, tags the records and returns the alerts.
func (p *ssmProcessor) decide(ctx context.Context, b *batch) []firstseen.Alert {
	skipped := 0
	for i := range b.matches {
		m := &b.matches[i]
		var vals []string
		var ok bool
		b.terms, vals, ok = p.spec.values(&m.ev, b.terms)
		if !ok {
			skipped++
			continue
		}
		m.d = decision{decided: true, terms: vals, key: firstseen.KeyOf(p.spec.namespace, vals), event: m.ev.Fingerprint()}
		b.obs = append(b.obs, firstseen.Observation{Key: m.d.key, Time: m.ev.Time, Event: m.d.event})
	}
	if cap(b.isNew) < len(b.obs) {
		b.isNew = make([]bool, len(b.obs))
	}
	isNew := b.isNew[:len(b.obs)]
	learnEnd := p.learningEnd(ctx, b.obs)
	alerts, st := p.decider.Observe(ctx, b.obs, isNew)
	p.record(ctx, st)

	j, fresh, learned := 0, 0, 0
	for i := range b.matches {
		m := &b.matches[i]
		if m.d.decided {
			m.d.isNew = isNew[j]
			j++
			if m.ev.Time.Before(learnEnd) {
				m.d.isNew, m.d.learning = false, true
				learned++
			}
			if m.d.isNew {
				fresh++
			}
		}
		tag(m.lr, p.cfg.Rule, &m.ev, m.d, m.launch)
	}
	p.tel.ProcessorSsmsessionNewTerms.Add(ctx, int64(fresh), p.added...)
	if learned > 0 {
		p.tel.ProcessorSsmsessionLearned.Add(ctx, int64(learned), p.added...)
	}
	if skipped > 0 {
		p.tel.ProcessorSsmsessionDecisionsSkipped.Add(ctx, int64(skipped), p.added...)
	}
	return p.unlearned(alerts, learnEnd)
}

// learningEnd is the learning period's end for this batch: zero when
// learning is off or the state cannot say (then everything is alerted: a
// repeat, never a miss). The earliest plausible match of the first batch
// with matches begins it.
func (p *ssmProcessor) learningEnd(ctx context.Context, obs []firstseen.Observation) time.Time {
	period := p.cfg.NewTerms.LearningPeriod
	if period <= 0 || len(obs) == 0 {
		return time.Time{}
	}
	var oldest, newest time.Time
	now := p.now()
	for _, o := range obs {
		oldest = earliestPlausible(oldest, o.Time, now)
		if o.Time.After(newest) {
			newest = o.Time
		}
	}
	var proposed time.Time // none: the stored end, if any, is only read
	if !oldest.IsZero() {
		proposed = oldest.Add(period)
	}
	end, ok := p.decider.LearningEnd(ctx, proposed)
	if !ok || end.IsZero() {
		return time.Time{}
	}
	p.tel.ProcessorSsmsessionLearningEnd.Record(ctx, end.Unix(), p.recorded...)
	learning := int64(0)
	if newest.Before(end) {
		learning = 1
	}
	p.tel.ProcessorSsmsessionLearning.Record(ctx, learning, p.recorded...)
	return end
}

// unlearned settles at once the alerts of the learning period, which were
// tagged not new (nothing was delivered, so a copy of the event is not an
// alert either), and returns the others, for the next consumer's answer.
func (p *ssmProcessor) unlearned(alerts []firstseen.Alert, learnEnd time.Time) []firstseen.Alert {
	if learnEnd.IsZero() || len(alerts) == 0 {
		return alerts
	}
	var learned []firstseen.Alert
	keep := alerts[:0]
	for _, a := range alerts {
		if a.At < learnEnd.UnixNano() {
			learned = append(learned, a)
		} else {
			keep = append(keep, a)
		}
	}
	if len(learned) > 0 {
		p.decider.Settle(learned, true)
	}
	return keep
}

func (p *ssmProcessor) putBatch(b *batch) {
	clear(b.matches) // drop references to records of the finished batch
	b.matches = b.matches[:0]
	b.obs = b.obs[:0]
	clear(b.launches) // their instance ids are views of the batch's bodies
	b.launches = b.launches[:0]
	clear(b.terms)
	b.terms = b.terms[:0]
	b.ev.Reset()
	p.batches.Put(b)
}
