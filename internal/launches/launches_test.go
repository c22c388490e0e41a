// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package launches

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"

	"github.com/cloudtrail-detect/ssmsession/internal/firstseen"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/redistest"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/storagetest"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/testclock"
)

var (
	ctx  = context.Background()
	t0   = time.Date(2026, 11, 9, 8, 0, 0, 0, time.UTC)
	day  = 24 * time.Hour
	self = component.MustNewID("ssmsession")
)

func TestRecent(t *testing.T) {
	for _, c := range []struct {
		name             string
		launched         time.Time
		known            bool
		since, at        time.Time
		recently, known2 bool
	}{
		{"launched an hour before", t0.Add(-time.Hour), true, t0.Add(-48 * time.Hour), t0, true, true},
		{"launched exactly recent before", t0.Add(-day), true, t0.Add(-48 * time.Hour), t0, true, true},
		{"launched longer ago", t0.Add(-day - time.Second), true, t0, t0, false, true},
		{"launch after the session: bad times", t0.Add(time.Minute), true, t0.Add(-48 * time.Hour), t0, false, false},
		{"not seen, watched long enough", time.Time{}, false, t0.Add(-day), t0, false, true},
		{"not seen, watched too briefly", time.Time{}, false, t0.Add(-day + time.Second), t0, false, false},
		{"not seen, never watched", time.Time{}, false, time.Time{}, t0, false, false},
	} {
		recently, ok := Recent(c.launched, c.known, c.since, c.at, day)
		assert.Equal(t, c.known2, ok, c.name)
		assert.Equal(t, c.recently, recently, c.name)
	}
}

func localSettings(clock *testclock.Clock, persistent bool, cache int) firstseen.Settings {
	return firstseen.Settings{Window: 10 * day, CacheSize: cache, Persistent: persistent, PruneInterval: time.Hour,
		Now: clock.Now}
}

// exercise is the same story told to any Store: a launch, then lookups of
// it and of an instance never launched, before and after a day of watching.
func exercise(t *testing.T, s Store) {
	t.Helper()
	_, err := s.Record(ctx, []Launch{{Instance: "i-0f5a1e2d3c4b5a697", At: t0.Add(time.Hour), Event: 7}}, t0)
	require.NoError(t, err)
	launched, since, err := s.Lookup(ctx, []string{"i-0f5a1e2d3c4b5a697", "i-0a11111111111111a"})
	require.NoError(t, err)
	assert.Equal(t, map[string]time.Time{"i-0f5a1e2d3c4b5a697": t0.Add(time.Hour)}, launched)
	assert.False(t, since.Before(t0), "watching began at the first proposal")
	_, ok := Recent(time.Time{}, false, since, t0.Add(time.Hour), day)
	assert.False(t, ok, "an hour of watching cannot say an instance is old")
	recently, ok := Recent(time.Time{}, false, since, t0.Add(day+time.Hour), day)
	assert.True(t, ok)
	assert.False(t, recently, "a day of watching and no launch: not recent")
}

func TestLocalMemory(t *testing.T) {
	clock := testclock.At(t0.Add(30 * day))
	s, err := NewLocal(localSettings(clock, false, 100))
	require.NoError(t, err)
	exercise(t, s)
}

// bodyView is an instance id as the reader hands it over: a view of the
// record's body, which what a store keeps must not hold on to.
func bodyView(id string) string {
	body := `{"requestParameters":{"target":"` + id + `"}}`
	return body[strings.Index(body, id):][:len(id)]
}

// assertCopied: the ids a store keeps share no memory with those asked.
func assertCopied(t *testing.T, asked string, kept []string) {
	t.Helper()
	require.Equal(t, []string{asked}, kept)
	assert.NotEqual(t, uintptr(unsafe.Pointer(unsafe.StringData(asked))), uintptr(unsafe.Pointer(unsafe.StringData(kept[0]))))
}

