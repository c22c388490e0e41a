// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

// Package storagetest gives tests real file storage (contrib's file_storage
// extension, bbolt on disk) and a client wrapper that injects faults.
package storagetest // import "github.com/cloudtrail-detect/ssmsession/internal/testsupport/storagetest"

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// ID is the extension id tests register file storage under.
var ID = component.MustNewID("file_storage")

// FileStorage starts a file_storage extension on dir. Stop it (or let the
// test end) to close it; a new one on the same dir sees the same data, as a
// restarted collector does.
func FileStorage(tb testing.TB, dir string) storage.Extension {
	tb.Helper()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := ext.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = ext.Shutdown(context.Background()) })
	return ext.(storage.Extension)
}

// Client opens a client of ext for a component, closed when the test ends.
func Client(tb testing.TB, ext storage.Extension, kind component.Kind, id component.ID) storage.Client {
	tb.Helper()
	c, err := ext.GetClient(context.Background(), kind, id, "")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// Host serves extensions to components under test.
// It records the status events components report, as the collector's own
// host would pass them on.
type Host struct {
	component.Host
	Extensions map[component.ID]component.Component

	mu       sync.Mutex
	statuses []componentstatus.Status
}

// NewHost returns a host holding the given extensions.
func NewHost(exts map[component.ID]component.Component) *Host {
	return &Host{Host: componenttest.NewNopHost(), Extensions: exts}
}

// GetExtensions implements component.Host.
func (h *Host) GetExtensions() map[component.ID]component.Component { return h.Extensions }

// Report implements componentstatus.Reporter.
func (h *Host) Report(ev *componentstatus.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.statuses = append(h.statuses, ev.Status())
}

// Statuses lists the statuses reported so far, in order.
func (h *Host) Statuses() []componentstatus.Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]componentstatus.Status(nil), h.statuses...)
}

// ErrInjected is returned by a Faulty client while it is failing.
var ErrInjected = errors.New("injected storage fault")

// Faulty wraps a client and fails every operation while failing, or holds
// each one while held, and counts the writes of each key.
type Faulty struct {
	storage.Client
	mu    sync.Mutex
	err   error
	held  chan struct{} // closed on Release
	Calls int
	sets  map[string]int
	// read is closed when the read HoldNextRead holds has read; readHeld
	// is that read's hold, closed on Release.
	read, readHeld chan struct{}
	failRead       bool // FailNextRead
	failWalk       bool // FailNextWalk
}

// FailNextWalk makes the next Walk alone fail (ErrInjected).
func (f *Faulty) FailNextWalk() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failWalk = true
}

// FailNextRead makes the next Batch of gets alone fail (ErrInjected).
func (f *Faulty) FailNextRead() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failRead = true
}

// Hold makes every operation wait (within its context) until Release, as a
// slow disk would.
func (f *Faulty) Hold() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.held = make(chan struct{})
}

// HoldNextRead makes the next Batch of gets wait, once it has read, until
// Release: a reply that comes late, overtaken by what other batches do
// meanwhile. The channel returned is closed when it has read.
func (f *Faulty) HoldNextRead() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.read, f.readHeld = make(chan struct{}), make(chan struct{})
	return f.read
}

// Release lets held operations go on.
func (f *Faulty) Release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range []*chan struct{}{&f.held, &f.readHeld} {
		if *c != nil {
			close(*c)
			*c = nil
		}
	}
}

// SetsOf is how many times key was written.
func (f *Faulty) SetsOf(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sets[key]
}

func (f *Faulty) wait(ctx context.Context) error {
	f.mu.Lock()
	held := f.held
	f.mu.Unlock()
	if held == nil {
		return nil
	}
	select {
	case <-held:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SetFailing switches faults (ErrInjected) on or off.
func (f *Faulty) SetFailing(on bool) {
	if on {
		f.FailWith(ErrInjected)
	} else {
		f.FailWith(nil)
	}
}

// FailWith makes every operation return err (nil: succeed again), such as
// storage.ErrStorageFull for a full disk.
func (f *Faulty) FailWith(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// fail counts an operation and returns the fault to answer with.
func (f *Faulty) fail(ops ...*storage.Operation) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Calls++
	if f.failRead && len(ops) > 0 && ops[0].Type == storage.Get {
		f.failRead = false
		return ErrInjected
	}
	if f.err == nil {
		for _, op := range ops {
			if op.Type == storage.Set {
				if f.sets == nil {
					f.sets = map[string]int{}
				}
				f.sets[op.Key]++
			}
		}
	}
	return f.err
}

// heldRead takes the hold of HoldNextRead when ops are its read.
func (f *Faulty) heldRead(ops []*storage.Operation) (read, held chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.read == nil || len(ops) == 0 || ops[0].Type != storage.Get {
		return nil, nil
	}
	read, held, f.read = f.read, f.readHeld, nil
	return read, held
}

// CallCount is how many operations were asked for so far.
func (f *Faulty) CallCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.Calls
}

// Batch implements storage.Client.
func (f *Faulty) Batch(ctx context.Context, ops ...*storage.Operation) error {
	if err := f.fail(ops...); err != nil {
		return err
	}
	if err := f.wait(ctx); err != nil {
		return err
	}
	read, held := f.heldRead(ops)
	err := f.Client.Batch(ctx, ops...)
	if read != nil {
		close(read)
		<-held
	}
	return err
}

// Get implements storage.Client, faulted and held as Batch is.
func (f *Faulty) Get(ctx context.Context, key string) ([]byte, error) {
	op := storage.GetOperation(key)
	err := f.Batch(ctx, op)
	return op.Value, err
}

// Set implements storage.Client, faulted and held as Batch is.
func (f *Faulty) Set(ctx context.Context, key string, value []byte) error {
	return f.Batch(ctx, storage.SetOperation(key, value))
}

// Delete implements storage.Client, faulted and held as Batch is.
func (f *Faulty) Delete(ctx context.Context, key string) error {
	return f.Batch(ctx, storage.DeleteOperation(key))
}

// Walk passes through to the wrapped client's Walker.
func (f *Faulty) Walk(ctx context.Context, fn storage.WalkFunc) error {
	f.mu.Lock()
	failWalk := f.failWalk
	f.failWalk = false
	f.mu.Unlock()
	if failWalk {
		return ErrInjected
	}
	if err := f.fail(); err != nil {
		return err
	}
	if err := f.wait(ctx); err != nil {
		return err
	}
	return f.Client.(storage.Walker).Walk(ctx, fn)
}

// FaultyExtension hands out Faulty clients over a real extension, and can
// refuse to give clients at all.
type FaultyExtension struct {
	storage.Extension
	mu       sync.Mutex
	refusing bool
	Clients  []*Faulty
}

// SetRefusing makes GetClient fail while on.
func (e *FaultyExtension) SetRefusing(on bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.refusing = on
}

// GetClient implements storage.Extension.
func (e *FaultyExtension) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.refusing {
		return nil, ErrInjected
	}
	c, err := e.Extension.GetClient(ctx, kind, id, name)
	if err != nil {
		return nil, err
	}
	f := &Faulty{Client: c}
	e.Clients = append(e.Clients, f)
	return f, nil
}

var _ extension.Extension = (*FaultyExtension)(nil)
