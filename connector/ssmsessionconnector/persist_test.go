// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionconnector

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/corpus"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/shapes"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/storagetest"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/traffic"
)

// TestSaveNotBegunIsNotAcknowledged: a batch whose save cannot begin
// within its context (another save holds the storage) returns that
// context's error instead of success; sent again, it is not counted twice.
func TestSaveNotBegunIsNotAcknowledged(t *testing.T) {
	first := corpus.Events(t, "identities")[0]
	second := bytes.Replace(first, []byte(`"eventID":"e7c10001`), []byte(`"eventID":"e7c1ffff`), 1)
	slow := &slowSeries{Extension: storagetest.FileStorage(t, t.TempDir()), held: make(chan struct{}), holding: make(chan struct{})}
	h := start(t, config(withStorage), map[component.ID]component.Component{storagetest.ID: slow})
	logsOf := func(raw []byte) plog.Logs {
		ld, err := shapes.Logs(shapes.Raw, [][]byte{raw})
		require.NoError(t, err)
		return ld
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		assert.NoError(t, h.c.ConsumeLogs(ctx, logsOf(first)))
	}()
	<-slow.holding
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, h.c.ConsumeLogs(short, logsOf(second)), context.DeadlineExceeded, "not saved: not acknowledged")
	close(slow.held)
	<-done
	require.NoError(t, h.c.ConsumeLogs(ctx, logsOf(second)), "sent again")
	got := values(h.emit(t))
	assert.Equal(t, []int64{2}, mapValues(withName(got, MetricStarts, "")), "each counted once")
}

// Two batches of one series saved at once: the first one's write is slow.
// Storage ends with the newest count, not the slow write's older one.
func TestSavesReachStorageInOrder(t *testing.T) {
	first := corpus.Events(t, "identities")[0]
	second := bytes.Replace(first, []byte(`"eventID":"e7c10001`), []byte(`"eventID":"e7c1ffff`), 1)
	require.NotEqual(t, first, second)
	slow := &slowSeries{Extension: storagetest.FileStorage(t, t.TempDir()), held: make(chan struct{}), holding: make(chan struct{})}
	h := start(t, config(withStorage), map[component.ID]component.Component{storagetest.ID: slow})

	consume := func(raw []byte) chan struct{} {
		done := make(chan struct{})
		ld, err := shapes.Logs(shapes.Raw, [][]byte{raw})
		require.NoError(t, err)
		go func() {
			defer close(done)
			assert.NoError(t, h.c.ConsumeLogs(ctx, ld))
		}()
		return done
	}
	a := consume(first)
	<-slow.holding // a's counts are being written
	b := consume(second)
	select { // b saves after a; before the fix it wrote at once
	case <-b:
	case <-time.After(200 * time.Millisecond):
	}
	close(slow.held)
	<-a
	<-b

	h.c.mu.Lock()
	want := map[string]int64{}
	for k, s := range h.c.counter.series {
		want[storageKey(k)] = s.Total
	}
	h.c.mu.Unlock()
	require.Equal(t, map[string]int64{storageKey(keyOf1(t, first)): 2}, want)
	assert.Equal(t, want, storedTotals(t, slow.client))
}

// A restart with a smaller max_series folds the stored series beyond it
// into the overflow series once: the folded entries are deleted with the
// overflow's save, so later restarts do not add them again.
func TestRestartWithFewerSeriesFoldsOnce(t *testing.T) {
	raws := corpus.Events(t, "identities")
	dir := t.TempDir()
	fewer := func(n int) func(*Config) { return func(c *Config) { c.MaxSeries = n } }
	total := func(vals map[string]int64) int64 {
		var n int64
		for k, v := range vals {
			if strings.HasPrefix(k, MetricStarts+"|") {
				n += v
			}
		}
		return n
	}
	got, first := lifetime(t, storagetest.FileStorage(t, dir), fewer(100), raws)
	want := total(got)
	require.Positive(t, want)
	first.c.mu.Lock()
	stored := len(first.c.counter.series)
	first.c.mu.Unlock()
	require.Greater(t, stored, 2+2, "more series stored than the restarts may hold")
	const overflowPoint = MetricStarts + "||map[otel.metric.overflow:true]"
	var folded int64
	for i := range 3 {
		got, h := lifetime(t, storagetest.FileStorage(t, dir), fewer(2), nil)
		assert.Equal(t, want, total(got), "the same sessions after each restart")

		// Memory holds at most max_series + 2 series (the overflow series
		// of starts and of durations), whatever storage held.
		h.c.mu.Lock()
		held, kept := len(h.c.counter.series), 0
		var keptTotal, overflowTotal int64
		for k, s := range h.c.counter.series {
			switch {
			case k.Overflow && !k.Durations:
				overflowTotal = s.Total
			case !k.Overflow:
				kept++
				if !k.Durations {
					keptTotal += s.Total
				}
			}
		}
		h.c.mu.Unlock()
		assert.LessOrEqual(t, held, 2+2, "restart %d: at most max_series + 2 series in memory", i)
		assert.LessOrEqual(t, kept, 2, "restart %d: at most max_series series besides the overflow", i)

		// The overflow series holds what was folded: every session not in
		// a kept series, emitted as such.
		assert.Equal(t, want-keptTotal, overflowTotal, "restart %d: the overflow series holds the folded sessions", i)
		assert.Equal(t, overflowTotal, got[overflowPoint], "restart %d: and emits them", i)
		if i == 0 {
			folded = overflowTotal
			assert.Positive(t, folded, "series were folded")
		} else {
			assert.Equal(t, folded, overflowTotal, "restart %d: folded once, not again", i)
		}
	}
}

