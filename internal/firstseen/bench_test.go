// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package firstseen

import (
	"context"
	"encoding/binary"
	"runtime"
	"testing"
	"time"
)

// BenchmarkCacheBytesPerTerm fills a 100,000-term cache and reports the
// heap it holds per term (target: at most 200 bytes).
func BenchmarkCacheBytesPerTerm(b *testing.B) {
	const terms = 100_000
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s, err := New(Settings{Window: window, CacheSize: terms, PruneInterval: time.Hour, Now: fixedAt})
		if err != nil {
			b.Fatal(err)
		}
		batch := make([]Observation, 1000)
		isNew := make([]bool, len(batch))
		b.StartTimer()
		for i := 0; i < terms; i += len(batch) {
			for j := range batch {
				var k Key
				binary.BigEndian.PutUint64(k[:], uint64(i+j))
				batch[j] = Observation{Key: k, Time: t0, Event: uint64(i + j + 1)}
			}
			s.Observe(context.Background(), batch, isNew)
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/terms, "bytes/term")
		runtime.KeepAlive(s)
		b.StartTimer()
	}
}
