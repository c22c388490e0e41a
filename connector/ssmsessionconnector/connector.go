// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionconnector // import "github.com/cloudtrail-detect/ssmsession/connector/ssmsessionconnector"

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/cloudtrail-detect/ssmsession/connector/ssmsessionconnector/internal/metadata"
	"github.com/cloudtrail-detect/ssmsession/internal/cloudtrail"
	"github.com/cloudtrail-detect/ssmsession/internal/firstseen"
	"github.com/cloudtrail-detect/ssmsession/internal/storagelink"
)

// dedupeCache is how many recent event ids are held in memory to recognise
// CloudTrail's (and receivers') duplicate deliveries; with storage, older
// ones within the window are found there. It also bounds the event marks
// that wait for their counts to be saved.
const dedupeCache = 1 << 16

type ssmConnector struct {
	cfg    *Config
	logger *zap.Logger
	tel    *metadata.TelemetryBuilder
	// added and recorded name this connector on its telemetry, so that
	// two instances in one collector are told apart.
	added    []metric.AddOption
	recorded []metric.RecordOption
	next     consumer.Metrics
	reader   cloudtrail.Reader
	link     *storagelink.Link
	now      func() time.Time
	version  string

	mu      sync.Mutex // guards the fields below; never held across I/O
	counter *counter
	client  storage.Client
	// unsettled are event marks whose counts are not saved yet: settled
	// (the event counted) once a save covering them succeeds.
	unsettled  []marks
	nUnsettled int // event marks in unsettled, kept as they come and go
	// seen decides whether an event id was counted before: first-seen per
	// event within the window, persisted with the counts.
	seen *firstseen.Store
	// saving is held by the one save in flight: each takes its snapshot
	// only once it holds it, so writes reach storage in generation order
	// and an older snapshot never overwrites a newer one.
	saving chan struct{}

	// flying counts the ConsumeLogs calls under way; landed, when set, is
	// closed once none is: Shutdown waits for their counts before its last
	// emission. Once it waits, grounded refuses new calls, whose counts no
	// emission would report. All guarded by mu.
	flying   int
	landed   chan struct{}
	grounded bool

	stopLoop context.CancelFunc // ends the emit loop, and an emission of its in flight
	loopDone chan struct{}
}

// marks are the event marks of one batch and the counter generation its
// counts reached.
type marks struct {
	gen    uint64
	alerts []firstseen.Alert
}

func newConnector(set connector.Settings, cfg *Config, next consumer.Metrics, now func() time.Time) (*ssmConnector, error) {
	tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	seen, err := firstseen.New(firstseen.Settings{
		Window: cfg.Window, CacheSize: dedupeCache, Persistent: cfg.Storage != nil,
		PruneInterval: time.Hour, Now: now,
	})
	if err != nil {
		return nil, err
	}
	c := &ssmConnector{
		cfg:     cfg,
		logger:  storagelink.SampledLogger(set.Logger),
		tel:     tel,
		next:    next,
		now:     now,
		version: set.BuildInfo.Version,
		counter: newCounter(limitsOf(cfg), now),
		seen:    seen,
		saving:  make(chan struct{}, 1),
	}
	attrs := metric.WithAttributeSet(attribute.NewSet(attribute.String("connector", set.ID.String())))
	c.added, c.recorded = []metric.AddOption{attrs}, []metric.RecordOption{attrs}
	c.reader.Calls = []cloudtrail.Call{cloudtrail.StartSession, cloudtrail.TerminateSession, cloudtrail.ResumeSession}
	c.link = storagelink.New(storagelink.Settings{
		Kind: component.KindConnector, Self: set.ID, Extension: cfg.Storage, Logger: c.logger, Attach: c.attach,
		OnError: func() { tel.ConnectorSsmsessionStorageErrors.Add(context.Background(), 1, c.added...) }, Now: now,
	})
	return c, nil
}

func (c *ssmConnector) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

func (c *ssmConnector) Start(ctx context.Context, host component.Host) error {
	if err := c.link.Start(ctx, host); err != nil {
		return err
	}
	loopCtx, stop := context.WithCancel(context.Background())
	c.stopLoop, c.loopDone = stop, make(chan struct{})
	go c.emitLoop(loopCtx)
	return nil
}