// Stored counts that cannot be read are not written over: the client is
// refused, the counts live in memory, and the next process with readable
// storage finds them as they were.
func TestUnreadableStoredCountsAreNotOverwritten(t *testing.T) {
	raws := corpus.Events(t, "identities")
	dir := t.TempDir()
	before, _ := lifetime(t, storagetest.FileStorage(t, dir), nil, raws[:11])
	require.NotEmpty(t, before)
	_, blind := lifetime(t, noWalk{storagetest.FileStorage(t, dir)}, nil, raws[11:])
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError}, blind.host.Statuses())
	after, _ := lifetime(t, storagetest.FileStorage(t, dir), nil, nil)
	assert.Equal(t, before, after)
}

// lifetime runs one collector process's connector on ext, with a 30-day
// window: it counts raws, emits, and shuts down cleanly.
func lifetime(t *testing.T, ext storage.Extension, mod func(*Config), raws [][]byte) (map[string]int64, *harness) {
	t.Helper()
	h := start(t, config(func(c *Config) {
		withStorage(c)
		c.Window = 30 * 24 * time.Hour
		if mod != nil {
			mod(c)
		}
	}), map[component.ID]component.Component{storagetest.ID: ext})
	if len(raws) > 0 {
		ld, err := shapes.Logs(shapes.Raw, raws)
		require.NoError(t, err)
		require.NoError(t, h.c.ConsumeLogs(ctx, ld))
	}
	got := values(h.emit(t))
	require.NoError(t, h.c.Shutdown(ctx))
	require.NoError(t, ext.Shutdown(ctx))
	return got, h
}

// A stored histogram without one count per bound is dropped at restore,
// not indexed past its end by the next duration.
func TestShortStoredHistogramIsDropped(t *testing.T) {
	client := storagetest.Client(t, storagetest.FileStorage(t, t.TempDir()), component.KindConnector, component.MustNewID("x"))
	k := seriesKey{Target: "i-1", Durations: true}
	raw, err := json.Marshal(series{Key: k, Total: 1, Hist: &histogram{Counts: []int64{1}}})
	require.NoError(t, err)
	require.NoError(t, client.Set(ctx, storageKey(k), raw))
	st, err := loadSeries(ctx, client)
	require.NoError(t, err)
	assert.Empty(t, st.series)
	v, err := client.Get(ctx, storageKey(k))
	require.NoError(t, err)
	assert.Nil(t, v, "deleted")
}

func keyOf1(t *testing.T, raw []byte) seriesKey {
	t.Helper()
	ld, err := shapes.Logs(shapes.Raw, [][]byte{raw})
	require.NoError(t, err)
	c := start(t, config(nil), nil)
	_, calls, _ := c.c.read(ld)
	require.Len(t, calls, 1)
	return calls[0].key
}

// storedTotals reads the total of every stored series.
func storedTotals(t *testing.T, client storage.Client) map[string]int64 {
	t.Helper()
	st, err := loadSeries(ctx, client)
	require.NoError(t, err)
	out := map[string]int64{}
	for _, s := range st.series {
		out[storageKey(s.Key)] = s.Total
	}
	return out
}

// slowSeries holds the first write of series counts until held is closed.
type slowSeries struct {
	storage.Extension
	once    sync.Once
	held    chan struct{}
	holding chan struct{} // closed when the held write begins
	client  *slowClient
}

func (e *slowSeries) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	c, err := e.Extension.GetClient(ctx, kind, id, name)
	if err != nil {
		return nil, err
	}
	e.client = &slowClient{Client: c, ext: e}
	return e.client, nil
}

type slowClient struct {
	storage.Client
	ext *slowSeries
}

