// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionprocessor

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/cloudtrail-detect/ssmsession/internal/firstseen"
	"github.com/cloudtrail-detect/ssmsession/internal/storagelink"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/corpus"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/redistest"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/shapes"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/storagetest"
)

func withStorage() *Config {
	cfg := defaultConfig()
	id := storagetest.ID
	cfg.NewTerms.Storage = &id
	return cfg
}

func rawLogs(t *testing.T, raws [][]byte) plog.Logs {
	t.Helper()
	ld, err := shapes.Logs(shapes.Raw, raws)
	require.NoError(t, err)
	return ld
}

// newTerms lists, per record, whether it was tagged new.
func newTerms(ld plog.Logs) []string {
	var out []string
	for _, lr := range records(ld) {
		out = append(out, newTerm(lr))
	}
	return out
}

// TestRestartKeepsTerms: a collector restarted on the same file storage
// does not re-alert terms it alerted before, and the receiver's redelivery
// of already-delivered records changes nothing.
func TestRestartKeepsTerms(t *testing.T) {
	raws := identities(t)
	dir := t.TempDir()

	ext := storagetest.FileStorage(t, dir)
	h1 := start(t, withStorage(), map[component.ID]component.Component{storagetest.ID: ext}, nil)
	first := newTerms(process(t, h1, rawLogs(t, raws[:10])))
	require.NoError(t, h1.logs.Shutdown(ctx))
	require.NoError(t, ext.Shutdown(ctx))

	ext2 := storagetest.FileStorage(t, dir)
	h2 := start(t, withStorage(), map[component.ID]component.Component{storagetest.ID: ext2}, nil)
	// The receiver re-reads the first 10 records, then the rest.
	assertReplayQuiet(t, first, newTerms(process(t, h2, rawLogs(t, raws[:10]))))
	assertExpected(t, 10, newTerms(process(t, h2, rawLogs(t, raws[10:]))))
}

// failingConsumer fails the first n calls, as a full exporter queue would.
type failingConsumer struct {
	consumertest.LogsSink
	mu      sync.Mutex
	fails   int
	refused []plog.Logs
}

func (f *failingConsumer) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	f.mu.Lock()
	fail := f.fails > 0
	f.fails--
	if fail {
		f.refused = append(f.refused, ld)
	}
	f.mu.Unlock()
	if fail {
		return errors.New("queue is full")
	}
	return f.LogsSink.ConsumeLogs(ctx, ld)
}

func (*failingConsumer) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

// TestRejectedBatchIsAlertedAgain: when the next consumer refuses a batch
// the receiver retries it, and the alert must come again, once.
func TestRejectedBatchIsAlertedAgain(t *testing.T) {
	raws := identities(t)[:1]
	next := &failingConsumer{fails: 1}
	h := start(t, defaultConfig(), nil, next)
	require.Error(t, h.logs.ConsumeLogs(ctx, rawLogs(t, raws)))
	require.NoError(t, h.logs.ConsumeLogs(ctx, rawLogs(t, raws)))
	require.NoError(t, h.logs.ConsumeLogs(ctx, rawLogs(t, raws)))
	got := next.AllLogs()
	require.Len(t, got, 2)
	assert.Equal(t, []string{"true"}, newTerms(got[0]), "the retry carries the alert")
	assert.Equal(t, []string{"false"}, newTerms(got[1]), "a later duplicate does not")
	require.Len(t, next.refused, 1)
	assert.Equal(t, []string{"true"}, newTerms(next.refused[0]))
	assert.Equal(t, attrStr(records(next.refused[0])[0], AttrAlertID), attrStr(records(got[0])[0], AttrAlertID), "same alert, same id")
}

// heldConsumer holds its first call until release is closed, then refuses
// it (an exporter retrying until it gives up); later calls are taken.
type heldConsumer struct {
	consumertest.LogsSink
	entered, release chan struct{}
	once             sync.Once
}

func (h *heldConsumer) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	first := false
	h.once.Do(func() { first = true })
	if first {
		close(h.entered)
		<-h.release
		return errors.New("export failed")
	}
	return h.LogsSink.ConsumeLogs(ctx, ld)
}

func (*heldConsumer) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

// TestCopyWhileAlertInFlight: a sender that times out sends the batch
// again while the first is still held by the exporter; the copy carries
// the alert too (same id), so when the first then fails, the alert has
// reached the next consumer anyway. Once delivered, a later copy is quiet.
func TestCopyWhileAlertInFlight(t *testing.T) {
	t.Run("local", func(t *testing.T) { copyWhileAlertInFlight(t, defaultConfig()) })
	t.Run("redis", func(t *testing.T) { copyWhileAlertInFlight(t, withRedis(redistest.Start(t).Addr)) })
}

