package ssmsessionprocessor

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

	"github.com/cloudtrail-detect/ssmsession/internal/firstseen"
	"github.com/cloudtrail-detect/ssmsession/processor/ssmsessionprocessor/internal/metadata"
)

// storageRetryInterval is how often a missing storage client is asked for
// again while the processor runs on memory alone.
const storageRetryInterval = 30 * time.Second

// storageLink owns the storage client: it connects at start, reconnects
// while degraded, and turns storage health into component status, logs and
// counters. The store itself never stops the pipeline.
type storageLink struct {
	self   component.ID
	extID  *component.ID
	store  *firstseen.Store
	logger *zap.Logger
	tel    *metadata.TelemetryBuilder
	now    func() time.Time

	mu          sync.Mutex
	host        component.Host
	client      storage.Client
	lastAttempt time.Time
	degraded    bool
}

func newStorageLink(self component.ID, extID *component.ID, store *firstseen.Store, logger *zap.Logger, tel *metadata.TelemetryBuilder, now func() time.Time) *storageLink {
	return &storageLink{self: self, extID: extID, store: store, logger: logger, tel: tel, now: now}
}

// start connects to the configured storage. Failure is not fatal: the
// processor runs from memory and reports a recoverable error.
func (l *storageLink) start(ctx context.Context, host component.Host) error {
	l.mu.Lock()
	l.host = host
	l.mu.Unlock()
	if l.extID == nil {
		return nil
	}
	l.connect(ctx)
	return nil
}

func (l *storageLink) connect(ctx context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lastAttempt = l.now()
	client, err := l.getClient(ctx)
	if err != nil {
		l.tel.ProcessorSsmsessionStorageErrors.Add(ctx, 1)
		l.setDegradedLocked(fmt.Errorf("new_terms storage %q unavailable, deciding from memory only: %w", l.extID, err))
		return
	}
	l.client = client
	l.store.SetClient(client)
	l.setHealthyLocked()
}

func (l *storageLink) getClient(ctx context.Context) (storage.Client, error) {
	ext, ok := l.host.GetExtensions()[*l.extID]
	if !ok {
		return nil, errors.New("no such extension; add it under the service's extensions")
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return nil, errors.New("the extension is not a storage extension")
	}
	return se.GetClient(ctx, component.KindProcessor, l.self, "")
}

// reconnectIfDue asks for a client again when none is held and the retry
// interval has passed.
func (l *storageLink) reconnectIfDue(ctx context.Context) {
	if l.extID == nil {
		return
	}
	l.mu.Lock()
	due := l.client == nil && l.now().Sub(l.lastAttempt) >= storageRetryInterval
	l.mu.Unlock()
	if due {
		l.connect(ctx)
	}
}

// record turns a store call's stats into telemetry and status changes.
func (l *storageLink) record(ctx context.Context, st firstseen.Stats) {
	l.tel.ProcessorSsmsessionCacheHits.Add(ctx, int64(st.Hits))
	l.tel.ProcessorSsmsessionCacheMisses.Add(ctx, int64(st.Misses))
	l.tel.ProcessorSsmsessionCacheEvictions.Add(ctx, int64(st.Evictions))
	l.tel.ProcessorSsmsessionStorageWrites.Add(ctx, int64(st.Writes))
	if st.StorageErr == nil && !st.Recovered {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if st.StorageErr != nil {
		l.tel.ProcessorSsmsessionStorageErrors.Add(ctx, 1)
		l.setDegradedLocked(fmt.Errorf("new_terms storage %q failed, deciding from memory until it recovers: %w", l.extID, st.StorageErr))
		return
	}
	l.setHealthyLocked()
}

// setDegradedLocked reports the first failure of a run of failures; the
// counter tells operators about the rest.
func (l *storageLink) setDegradedLocked(err error) {
	if l.degraded {
		return
	}
	l.logger.Warn("storage degraded", zap.Error(err))
	l.degraded = true
	componentstatus.ReportStatus(l.host, componentstatus.NewRecoverableErrorEvent(err))
}

func (l *storageLink) setHealthyLocked() {
	if !l.degraded {
		return
	}
	l.degraded = false
	l.logger.Info("new_terms storage recovered; state is persisted again", zap.Stringer("storage", l.extID))
	componentstatus.ReportStatus(l.host, componentstatus.NewEvent(componentstatus.StatusOK))
}

// shutdown waits for background work and closes the client.
func (l *storageLink) shutdown(ctx context.Context) error {
	l.store.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.client == nil {
		return nil
	}
	err := l.client.Close(ctx)
	l.client = nil
	l.store.SetClient(nil)
	return err
}
