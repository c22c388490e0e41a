package ssmsessionconnector

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/cloudtrail-detect/ssmsession/connector/ssmsessionconnector/internal/metadata"
	"github.com/cloudtrail-detect/ssmsession/internal/cloudtrail"
	"github.com/cloudtrail-detect/ssmsession/internal/storagelink"
)

// dedupeSize is how many recent event ids are remembered to recognise
// CloudTrail's (and receivers') duplicate deliveries.
const dedupeSize = 1 << 16

type ssmConnector struct {
	cfg     *Config
	logger  *zap.Logger
	tel     *metadata.TelemetryBuilder
	next    consumer.Metrics
	reader  cloudtrail.Reader
	link    *storagelink.Link
	now     func() time.Time
	version string

	mu      sync.Mutex
	counter *counter
	client  storage.Client
	ev      cloudtrail.Event

	done chan struct{}
	wg   sync.WaitGroup
}

func newConnector(set connector.Settings, cfg *Config, next consumer.Metrics, now func() time.Time) (*ssmConnector, error) {
	tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	c := &ssmConnector{
		cfg: cfg,
		logger: set.Logger.WithOptions(zap.WrapCore(func(core zapcore.Core) zapcore.Core {
			return zapcore.NewSamplerWithOptions(core, 10*time.Second, 1, 0)
		})),
		tel:     tel,
		next:    next,
		now:     now,
		version: set.BuildInfo.Version,
		counter: newCounter(cfg.Window, cfg.Bucket, cfg.MaxSeries, dedupeSize, now),
		done:    make(chan struct{}),
	}
	c.link = storagelink.New(component.KindConnector, set.ID, cfg.Storage, c.logger, now, c.attach,
		func() { tel.ConnectorSsmsessionStorageErrors.Add(context.Background(), 1) })
	return c, nil
}

func (c *ssmConnector) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

func (c *ssmConnector) Start(ctx context.Context, host component.Host) error {
	if err := c.link.Start(ctx, host); err != nil {
		return err
	}
	c.wg.Add(1)
	go c.emitLoop()
	return nil
}

// attach takes a new storage client: stored counts are merged in first.
func (c *ssmConnector) attach(client storage.Client) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.client = client
	if client == nil {
		return
	}
	if err := c.counter.load(context.Background(), client); err != nil {
		c.logger.Warn("stored counts not restored", zap.Error(err))
	}
}

func (c *ssmConnector) emitLoop() {
	defer c.wg.Done()
	tick := time.NewTicker(c.cfg.EmitInterval)
	defer tick.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-tick.C:
			if err := c.emit(context.Background()); err != nil {
				c.logger.Warn("emitting SSM session metrics failed", zap.Error(err))
			}
		}
	}
}

// Shutdown emits once more, so that nothing counted is lost on a clean stop.
func (c *ssmConnector) Shutdown(ctx context.Context) error {
	select {
	case <-c.done:
	default:
		close(c.done)
	}
	c.wg.Wait()
	err := c.emit(ctx)
	if lerr := c.link.Shutdown(ctx); err == nil {
		err = lerr
	}
	c.tel.Shutdown()
	return err
}

// ConsumeLogs counts the StartSession calls of ld, in envelopes too, and
// saves the changed series before returning, so a crash after the receiver
// moves on loses no count.
func (c *ssmConnector) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	c.link.ReconnectIfDue(ctx)
	var inspected, counted, dups, overflow, malformed int64
	c.mu.Lock()
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		res := rls.At(i).Resource()
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			recs := sls.At(j).LogRecords()
			inspected += int64(recs.Len())
			for k := 0; k < recs.Len(); k++ {
				c.reader.Each(res, recs.At(k), &c.ev, func(result cloudtrail.Result, t time.Time, err error) {
					switch result {
					case cloudtrail.Malformed:
						malformed++
						c.logger.Warn("CloudTrail record could not be read; not counted", zap.Error(err))
					case cloudtrail.Skip:
						c.counter.observe(t)
					case cloudtrail.StartSession:
						switch c.counter.add(keyOf(&c.ev), t, dedupeKey(&c.ev)) {
						case added:
							counted++
						case duplicate:
							dups++
						case overflowed:
							counted++
							overflow++
						}
					}
				})
			}
		}
	}
	ops, changed := c.counter.pending()
	client := c.client
	c.mu.Unlock()

	c.save(ctx, client, ops, changed)
	c.tel.ConnectorSsmsessionRecordsInspected.Add(ctx, inspected)
	c.tel.ConnectorSsmsessionSessionsCounted.Add(ctx, counted)
	c.tel.ConnectorSsmsessionSessionsDuplicate.Add(ctx, dups)
	c.tel.ConnectorSsmsessionOverflowSessions.Add(ctx, overflow)
	c.tel.ConnectorSsmsessionRecordsMalformed.Add(ctx, malformed)
	return nil
}

// save writes ops in one batch; series stay marked changed until it works.
func (c *ssmConnector) save(ctx context.Context, client storage.Client, ops []*storage.Operation, changed []*series) {
	if client == nil || len(ops) == 0 {
		return
	}
	if err := client.Batch(ctx, ops...); err != nil {
		c.link.Failed(err)
		return
	}
	c.mu.Lock()
	for _, s := range changed {
		s.changed = false
	}
	c.mu.Unlock()
	c.tel.ConnectorSsmsessionStorageWrites.Add(ctx, int64(len(changed)))
	c.link.Recovered()
}

// emit drops idle series and sends the metrics downstream.
func (c *ssmConnector) emit(ctx context.Context) error {
	c.mu.Lock()
	expired := c.counter.expire()
	n := len(c.counter.series)
	var md = c.counter.metrics(c.now(), c.version)
	ops, changed := c.counter.pending()
	client := c.client
	c.mu.Unlock()

	c.save(ctx, client, append(ops, deletes(expired)...), changed)
	c.tel.ConnectorSsmsessionSeriesExpired.Add(ctx, int64(len(expired)))
	c.tel.ConnectorSsmsessionSeries.Record(ctx, int64(n))
	if md.DataPointCount() == 0 {
		return nil
	}
	return c.next.ConsumeMetrics(ctx, md)
}

// keyOf is the series an event counts in.
func keyOf(ev *cloudtrail.Event) seriesKey {
	return seriesKey{
		Account:            ev.AccountID(),
		Target:             ev.Target,
		ARN:                ev.Identity.ARN,
		Type:               ev.Identity.Type,
		Outcome:            ev.OutcomeValue(),
		InstanceToInstance: ev.SourceInstance() != "",
	}
}

// dedupeKey is the event's fingerprint when it has an eventID; events
// without one are never taken for duplicates.
func dedupeKey(ev *cloudtrail.Event) uint64 {
	if ev.ID == "" {
		return 0
	}
	return ev.Fingerprint()
}