// attach takes a new storage client: the stored counts are read, outside
// the lock, and merged into those made meanwhile. When they cannot be
// read, the client is refused (the link asks again later): writing over
// counts not restored would lose them.
func (c *ssmConnector) attach(ctx context.Context, client storage.Client) error {
	if client == nil {
		c.seen.SetClient(nil)
		c.mu.Lock()
		c.client = nil
		c.mu.Unlock()
		return nil
	}
	stored, err := loadSeries(ctx, client)
	if err != nil {
		return fmt.Errorf("stored counts not restored: %w", err)
	}
	c.seen.SetClient(client)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counter.restore(stored)
	c.client = client
	return nil
}

// emitLoop emits every emit_interval until ctx ends, which also cancels an
// emission in flight: a blocked exporter cannot hold Shutdown up.
func (c *ssmConnector) emitLoop(ctx context.Context) {
	defer close(c.loopDone)
	tick := time.NewTicker(c.cfg.EmitInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := c.emit(ctx); err != nil && ctx.Err() == nil {
				c.logger.Warn("emitting SSM session metrics failed", zap.Error(err))
			}
		}
	}
}

// Shutdown waits, within ctx, for the emit loop and the batches under way,
// then emits once more, so that nothing counted is lost on a clean stop;
// past ctx, it still closes its storage and telemetry.
func (c *ssmConnector) Shutdown(ctx context.Context) error {
	err := c.stopAndEmit(ctx)
	c.storageHealth(c.seen.Close(ctx))
	if lerr := c.link.Shutdown(ctx); err == nil {
		err = lerr
	}
	c.tel.Shutdown()
	return err
}

// stopAndEmit stops the emit loop and, once the batches under way are
// done, emits the last time; all within ctx.
func (c *ssmConnector) stopAndEmit(ctx context.Context) error {
	if c.stopLoop != nil {
		c.stopLoop()
		select {
		case <-c.loopDone:
		case <-ctx.Done():
			return fmt.Errorf("SSM session metrics not emitted: the emit loop did not stop in time: %w", ctx.Err())
		}
	}
	if err := c.waitLanded(ctx); err != nil {
		return fmt.Errorf("SSM session metrics not emitted: batches still under way: %w", err)
	}
	return c.emit(ctx)
}

// errShutDown refuses a batch that arrives once Shutdown has begun
// (upstream components stop first, so only a misbehaving one sends it).
var errShutDown = errors.New("ssmsession connector is shut down: batch not counted")

// takeOff and land bracket a ConsumeLogs call, for waitLanded; takeOff
// refuses a call once Shutdown waits.
func (c *ssmConnector) takeOff() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.grounded {
		return errShutDown
	}
	c.flying++
	return nil
}

func (c *ssmConnector) land() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flying--; c.flying == 0 && c.landed != nil {
		close(c.landed)
		c.landed = nil
	}
}