func copyWhileAlertInFlight(t *testing.T, cfg *Config) {
	raws := identities(t)[:1]
	next := &heldConsumer{entered: make(chan struct{}), release: make(chan struct{})}
	h := start(t, cfg, nil, next)
	held := rawLogs(t, raws)
	failed := make(chan error)
	go func() { failed <- h.logs.ConsumeLogs(ctx, held) }()
	<-next.entered
	require.NoError(t, h.logs.ConsumeLogs(ctx, rawLogs(t, raws)))
	close(next.release)
	require.Error(t, <-failed)
	require.NoError(t, h.logs.ConsumeLogs(ctx, rawLogs(t, raws)))

	got := next.AllLogs()
	require.Len(t, got, 2)
	assert.Equal(t, []string{"true"}, newTerms(got[0]), "the copy carries the alert its first batch lost")
	assert.Equal(t, attrStr(records(held)[0], AttrAlertID), attrStr(records(got[0])[0], AttrAlertID), "same alert, same id")
	assert.Equal(t, []string{"false"}, newTerms(got[1]), "delivered once, quiet after")
}

// The same batch object sent again (a receiver retrying what was refused)
// after a duplicate copy of its event was delivered: the retry's decision
// stands alone, without the first attempt's alert id.
func TestRetriedBatchKeepsNoStaleTags(t *testing.T) {
	raws := identities(t)[:1]
	next := &failingConsumer{fails: 1}
	h := start(t, defaultConfig(), nil, next)
	batch := rawLogs(t, raws)
	require.Error(t, h.logs.ConsumeLogs(ctx, batch))
	require.NotEmpty(t, attrStr(records(batch)[0], AttrAlertID))
	require.NoError(t, h.logs.ConsumeLogs(ctx, rawLogs(t, raws))) // the copy: alerted and delivered
	require.NoError(t, h.logs.ConsumeLogs(ctx, batch))            // the retry: a duplicate now
	lr := records(batch)[0]
	assert.Equal(t, "false", attrStr(lr, AttrNewTerm))
	_, stale := lr.Attributes().Get(AttrAlertID)
	assert.False(t, stale, "no alert id beside new_term=false")
}

// An event without an eventTime is dated by its record, whose observed
// time a receiver stamps on each read, so a redelivery comes with another
// time: its eventID still says it is the alerting event, alerted again
// after a refusal, with the same id.
func TestRefusedEventWithoutTimeIsAlertedAgain(t *testing.T) {
	raw := bytes.Replace(identities(t)[0], []byte(`"eventTime":"2026-11-02T09:00:05Z",`), nil, 1)
	require.NotEqual(t, identities(t)[0], raw)
	read := func(at time.Time) plog.Logs {
		ld := rawLogs(t, [][]byte{raw})
		records(ld)[0].SetObservedTimestamp(pcommon.NewTimestampFromTime(at))
		return ld
	}
	next := &failingConsumer{fails: 1}
	h := start(t, defaultConfig(), nil, next)
	require.Error(t, h.logs.ConsumeLogs(ctx, read(h.clock.Now())))
	require.NoError(t, h.logs.ConsumeLogs(ctx, read(h.clock.Now().Add(time.Second))))
	require.Len(t, next.refused, 1)
	require.Len(t, next.AllLogs(), 1)
	first, retry := records(next.refused[0])[0], records(next.AllLogs()[0])[0]
	assert.Equal(t, "true", attrStr(retry, AttrNewTerm))
	assert.Equal(t, attrStr(first, AttrAlertID), attrStr(retry, AttrAlertID))
}

