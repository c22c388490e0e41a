// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

// Package storagelink connects a component to the storage extension its
// configuration names, and turns storage health into component status and
// logs: a missing or failing storage degrades the component to memory
// (RecoverableError), never stops its pipeline, and recovers by itself.
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
)

// RetryInterval is how often a missing client is asked for again.
const RetryInterval = 30 * time.Second

// Link owns the storage client of one component, or, without an extension,
// only reports the health of another store (Redis) the same way.
type Link struct {
	label  string // what the messages name: storage "file_storage", redis "host:port"
	kind   component.Kind
	self   component.ID
	extID  *component.ID
	logger *zap.Logger
	now    func() time.Time
	// attach hands a new client (or nil at shutdown) to the component.
	attach func(storage.Client)
	// onError counts a storage failure in the component's telemetry.
	onError func()

	mu          sync.Mutex
	host        component.Host
	client      storage.Client
	lastAttempt time.Time
	degraded    bool
}

// New returns a link for the extension extID (nil: no storage configured).
func New(kind component.Kind, self component.ID, extID *component.ID, logger *zap.Logger, now func() time.Time,
	attach func(storage.Client), onError func(),
) *Link {
	label := "storage"
	if extID != nil {
		label = fmt.Sprintf("storage %q", extID)
	}
	return &Link{label: label, kind: kind, self: self, extID: extID, logger: logger, now: now, attach: attach, onError: onError}
}

// Health returns a link that connects nothing and reports the health of a
// store named by label through the same status, logs and counter.
func Health(label string, logger *zap.Logger, onError func()) *Link {
	return &Link{label: label, logger: logger, now: time.Now, attach: func(storage.Client) {}, onError: onError}
}

// Configured reports whether a storage extension is named.
func (l *Link) Configured() bool { return l.extID != nil }

// Start connects; failing to is not an error for the component.
func (l *Link) Start(ctx context.Context, host component.Host) error {
	l.mu.Lock()
	l.host = host
	l.mu.Unlock()
	if l.extID != nil {
		l.connect(ctx)
	}
	return nil
}

func (l *Link) connect(ctx context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lastAttempt = l.now()
	client, err := l.getClient(ctx)
	if err != nil {
		l.onError()
		l.degradeLocked(fmt.Errorf("%s unavailable, keeping state in memory only: %w", l.label, err))
		return
	}
	l.client = client
	l.attach(client)
	l.recoverLocked()
}

func (l *Link) getClient(ctx context.Context) (client storage.Client, err error) {
	// bbolt can panic on some corrupt files (file_storage's recreate option
	// exists for that): storage must never take the collector down.
	defer func() {
		if r := recover(); r != nil {
			client, err = nil, fmt.Errorf("opening storage panicked: %v", r)
		}
	}()
	ext, ok := l.host.GetExtensions()[*l.extID]
	if !ok {
		return nil, errors.New("no such extension; add it under the service's extensions")
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return nil, errors.New("the extension is not a storage extension")
	}
	return se.GetClient(ctx, l.kind, l.self, "")
}

// ReconnectIfDue asks for a client again when none is held and the retry
// interval has passed since the last attempt.
func (l *Link) ReconnectIfDue(ctx context.Context) {
	if l.extID == nil {
		return
	}
	l.mu.Lock()
	due := l.client == nil && l.now().Sub(l.lastAttempt) >= RetryInterval
	l.mu.Unlock()
	if due {
		l.connect(ctx)
	}
}

// Failed records a failed storage operation.
func (l *Link) Failed(err error) {
	l.onError()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.degradeLocked(fmt.Errorf("%s failed, deciding from local state until it recovers: %w", l.label, err))
}

// Recovered records a storage operation that succeeded after failures.
func (l *Link) Recovered() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recoverLocked()
}

// degradeLocked reports the first failure of a run; counters tell the rest.
func (l *Link) degradeLocked(err error) {
	if l.degraded {
		return
	}
	l.degraded = true
	l.logger.Warn("storage degraded", zap.Error(err))
	componentstatus.ReportStatus(l.host, componentstatus.NewRecoverableErrorEvent(err))
}

func (l *Link) recoverLocked() {
	if !l.degraded {
		return
	}
	l.degraded = false
	l.logger.Info(l.label + " recovered; state is shared and persisted again")
	componentstatus.ReportStatus(l.host, componentstatus.NewEvent(componentstatus.StatusOK))
}

// Shutdown detaches and closes the client.
func (l *Link) Shutdown(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.client == nil {
		return nil
	}
	err := l.client.Close(ctx)
	l.client = nil
	l.attach(nil)
	return err
}