// TestLocalAbsentOwnsItsIDs: the instances remembered as absent are copies.
func TestLocalAbsentOwnsItsIDs(t *testing.T) {
	s, err := NewLocal(localSettings(testclock.At(t0), false, 100))
	require.NoError(t, err)
	id := bodyView("i-0a11111111111111a")
	_, _, err = s.Lookup(ctx, []string{id})
	require.NoError(t, err)
	assertCopied(t, id, s.absent.Keys())
}

// TestLocalEvictionForgets: without storage, an evicted launch is lost, so
// from its time on nothing is known to be old.
func TestLocalEvictionForgets(t *testing.T) {
	clock := testclock.At(t0)
	s, err := NewLocal(localSettings(clock, false, 2))
	require.NoError(t, err)
	var ls []Launch
	for i := 0; i < 3; i++ {
		ls = append(ls, Launch{Instance: fmt.Sprintf("i-0000000000000000%d", i), At: t0.Add(time.Duration(i) * time.Hour), Event: uint64(i + 1)})
	}
	_, err = s.Record(ctx, ls, t0.Add(-48*time.Hour))
	require.NoError(t, err)
	launched, since, err := s.Lookup(ctx, []string{ls[0].Instance, ls[2].Instance})
	require.NoError(t, err)
	assert.NotContains(t, launched, ls[0].Instance, "evicted")
	assert.Equal(t, ls[2].At, launched[ls[2].Instance])
	assert.True(t, since.After(ls[0].At), "since moves past what was forgotten: %s", since)
}

// TestLocalMemoryBoundedWithStorage: with storage, memory holds at most
// cache_size launches; older ones are read back from storage, and while it
// fails they are unknown (no launch waits in memory for an outcome).
func TestLocalMemoryBoundedWithStorage(t *testing.T) {
	s, faulty := faultyLocal(t)
	var ids []string
	for i := range 150 {
		id := fmt.Sprintf("i-%017x", 0x100+i)
		ids = append(ids, id)
		_, err := s.Record(ctx, []Launch{{Instance: id, At: t0.Add(time.Duration(i) * time.Minute), Event: uint64(i + 1)}}, t0)
		require.NoError(t, err)
	}
	launched, _, err := s.Lookup(ctx, ids[:1])
	require.NoError(t, err)
	assert.Contains(t, launched, ids[0], "read back from storage")
	faulty.SetFailing(true)
	launched, _, err = s.Lookup(ctx, ids)
	require.Error(t, err)
	assert.LessOrEqual(t, len(launched), 100, "no more than the cache in memory")
	assert.Contains(t, launched, ids[149], "the newest are")
}

// faultyLocal is a local store on file_storage whose failures the test
// decides, two days past t0.
func faultyLocal(t *testing.T) (*Local, *storagetest.Faulty) {
	t.Helper()
	faulty := &storagetest.Faulty{Client: storagetest.Client(t, storagetest.FileStorage(t, t.TempDir()), component.KindProcessor, self)}
	s, err := NewLocal(localSettings(testclock.At(t0.Add(2*day)), true, 100))
	require.NoError(t, err)
	s.SetClient(faulty)
	return s, faulty
}

// A lookup that races a launch being recorded does not remember the
// instance as never launched: the next lookup finds the launch.
func TestLocalLookupRacingARecord(t *testing.T) {
	s, faulty := faultyLocal(t)
	_, err := s.Record(ctx, nil, t0)
	require.NoError(t, err)

	read := faulty.HoldNextRead()
	recorded := make(chan error)
	go func() {
		_, err := s.Record(ctx, []Launch{{Instance: "i-0f5a1e2d3c4b5a697", At: t0.Add(time.Hour), Event: 7}}, time.Time{})
		recorded <- err
	}()
	<-read // the launch's state is being read, not decided yet
	launched, _, err := s.Lookup(ctx, []string{"i-0f5a1e2d3c4b5a697"})
	require.NoError(t, err)
	assert.Empty(t, launched, "not recorded yet")
	faulty.Release()
	require.NoError(t, <-recorded)
	launched, _, err = s.Lookup(ctx, []string{"i-0f5a1e2d3c4b5a697"})
	require.NoError(t, err)
	assert.Equal(t, map[string]time.Time{"i-0f5a1e2d3c4b5a697": t0.Add(time.Hour)}, launched)
}