// TestUnsettledAlertSurvivesCrash: state is written before the batch goes
// on; if the process dies before the next consumer answers, the same event
// redelivered after restart is alerted again with the same alert id.
func TestUnsettledAlertSurvivesCrash(t *testing.T) {
	raws := identities(t)[:1]
	dir := t.TempDir()
	ext := storagetest.FileStorage(t, dir)

	// The next consumer "hangs" (the process is killed while it exports):
	// the record was tagged and state written, but never settled.
	var tagged plog.Logs
	crash := consumer.Logs(consumerFunc(func(_ context.Context, ld plog.Logs) error {
		tagged = ld
		return errors.New("killed")
	}))
	h1 := start(t, withStorage(), map[component.ID]component.Component{storagetest.ID: ext}, crash)
	_ = h1.logs.ConsumeLogs(ctx, rawLogs(t, raws))
	require.Equal(t, []string{"true"}, newTerms(tagged))
	require.NoError(t, h1.logs.Shutdown(ctx))
	require.NoError(t, ext.Shutdown(ctx))

	h2 := start(t, withStorage(), map[component.ID]component.Component{storagetest.ID: storagetest.FileStorage(t, dir)}, nil)
	again := process(t, h2, rawLogs(t, raws))
	assert.Equal(t, []string{"true"}, newTerms(again))
	assert.Equal(t, attrStr(records(tagged)[0], AttrAlertID), attrStr(records(again)[0], AttrAlertID))
	assert.Equal(t, []string{"false"}, newTerms(process(t, h2, rawLogs(t, raws))), "settled now")
}

type consumerFunc func(context.Context, plog.Logs) error

func (f consumerFunc) ConsumeLogs(ctx context.Context, ld plog.Logs) error { return f(ctx, ld) }
func (consumerFunc) Capabilities() consumer.Capabilities                   { return consumer.Capabilities{} }

func TestMissingStorageExtensionDegrades(t *testing.T) {
	h := start(t, withStorage(), nil, nil)
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError}, h.host.Statuses())
	ld := process(t, h, rawLogs(t, identities(t)[:1]))
	assert.Equal(t, []string{"true"}, newTerms(ld), "decisions continue from memory")
	assertCounter(t, h, "otelcol_processor_ssmsession_storage_errors", 1)
}

// TestStorageFaultsAndRecovery: a client that fails, then a storage that
// refuses clients; both degrade to memory and recover without a restart.
func TestStorageFaultsAndRecovery(t *testing.T) {
	raws := identities(t)
	faulty := &storagetest.FaultyExtension{Extension: storagetest.FileStorage(t, t.TempDir())}
	h := start(t, withStorage(), map[component.ID]component.Component{storagetest.ID: faulty}, nil)
	require.Empty(t, h.host.Statuses())
	require.Len(t, faulty.Clients, 1)

	faulty.Clients[0].SetFailing(true)
	ld := process(t, h, rawLogs(t, raws[:1]))
	assert.Equal(t, []string{"true"}, newTerms(ld), "records keep flowing")
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError}, h.host.Statuses())

	faulty.Clients[0].SetFailing(false)
	process(t, h, rawLogs(t, raws[2:3]))
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK}, h.host.Statuses())

	// Storage refuses clients at start: retried after the interval.
	faulty2 := &storagetest.FaultyExtension{Extension: storagetest.FileStorage(t, t.TempDir())}
	faulty2.SetRefusing(true)
	h2 := start(t, withStorage(), map[component.ID]component.Component{storagetest.ID: faulty2}, nil)
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError}, h2.host.Statuses())
	faulty2.SetRefusing(false)
	process(t, h2, rawLogs(t, raws[:1]))
	time.Sleep(300 * time.Millisecond) // three checks of the clock
	assert.Empty(t, faulty2.Clients, "not retried before the interval")
	h2.clock.Advance(storagelink.RetryInterval)
	require.Eventually(t, func() bool { return len(h2.host.Statuses()) == 2 }, 5*time.Second, 10*time.Millisecond, "asked again in the background")
	require.Len(t, faulty2.Clients, 1)
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK}, h2.host.Statuses())
}