func (c *slowClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	for _, op := range ops {
		if op.Type == storage.Set && strings.HasPrefix(op.Key, seriesPrefix) {
			hold := false
			c.ext.once.Do(func() { hold = true })
			if hold {
				close(c.ext.holding)
				<-c.ext.held
			}
			break
		}
	}
	return c.Client.Batch(ctx, ops...)
}

func (c *slowClient) Walk(ctx context.Context, fn storage.WalkFunc) error {
	return c.Client.(storage.Walker).Walk(ctx, fn)
}

// noWalk is a storage extension whose clients cannot list their keys.
type noWalk struct{ storage.Extension }

func (e noWalk) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	c, err := e.Extension.GetClient(ctx, kind, id, name)
	return struct{ storage.Client }{c}, err
}

// TestBucketChangedAcrossARestart: the stored indexes count buckets of the
// width they were saved with; restarted with another bucket, the counts
// keep their place in the window, and new sessions count in it, whether
// the bucket grew or shrank.
func TestBucketChangedAcrossARestart(t *testing.T) {
	for _, to := range []time.Duration{2 * time.Hour, 30 * time.Minute} {
		dir := t.TempDir()
		hourly := func(c *Config) { withStorage(c); c.Window, c.Bucket = 24*time.Hour, time.Hour }
		ext := storagetest.FileStorage(t, dir)
		first := start(t, config(hourly), map[component.ID]component.Component{storagetest.ID: ext})
		alice, _ := sessionCalls("alice", "i-0a11111111111111a", emitAt.Add(-3*time.Hour), emitAt)
		first.consume(t, shapes.Raw, [][]byte{alice})
		require.NoError(t, first.c.Shutdown(ctx))
		require.NoError(t, ext.Shutdown(ctx))

		second := start(t, config(func(c *Config) { hourly(c); c.Bucket = to }), map[component.ID]component.Component{storagetest.ID: storagetest.FileStorage(t, dir)})
		bob, _ := sessionCalls("bob", "i-0b22222222222222b", emitAt.Add(-time.Hour), emitAt)
		got := values(second.consume(t, shapes.Raw, [][]byte{bob}))
		assert.Equal(t, []int64{1}, mapValues(withName(got, MetricStartsWindow, "user/alice")), "bucket %s: alice's start stays in the window", to)
		assert.Equal(t, []int64{1}, mapValues(withName(got, MetricStartsWindow, "user/bob")), "bucket %s: bob's counts in it", to)
		second.c.mu.Lock()
		assert.Equal(t, second.c.counter.index(emitAt.Add(-time.Hour)), second.c.counter.anchor, "bucket %s: the anchor in the new width", to)
		second.c.mu.Unlock()
		require.NoError(t, second.c.Shutdown(ctx))

		third := start(t, config(func(c *Config) { hourly(c); c.Bucket = to }), map[component.ID]component.Component{storagetest.ID: storagetest.FileStorage(t, dir)})
		assert.Equal(t, []int64{1}, mapValues(withName(values(third.emit(t)), MetricStartsWindow, "user/alice")), "bucket %s: stored in the new width", to)
	}
}

// A window moved only by other CloudTrail records (no count changed) is
// where a clean restart finds it: a late start that fell before it is not
// counted in it after the restart either.
func TestWindowMovedByOtherRecordsSurvivesARestart(t *testing.T) {
	cfg := config(func(c *Config) { withStorage(c); c.Window, c.Bucket = 2*time.Hour, time.Hour })
	h0 := emitAt.Add(-5 * time.Hour).Truncate(time.Hour)
	alice, _ := sessionCalls("alice", "i-0a11111111111111a", h0.Add(10*time.Minute), h0)
	g := traffic.NewGenerator(7)
	who := traffic.IAMUser("111122223333", "carol", "198.51.100.23", "aws-cli/2.15.0")
	other := g.Render(g.RunInstances(who, h0.Add(time.Hour+10*time.Minute), "sg-1", "i-0c33333333333333c"))
	late, _ := sessionCalls("dave", "i-0d44444444444444d", h0.Add(-50*time.Minute), h0)

	run := func(restart bool) map[string]int64 {
		dir := t.TempDir()
		ext := storagetest.FileStorage(t, dir)
		h := start(t, cfg, map[component.ID]component.Component{storagetest.ID: ext})
		h.consume(t, shapes.Raw, [][]byte{alice})
		h.consume(t, shapes.Raw, [][]byte{other}) // the window now ends at h0+1h
		if restart {
			require.NoError(t, h.c.Shutdown(ctx))
			require.NoError(t, ext.Shutdown(ctx))
			h = start(t, cfg, map[component.ID]component.Component{storagetest.ID: storagetest.FileStorage(t, dir)})
		}
		return withName(values(h.consume(t, shapes.Raw, [][]byte{late})), MetricStartsWindow, "user/dave")
	}
	assert.Equal(t, run(false), run(true))
}