// TestLocalRestart: with file_storage, launches and the start of watching
// survive a restart.
func TestLocalRestart(t *testing.T) {
	dir := t.TempDir()
	clock := testclock.At(t0.Add(2 * day))
	ext := storagetest.FileStorage(t, dir)
	s, err := NewLocal(localSettings(clock, true, 100))
	require.NoError(t, err)
	client := storagetest.Client(t, ext, component.KindProcessor, self)
	s.SetClient(client)
	exercise(t, s)
	s.Close(ctx)
	require.NoError(t, client.Close(ctx))
	require.NoError(t, ext.Shutdown(ctx))

	again, err := NewLocal(localSettings(clock, true, 100))
	require.NoError(t, err)
	_, since, err := again.Lookup(ctx, []string{"i-0f5a1e2d3c4b5a697"})
	require.NoError(t, err)
	assert.True(t, since.IsZero(), "storage not attached yet: nothing is known to be old")
	again.SetClient(storagetest.Client(t, storagetest.FileStorage(t, dir), component.KindProcessor, self))
	launched, since, err := again.Lookup(ctx, []string{"i-0f5a1e2d3c4b5a697"})
	require.NoError(t, err)
	assert.Equal(t, t0.Add(time.Hour), launched["i-0f5a1e2d3c4b5a697"])
	assert.Equal(t, t0, since, "watching began before the restart")
}

// Killed after its first batch (no Close): the start of watching that
// batch proposed was stored with its launch, and a later proposal does
// not move it.
func TestLocalKilledAfterTheFirstLaunch(t *testing.T) {
	clock := testclock.At(t0.Add(2 * day))
	client := storagetest.Client(t, storagetest.FileStorage(t, t.TempDir()), component.KindProcessor, self)
	s, err := NewLocal(localSettings(clock, true, 100))
	require.NoError(t, err)
	s.SetClient(client)
	_, err = s.Record(ctx, []Launch{{Instance: "i-0f5a1e2d3c4b5a697", At: t0.Add(time.Hour), Event: 7}}, t0)
	require.NoError(t, err)

	again, err := NewLocal(localSettings(clock, true, 100))
	require.NoError(t, err)
	again.SetClient(client)
	_, err = again.Record(ctx, nil, t0.Add(5*day))
	require.NoError(t, err)
	launched, since, err := again.Lookup(ctx, []string{"i-0f5a1e2d3c4b5a697"})
	require.NoError(t, err)
	assert.Equal(t, map[string]time.Time{"i-0f5a1e2d3c4b5a697": t0.Add(time.Hour)}, launched)
	assert.Equal(t, t0, since, "watching began before the crash")
}

func newRedis(t *testing.T, addr string, clock *testclock.Clock) *Redis {
	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })
	s, err := NewRedis(RedisSettings{Client: client, KeyPrefix: "test:", History: 10 * day, Slack: time.Hour,
		Timeout: time.Second, RetryAfter: 5 * time.Second, CacheSize: 100, Now: clock.Now})
	require.NoError(t, err)
	return s
}

// watching is a Redis launch store on a server of its own that has watched
// launches since t0, two days before its clock.
func watching(t *testing.T) (*redistest.Server, *testclock.Clock, *Redis) {
	t.Helper()
	srv := redistest.Start(t)
	clock := testclock.At(t0.Add(2 * day))
	s := newRedis(t, srv.Addr, clock)
	_, err := s.Record(ctx, nil, t0)
	require.NoError(t, err)
	return srv, clock, s
}

