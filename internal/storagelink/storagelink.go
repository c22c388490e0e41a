// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

// Package storagelink connects a component to the storage extension its
// configuration names, and turns storage health into component status and
// logs: a missing or failing storage degrades the component to memory
// (RecoverableError), never stops its pipeline, and recovers by itself. It
// also gives both components their one sampled logger.
package storagelink // import "github.com/cloudtrail-detect/ssmsession/internal/storagelink"

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// RetryInterval is how often a missing client is asked for again, in the
// background; the component's clock says when it is due, checked every
// retryPoll.
const (
	RetryInterval = 30 * time.Second
	retryPoll     = 100 * time.Millisecond
)

// logSampleTick: per message, one log line per tick at most, so a stream of
// bad records or a storage outage cannot flood the collector's log.
const logSampleTick = 10 * time.Second

// SampledLogger wraps a component's logger so that each message is logged
// at most once per 10 s.
func SampledLogger(l *zap.Logger) *zap.Logger {
	return l.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewSamplerWithOptions(c, logSampleTick, 1, 0)
	}))
}

// Settings configure a Link.
type Settings struct {
	Kind component.Kind
	Self component.ID
	// Extension is the storage extension's id; nil means none configured.
	Extension *component.ID
	// Logger is the component's (sampled) logger.
	Logger *zap.Logger
	// Attach hands a new client (or nil at shutdown) to the component; it
	// runs without any lock of the link held, within ctx. A component that
	// cannot take the client (its stored state cannot be read) returns an
	// error: the client is closed and asked for again later.
	Attach func(ctx context.Context, c storage.Client) error
	// OnError counts a storage failure in the component's telemetry.
	OnError func()
	// Now is the component's clock (injectable for tests).
	Now func() time.Time
}

// Link owns the storage client of one component, or, without an extension,
// only reports the health of another store (Redis) the same way.
type Link struct {
	set   Settings
	label string // what the messages name: storage "file_storage", redis "host:port"

	mu       sync.Mutex // guards the fields below, never held across I/O
	host     component.Host
	client   storage.Client
	degraded bool

	// reportMu orders status reports (in memory: the host's aggregator), so
	// that batches failing and recovering at once leave the host with the
	// link's state, not with whichever report came last. It guards reported.
	reportMu sync.Mutex
	reported bool // degraded, as last reported

	// stop ends the reconnect loop and what it waits on, at Shutdown.
	ctx  context.Context
	stop context.CancelFunc
	done sync.WaitGroup
}

// New returns a link for the extension set.Extension.
func New(set Settings) *Link {
	label := "storage"
	if set.Extension != nil {
		label = fmt.Sprintf("storage %q", set.Extension)
	}
	if set.Now == nil {
		set.Now = time.Now
	}
	return newLink(set, label)
}

func newLink(set Settings, label string) *Link {
	l := &Link{set: set, label: label}
	l.ctx, l.stop = context.WithCancel(context.Background())
	return l
}

// Health returns a link that connects nothing and reports the health of a
// store named by label through the same status, logs and counter.
func Health(label string, logger *zap.Logger, onError func()) *Link {
	return newLink(Settings{Logger: logger, OnError: onError}, label)
}

// Start connects; failing to is not an error for the component: the link
// reports it, and asks again every RetryInterval in the background.
func (l *Link) Start(ctx context.Context, host component.Host) error {
	l.mu.Lock()
	l.host = host
	l.mu.Unlock()
	if l.set.Extension == nil || l.connect(ctx) {
		return nil
	}
	l.done.Add(1)
	go l.reconnect(l.set.Now())
	return nil
}

// reconnect asks for a client every RetryInterval after last, until one is
// had or the link shuts down.
func (l *Link) reconnect(last time.Time) {
	defer l.done.Done()
	tick := time.NewTicker(retryPoll)
	defer tick.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-tick.C:
			if now := l.set.Now(); now.Sub(last) >= RetryInterval {
				if l.connect(l.ctx) {
					return
				}
				last = now
			}
		}
	}
}

// connect asks the extension for a client and hands it over; it reports
// whether that worked.
func (l *Link) connect(ctx context.Context) bool {
	client, err := l.getClient(ctx)
	if err != nil {
		l.set.OnError()
		l.degrade(fmt.Errorf("%s unavailable, keeping state in memory only: %w", l.label, err))
		return false
	}
	if err := l.set.Attach(ctx, client); err != nil {
		_ = client.Close(ctx)
		l.set.OnError()
		l.degrade(fmt.Errorf("%s not used, keeping state in memory only: %w", l.label, err))
		return false
	}
	l.mu.Lock()
	l.client = client
	l.mu.Unlock()
	l.markRecovered()
	return true
}

func (l *Link) getClient(ctx context.Context) (client storage.Client, err error) {
	// bbolt can panic on some corrupt files (file_storage's recreate option
	// exists for that): storage must never take the collector down.
	defer func() {
		if r := recover(); r != nil {
			client, err = nil, fmt.Errorf("opening storage panicked: %v", r)
		}
	}()
	l.mu.Lock()
	host := l.host
	l.mu.Unlock()
	ext, ok := host.GetExtensions()[*l.set.Extension]
	if !ok {
		return nil, errors.New("no such extension; add it under the service's extensions")
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return nil, errors.New("the extension is not a storage extension")
	}
	return se.GetClient(ctx, l.set.Kind, l.set.Self, "")
}

// Failed records a failed storage operation.
func (l *Link) Failed(err error) {
	l.set.OnError()
	l.degrade(fmt.Errorf("%s failed, deciding from local state until it recovers: %w", l.label, err))
}

// degrade reports the first failure of a run; counters tell the rest.
func (l *Link) degrade(err error) {
	l.mu.Lock()
	first := !l.degraded
	l.degraded = true
	l.mu.Unlock()
	if first {
		l.set.Logger.Warn("storage degraded", zap.Error(err))
		l.publish(true, componentstatus.NewRecoverableErrorEvent(err))
	}
}

// markRecovered records a storage operation that succeeded after failures.
func (l *Link) markRecovered() {
	l.mu.Lock()
	was := l.degraded
	l.degraded = false
	l.mu.Unlock()
	if was {
		l.set.Logger.Info(l.label + " recovered; state is shared and persisted again")
		l.publish(false, componentstatus.NewEvent(componentstatus.StatusOK))
	}
}

// publish reports ev, the change to degraded, unless the link has changed
// again since (that change reports itself, after) or it was reported.
func (l *Link) publish(degraded bool, ev *componentstatus.Event) {
	l.reportMu.Lock()
	defer l.reportMu.Unlock()
	l.mu.Lock()
	now, host := l.degraded, l.host
	l.mu.Unlock()
	if now != degraded || l.reported == degraded {
		return
	}
	l.reported = degraded
	componentstatus.ReportStatus(host, ev)
}

// Report reports one storage outcome: Failed when err is set, else
// markRecovered when the storage answered again after failing.
func (l *Link) Report(err error, recovered bool) {
	switch {
	case err != nil:
		l.Failed(err)
	case recovered:
		l.markRecovered()
	}
}

// Shutdown stops asking for a client, then detaches and closes the one
// held. Safe to call twice.
func (l *Link) Shutdown(ctx context.Context) error {
	l.stop()
	l.done.Wait()
	l.mu.Lock()
	client := l.client
	l.client = nil
	l.mu.Unlock()
	if client == nil {
		return nil
	}
	_ = l.set.Attach(ctx, nil) // detaching cannot fail
	return client.Close(ctx)
}