// waitLanded refuses new ConsumeLogs calls and returns once none is under
// way, or when ctx ends.
func (c *ssmConnector) waitLanded(ctx context.Context) error {
	c.mu.Lock()
	c.grounded = true
	if c.flying == 0 {
		c.mu.Unlock()
		return nil
	}
	if c.landed == nil {
		c.landed = make(chan struct{})
	}
	landed := c.landed
	c.mu.Unlock()
	select {
	case <-landed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// call is one session call read from a batch: a StartSession (any
// outcome), or the TerminateSession or ResumeSession of one.
type call struct {
	kind    callKind
	key     seriesKey // StartSession: the hunt's series
	at      time.Time
	event   uint64 // fingerprint of its eventID; 0 when it has none
	session string // the session id: a successful start, an end, a resume
}

type callKind uint8

const (
	callStart callKind = iota
	callTerminate
	callResume
)

// tally is what one batch did, for telemetry.
type tally struct {
	counted, dups, overflow, terminated, unknown int64
}

// ConsumeLogs counts the StartSession calls of ld, in envelopes too, and
// follows the sessions they open to their end. Each event id is counted
// once: it is marked seen, the counts are saved, and only once they are is
// the mark settled, so a crash in between makes a redelivered event count
// (at least once), never vanish.
func (c *ssmConnector) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	if err := c.takeOff(); err != nil {
		return err
	}
	defer c.land()
	counts, calls, newest := c.read(ld)

	var obs []firstseen.Observation
	for _, cl := range calls {
		if cl.event != 0 {
			obs = append(obs, firstseen.Observation{Key: firstseen.KeyOf("event", []string{strconv.FormatUint(cl.event, 16)}), Time: cl.at, Event: cl.event})
		}
	}
	isNew := make([]bool, len(obs))
	alerts, st := c.seen.Observe(ctx, obs, isNew)
	c.storageHealth(st)

	var tl tally
	c.mu.Lock()
	c.counter.observe(newest)
	j := 0
	for _, cl := range calls {
		if cl.event != 0 {
			j++
			if !isNew[j-1] {
				if cl.kind == callStart {
					tl.dups++
				}
				continue
			}
		}
		c.apply(cl, &tl)
	}
	evicted := c.counter.sessions.evicted
	c.counter.sessions.evicted = 0
	dropped := c.await(alerts)
	c.mu.Unlock()
	c.seen.Forget(dropped)

	saveErr := c.save(ctx, false)
	c.tel.ConnectorSsmsessionRecordsInspected.Add(ctx, int64(counts.Records), c.added...)
	c.tel.ConnectorSsmsessionSessionsCounted.Add(ctx, tl.counted, c.added...)
	c.tel.ConnectorSsmsessionSessionsDuplicate.Add(ctx, tl.dups, c.added...)
	c.tel.ConnectorSsmsessionOverflowSessions.Add(ctx, tl.overflow, c.added...)
	c.tel.ConnectorSsmsessionRecordsMalformed.Add(ctx, int64(counts.Malformed), c.added...)
	c.tel.ConnectorSsmsessionSessionsTerminated.Add(ctx, tl.terminated, c.added...)
	c.tel.ConnectorSsmsessionSessionsUnknownTerminated.Add(ctx, tl.unknown, c.added...)
	c.tel.ConnectorSsmsessionOpenSessionsEvicted.Add(ctx, int64(evicted), c.added...)
	return saveErr
}

// apply counts one call that is not a duplicate. A time the window does
// not follow (before 1970, too far ahead of the clock) counts a start in
// the totals only: no session is opened, ended or renewed by it, as none
// could age out. Called with mu held.
func (c *ssmConnector) apply(cl call, tl *tally) {
	at := cl.at.UnixNano()
	plausible := c.counter.plausible(cl.at)
	switch {
	case cl.kind == callStart:
		tl.counted++
		if c.counter.add(cl.key, cl.at) {
			tl.overflow++
		}
		if cl.session != "" && plausible {
			if c.counter.openSessionAt(cl.session, durationsKey(cl.key), at) == lifeTerminated {
				tl.terminated++ // its end had come first
			}
		}
	case !plausible:
	case cl.kind == callTerminate:
		c.counter.observe(cl.at)
		switch c.counter.terminateSession(cl.session, at) {
		case lifeTerminated:
			tl.terminated++
		case lifeUnknown:
			tl.unknown++
		}
	case cl.kind == callResume:
		c.counter.observe(cl.at)
		c.counter.resumeSession(cl.session, at)
	}
}

// durationsKey is the series a start's duration is recorded in: the hunt's
// attributes of the start, without its outcome.
func durationsKey(k seriesKey) seriesKey {
	return seriesKey{Account: k.Account, Target: k.Target, ARN: k.ARN, Type: k.Type, Durations: true}
}

// await queues a batch's event marks until a save covers its counts,
// keeping the newest dedupeCache: older ones stay in flight, which after a
// restart counts their events again if they come back (at least once).
// It returns the marks it let go, for the store to forget. Called with mu
// held.
func (c *ssmConnector) await(alerts []firstseen.Alert) (dropped []firstseen.Alert) {
	if len(alerts) == 0 {
		return nil
	}
	c.unsettled = append(c.unsettled, marks{gen: c.counter.gen, alerts: alerts})
	c.nUnsettled += len(alerts)
	for len(c.unsettled) > 1 && c.nUnsettled > dedupeCache {
		dropped = append(dropped, c.unsettled[0].alerts...)
		c.nUnsettled -= len(c.unsettled[0].alerts)
		c.unsettled = c.unsettled[1:]
	}
	return dropped
}

// read walks ld once, outside the lock, with scratch of its own: the
// session calls in order, and the newest plausible time of the other
// CloudTrail events, which moves the window's anchor.
func (c *ssmConnector) read(ld plog.Logs) (counts cloudtrail.Counts, calls []call, newest time.Time) {
	var ev cloudtrail.Event
	counts = c.reader.Walk(ld, cloudtrail.InPlace, true, &ev, func(it cloudtrail.Item) {
		if it.Time.After(newest) && c.counter.plausible(it.Time) {
			newest = it.Time
		}
		switch it.Result {
		case cloudtrail.Malformed:
			c.logger.Warn("CloudTrail record could not be read; not counted", zap.Error(it.Err))
		case cloudtrail.Read:
			cl := call{at: it.Time, event: dedupeKey(&ev)}
			switch {
			case ev.Is(cloudtrail.StartSession):
				cl.key = keyOf(&ev)
				if ev.Success() {
					cl.session = ev.SessionID
				}
			case !ev.Success() || ev.SessionID == "":
				return // a failed end or resume changes nothing
			case ev.Is(cloudtrail.TerminateSession):
				cl.kind, cl.session = callTerminate, ev.SessionID
			default:
				cl.kind, cl.session = callResume, ev.SessionID
			}
			calls = append(calls, cl.owned())
		}
	})
	return counts, calls, newest
}

// storageHealth reports the de-duplication store's storage outcome.
func (c *ssmConnector) storageHealth(st firstseen.Stats) {
	c.link.Report(st.StorageErr, st.Recovered)
}

// save writes the changed series (and deletes) in one batch and then
// settles the event marks their counts cover. Without storage configured
// the counts live in memory and the marks settle at once; with storage but
// no client, or after a failed write, marks wait for the next save. A save
// that cannot begin within ctx leaves its changes to the next and returns
// ctx's error: the batch is then not acknowledged as saved (sent again, its
// events are duplicates of marks still in flight, not counted twice).
func (c *ssmConnector) save(ctx context.Context, emitting bool) error {
	select {
	case c.saving <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	c.mu.Lock()
	snap, client := c.counter.pending(emitting), c.client
	c.mu.Unlock()
	settle := c.store(ctx, client, snap)
	<-c.saving
	if len(settle) > 0 {
		c.seen.Settle(settle, true)
		c.storageHealth(c.seen.Flush(ctx))
	}
	return nil
}

// store writes snap and, once it is written, returns the event marks its
// counts cover. Called holding saving.
func (c *ssmConnector) store(ctx context.Context, client storage.Client, snap snapshot) []firstseen.Alert {
	persistent := c.cfg.Storage != nil
	if persistent && (client == nil || len(snap.ops) > 0 && !c.write(ctx, client, snap.ops)) {
		return nil
	}
	if persistent {
		c.tel.ConnectorSsmsessionStorageWrites.Add(ctx, int64(len(snap.series)), c.added...)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counter.saved(snap)
	var settle []firstseen.Alert
	keep := c.unsettled[:0]
	for _, m := range c.unsettled {
		if !persistent || m.gen <= snap.gen {
			settle = append(settle, m.alerts...)
			c.nUnsettled -= len(m.alerts)
		} else {
			keep = append(keep, m)
		}
	}
	c.unsettled = keep
	return settle
}

func (c *ssmConnector) write(ctx context.Context, client storage.Client, ops []*storage.Operation) bool {
	err := client.Batch(ctx, ops...)
	c.link.Report(err, err == nil)
	return err == nil
}

// emit sends the metrics downstream and, once they are delivered, drops
// the series it reported for the last time; then it saves.
func (c *ssmConnector) emit(ctx context.Context) error {
	c.mu.Lock()
	c.counter.trim()
	md, sh := c.counter.metrics(c.now(), c.version)
	aged := c.counter.sessions.agedOut
	c.counter.sessions.agedOut = 0
	c.mu.Unlock()

	var err error
	if md.DataPointCount() > 0 {
		err = c.next.ConsumeMetrics(ctx, md)
	}
	var expired []seriesKey
	c.mu.Lock()
	if err == nil {
		expired = c.counter.delivered(sh)
	}
	n, open := len(c.counter.series), c.counter.sessions.set.Len()
	c.mu.Unlock()

	_ = c.save(ctx, true) // an emission's changes are saved by the next save if not now
	c.tel.ConnectorSsmsessionSeriesExpired.Add(ctx, int64(len(expired)), c.added...)
	c.tel.ConnectorSsmsessionSeries.Record(ctx, int64(n), c.recorded...)
	c.tel.ConnectorSsmsessionOpenSessions.Record(ctx, int64(open), c.recorded...)
	c.tel.ConnectorSsmsessionOpenSessionsAgedOut.Add(ctx, int64(aged), c.added...)
	return err
}

// owned is cl with strings of its own: the reader's may be views of a
// record's body (a whole S3 object's), which series and sessions must not
// keep alive.
func (cl call) owned() call {
	k := &cl.key
	for _, s := range []*string{&k.Account, &k.Target, &k.ARN, &k.Type, &cl.session} {
		*s = strings.Clone(*s)
	}
	return cl
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