// TestRedisShared: one replica records, another answers.
func TestRedisShared(t *testing.T) {
	srv := redistest.Start(t)
	clock := testclock.At(t0.Add(2 * day))
	exercise(t, newRedis(t, srv.Addr, clock))
	other := newRedis(t, srv.Addr, clock)
	launched, since, err := other.Lookup(ctx, []string{"i-0f5a1e2d3c4b5a697"})
	require.NoError(t, err)
	assert.Equal(t, t0.Add(time.Hour), launched["i-0f5a1e2d3c4b5a697"])
	assert.Equal(t, t0, since)
	// A launch older than the history is not written at all.
	_, err = other.Record(ctx, []Launch{{Instance: "i-0000000000000000a", At: t0.Add(-20 * day)}}, time.Time{})
	require.NoError(t, err)
	launched, _, err = other.Lookup(ctx, []string{"i-0000000000000000a"})
	require.NoError(t, err)
	assert.Empty(t, launched)
}

// TestRedisCacheOwnsItsIDs: the launches cached from Redis are kept under
// copies of the ids asked.
func TestRedisCacheOwnsItsIDs(t *testing.T) {
	_, _, s := watching(t)
	_, err := s.Record(ctx, []Launch{{Instance: "i-0f5a1e2d3c4b5a697", At: t0.Add(time.Hour), Event: 7}}, time.Time{})
	require.NoError(t, err)
	id := bodyView("i-0f5a1e2d3c4b5a697")
	launched, _, err := s.Lookup(ctx, []string{id})
	require.NoError(t, err)
	require.Contains(t, launched, id)
	assertCopied(t, id, s.cache.Keys())
}

// TestRedisOutage: while Redis is down, one call fails, the others do not
// wait on it; launches that could not be written make misses unknown.
func TestRedisOutage(t *testing.T) {
	srv, clock, s := watching(t)
	srv.Stop()
	_, err := s.Record(ctx, []Launch{{Instance: "i-0f5a1e2d3c4b5a697", At: t0.Add(day)}}, time.Time{})
	require.Error(t, err)
	_, since, err := s.Lookup(ctx, []string{"i-0f5a1e2d3c4b5a697"})
	require.NoError(t, err, "left alone for retry_interval")
	assert.True(t, since.IsZero())

	srv.Restart()
	clock.Advance(5 * time.Second)
	launched, since, err := s.Lookup(ctx, []string{"i-0f5a1e2d3c4b5a697"})
	require.NoError(t, err)
	assert.Empty(t, launched, "the launch was lost with the outage")
	assert.True(t, since.After(t0.Add(day)), "so nothing before it is known to be old: %s", since)
	st, err := s.Record(ctx, nil, time.Time{})
	require.NoError(t, err)
	assert.True(t, st.Recovered, "the recovery Lookup found is reported with the next Record")
	assert.Equal(t, 1, st.Writes, "which writes the launch the outage kept from Redis")
	st, _ = s.Record(ctx, nil, time.Time{})
	assert.False(t, st.Recovered, "once")

	launched, since, err = newRedis(t, srv.Addr, clock).Lookup(ctx, []string{"i-0f5a1e2d3c4b5a697"})
	require.NoError(t, err)
	assert.Equal(t, map[string]time.Time{"i-0f5a1e2d3c4b5a697": t0.Add(day)}, launched, "another replica knows it now")
	assert.True(t, since.IsZero(), "the restarted Redis lost when watching began")
	_, since, err = s.Lookup(ctx, []string{"i-0000000000000000b"})
	require.NoError(t, err)
	assert.Equal(t, t0, since, "all written: nothing is missing since watching began")
}

// TestRedisUnsentBounded: launches kept for Redis while it cannot be
// written are at most CacheSize, the newest; those dropped stay unknown,
// so a target not found is not told old before the newest of them.
func TestRedisUnsentBounded(t *testing.T) {
	srv, clock, s := watching(t)
	srv.Stop()
	var many []Launch
	for i := range 150 { // CacheSize is 100
		many = append(many, Launch{Instance: fmt.Sprintf("i-%017x", i), At: t0.Add(time.Duration(i) * time.Minute)})
	}
	_, err := s.Record(ctx, many, time.Time{})
	require.Error(t, err)
	srv.Restart()
	clock.Advance(5 * time.Second)
	st, err := s.Record(ctx, nil, time.Time{})
	require.NoError(t, err)
	assert.Equal(t, 100, st.Writes, "the newest 100")
	launched, since, err := s.Lookup(ctx, []string{many[49].Instance, many[50].Instance})
	require.NoError(t, err)
	assert.Equal(t, map[string]time.Time{many[50].Instance: many[50].At}, launched)
	assert.Equal(t, many[49].At.Add(time.Millisecond), since, "after the newest launch dropped")
}