// TestConcurrentConsumers runs many goroutines through one processor (the
// collector may call it concurrently); run under -race.
func TestConcurrentConsumers(t *testing.T) {
	raws := identities(t)
	h := start(t, withStorage(), map[component.ID]component.Component{storagetest.ID: storagetest.FileStorage(t, t.TempDir())}, nil)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				ld, err := shapes.Logs(shapes.All[(g+i)%len(shapes.All)], raws)
				if !assert.NoError(t, err) {
					return
				}
				assert.NoError(t, h.logs.ConsumeLogs(ctx, ld))
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 8*20*len(raws), h.sink.LogRecordCount())
	// Each of the 10 (term, event) alerts of the corpus is raised, with the
	// ids one processor reading the corpus once gives them, whatever the
	// interleaving. A copy read while its alert's batch is under way carries
	// the alert too (that batch may yet fail), so an alert is raised at most
	// once per goroutine (each has one batch under way at a time); once
	// delivered, no copy raises it again.
	alerts := map[string]int{}
	for _, ld := range h.sink.AllLogs() {
		for _, lr := range records(ld) {
			if id := attrStr(lr, AttrAlertID); id != "" {
				alerts[id]++
			}
		}
	}
	newInCorpus := 0
	for _, m := range corpus.Expected(t) {
		if m.NewTerm {
			newInCorpus++
		}
	}
	require.Equal(t, 10, newInCorpus)
	assert.Len(t, alerts, newInCorpus, "every alert of the corpus raised")
	for id, n := range alerts {
		assert.LessOrEqual(t, n, 8, "alert %s raised by more batches than were under way at once", id)
	}
	want := map[string]bool{}
	for _, lr := range records(process(t, start(t, defaultConfig(), nil, nil), rawLogs(t, raws))) {
		if id := attrStr(lr, AttrAlertID); id != "" {
			want[id] = true
		}
	}
	assert.Len(t, want, newInCorpus)
	for id := range want {
		assert.Contains(t, alerts, id, "the alerts one processor raises reading the corpus once")
	}
	for _, lr := range records(process(t, h, rawLogs(t, raws))) {
		assert.Empty(t, attrStr(lr, AttrAlertID), "delivered: not raised again")
	}
}

// TestBrokenStorageFiles: a corrupt database file, and a storage directory
// that cannot hold one, degrade to memory at start and recover once fixed.
func TestBrokenStorageFiles(t *testing.T) {
	raws := identities(t)
	for name, breakIt := range map[string]func(dir string) (fix func()){
		"corrupt file": func(dir string) func() {
			file := filepath.Join(dir, "processor_ssmsession_")
			require.NoError(t, os.WriteFile(file, bytes.Repeat([]byte("not bbolt "), 5000), 0o600))
			return func() { require.NoError(t, os.Remove(file)) }
		},
		// As root, permissions cannot make a directory unwritable; a file
		// where the directory should be fails the same way.
		"directory not writable": func(dir string) func() {
			require.NoError(t, os.RemoveAll(dir))
			require.NoError(t, os.WriteFile(dir, nil, 0o400))
			return func() { require.NoError(t, os.Remove(dir)); require.NoError(t, os.Mkdir(dir, 0o700)) }
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			require.NoError(t, os.Mkdir(dir, 0o700))
			fix := breakIt(dir)
			h := start(t, withStorage(), map[component.ID]component.Component{storagetest.ID: storagetest.FileStorage(t, dir)}, nil)
			assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError}, h.host.Statuses())
			assert.Equal(t, []string{"true"}, newTerms(process(t, h, rawLogs(t, raws[:1]))), "records flow, decided from memory")

			fix()
			h.clock.Advance(storagelink.RetryInterval)
			require.Eventually(t, func() bool { return len(h.host.Statuses()) == 2 }, 5*time.Second, 10*time.Millisecond, "reconnected in the background")
			assert.Equal(t, []string{"false"}, newTerms(process(t, h, rawLogs(t, raws[2:3]))))
			assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK}, h.host.Statuses())
			// alice's term, decided while degraded, is written with its
			// delivery mark; so is when launches began to be watched.
			assertCounter(t, h, "otelcol_processor_ssmsession_storage_writes", 2)
		})
	}
}

// TestStorageFull: while writes fail with ErrStorageFull the pipeline keeps
// flowing from memory; once space is back, the state is written.
func TestStorageFull(t *testing.T) {
	raws := identities(t)
	faulty := &storagetest.FaultyExtension{Extension: storagetest.FileStorage(t, t.TempDir())}
	h := start(t, withStorage(), map[component.ID]component.Component{storagetest.ID: faulty}, nil)
	faulty.Clients[0].FailWith(storage.ErrStorageFull)
	got := newTerms(process(t, h, rawLogs(t, raws[:4])))
	assert.Equal(t, []string{"true", "", "false", "true"}, got)
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError}, h.host.Statuses())

	faulty.Clients[0].FailWith(nil)
	process(t, h, rawLogs(t, raws[5:6]))
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK}, h.host.Statuses())
	v, ok := faulty.Clients[0].Client.(storage.Walker)
	require.True(t, ok, "file_storage's client lists its keys")
	stored := 0
	require.NoError(t, v.Walk(ctx, func(k string, _ []byte) ([]*storage.Operation, error) {
		if strings.HasPrefix(k, firstseen.TermPrefix) {
			stored++
		}
		return nil, nil
	}))
	assert.Equal(t, 3, stored, "alice, the SSO role and web-tier: what was decided while full is written")
}