// TestRedisRetriedWhileLaunchesKeepComing: launches recorded while Redis
// is left alone do not extend the wait; once RetryAfter has passed since
// the failure, Redis is tried again and written to, with the launches not
// written before.
func TestRedisRetriedWhileLaunchesKeepComing(t *testing.T) {
	srv := redistest.Start(t)
	clock := testclock.At(t0.Add(2 * day))
	s := newRedis(t, srv.Addr, clock)
	srv.Stop()
	_, err := s.Record(ctx, []Launch{{Instance: "i-0000000000000000a", At: t0}}, t0)
	require.Error(t, err)
	srv.Restart()
	for i := range 4 { // a launch every 2 s, the wait is 5 s
		clock.Advance(2 * time.Second)
		st, err := s.Record(ctx, []Launch{{Instance: fmt.Sprintf("i-000000000000000%d", i+1), At: t0.Add(time.Hour)}}, time.Time{})
		require.NoError(t, err)
		switch {
		case i < 2:
			assert.Zero(t, st.Writes, "left alone until 5 s after the failure")
		case i == 2:
			assert.Equal(t, 4, st.Writes, "tried again once 5 s have passed: this launch and the three not written")
		default:
			assert.Equal(t, 1, st.Writes)
		}
		assert.Equal(t, i == 2, st.Recovered, "the first write after the failure reports the recovery")
	}
	launched, _, err := newRedis(t, srv.Addr, clock).Lookup(ctx, []string{"i-0000000000000000a", "i-0000000000000001", "i-0000000000000003"})
	require.NoError(t, err)
	assert.Equal(t, map[string]time.Time{"i-0000000000000000a": t0, "i-0000000000000001": t0.Add(time.Hour), "i-0000000000000003": t0.Add(time.Hour)}, launched,
		"every launch, those recorded while Redis was left alone too")
}

// TestRedisLookupSeesEveryCommandsError: a miss on the first key of a
// pipeline does not hide a later key's failure, which would read as a
// launch never made and so as a confident "not recent".
func TestRedisLookupSeesEveryCommandsError(t *testing.T) {
	srv, _, s := watching(t)
	raw := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = raw.Close() })
	require.NoError(t, raw.HSet(ctx, "test:launch:i-0000000000000000b", "x", 1).Err()) // GET fails: WRONGTYPE
	_, since, err := s.Lookup(ctx, []string{"i-0000000000000000a", "i-0000000000000000b"})
	require.Error(t, err)
	assert.True(t, since.IsZero())
}

// clusterClient is a client of cl with the processor's retry options.
func clusterClient(t *testing.T, cl *redistest.Cluster) *redis.ClusterClient {
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Seeds(), MaxRetries: -1, MaxRedirects: -1,
		DialTimeout: 200 * time.Millisecond, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = client.Close() })
	return client
}

// launchesOn is a launch store on client, with a 500 ms round trip.
func launchesOn(t *testing.T, client redis.UniversalClient, clock *testclock.Clock) *Redis {
	t.Helper()
	s, err := NewRedis(RedisSettings{Client: client, KeyPrefix: "test:", History: 10 * day, Slack: time.Hour,
		Timeout: 500 * time.Millisecond, RetryAfter: 5 * time.Second, CacheSize: 100, Now: clock.Now})
	require.NoError(t, err)
	return s
}

// watchingOn is launchesOn, watching since t0.
func watchingOn(t *testing.T, client redis.UniversalClient, clock *testclock.Clock) *Redis {
	t.Helper()
	s := launchesOn(t, client, clock)
	_, err := s.Record(ctx, nil, t0)
	require.NoError(t, err)
	return s
}

// TestRedisClusterMasterDown: a Cluster master down costs only the launches
// its slots hold. Those on the other masters are still written and read;
// a target whose master was not asked makes every miss of that lookup
// unknown (since is zero), never a confident "not recent", and launches
// not written make misses before them unknown afterwards.
func TestRedisClusterMasterDown(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0, redistest.PartialCoverage...)
	client := clusterClient(t, cl)
	clock := testclock.At(t0.Add(2 * day))
	s := watchingOn(t, client, clock)

	var ids []string
	var launches []Launch
	for i := range 12 {
		id := fmt.Sprintf("i-%017x", 0xa0+i)
		ids = append(ids, id)
		launches = append(launches, Launch{Instance: id, At: t0.Add(time.Hour)})
	}
	cl.KillMaster(s.watchKey())
	down := map[string]bool{}
	for _, id := range ids {
		down[id] = cl.Down(s.key(id))
	}
	st, err := s.Record(ctx, launches, time.Time{})
	require.Error(t, err, "the dead master's writes fail")
	assert.Equal(t, len(ids), st.Writes)

	st, err = s.Record(ctx, []Launch{{Instance: "i-0000000000000000f", At: t0.Add(2 * time.Hour)}}, time.Time{})
	require.NoError(t, err, "the dead master is left alone, not asked")
	assertLiveShare := func(launched map[string]time.Time, since time.Time) {
		t.Helper()
		assert.True(t, since.IsZero(), "targets on the dead master were not answered")
		live := 0
		for _, id := range ids {
			if down[id] {
				assert.NotContains(t, launched, id)
			} else {
				live++
				assert.Equal(t, t0.Add(time.Hour), launched[id], "%s, on a live master", id)
			}
		}
		require.Positive(t, live)
		require.Less(t, live, len(ids))
	}
	launched, since, err := s.Lookup(ctx, ids)
	require.NoError(t, err, "the dead master is not asked")
	assertLiveShare(launched, since)

	// A replica that had not met the failure asks the dead master too: the
	// lookup fails, and what the live masters answered is still told.
	other := launchesOn(t, client, clock)
	launched, since, err = other.Lookup(ctx, ids)
	require.Error(t, err)
	assertLiveShare(launched, since)
}

// TestRedisAskToAnEmptyMaster: a target whose slot is moving to a master
// that serves no slot yet gets an ASK that is not followed; that is no
// answer, so every miss of the lookup is unknown, not "not recent".
func TestRedisAskToAnEmptyMaster(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0)
	s := watchingOn(t, clusterClient(t, cl), testclock.At(t0.Add(2*day)))
	_, since, err := s.Lookup(ctx, []string{"i-0000000000000000a"})
	require.NoError(t, err)
	require.False(t, since.IsZero(), "watched, before the slot moves")

	cl.MigrateSlot(s.key("i-0000000000000000a"), cl.AddMaster(), false)
	launched, since, err := s.Lookup(ctx, []string{"i-0000000000000000a"})
	require.NoError(t, err, "no node failed")
	assert.Empty(t, launched)
	assert.True(t, since.IsZero(), "the miss is unknown")
}

// TestLocalLookupFailedInPart: storage fails on a target memory does not
// hold; the one memory holds is still told, and since is zero, so the
// other stays untold.
func TestLocalLookupFailedInPart(t *testing.T) {
	s, faulty := faultyLocal(t)
	known := "i-0f5a1e2d3c4b5a697"
	_, err := s.Record(ctx, []Launch{{Instance: known, At: t0.Add(time.Hour), Event: 7}}, t0)
	require.NoError(t, err)
	faulty.SetFailing(true)
	launched, since, err := s.Lookup(ctx, []string{known, "i-0a11111111111111a"})
	require.Error(t, err)
	assert.True(t, since.IsZero())
	assert.Equal(t, map[string]time.Time{known: t0.Add(time.Hour)}, launched, "held in memory")
}
