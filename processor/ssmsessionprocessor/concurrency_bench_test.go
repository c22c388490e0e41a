// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionprocessor

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/shapes"
)

// BenchmarkConcurrency calls ConsumeLogs from 1 and from 2 goroutines at
// once, as a receiver with several workers does, with GOMAXPROCS 1 and 2,
// on each new_terms backend. The four settings alternate round by round on
// one processor (a noisy machine disturbs them alike) and each reports its
// median throughput; x_ is the median speedup of 2 goroutines over 1 at
// GOMAXPROCS 2. Every call gets its own copy of the benchmark batch (raw
// bodies, 5% StartSession, terms known after the first round), made and
// collected before the timed part.
func BenchmarkConcurrency(b *testing.B) {
	const perGoroutine = 10 // batches each goroutine consumes per round
	batch := benchBatch(b, shapes.Raw)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	type setting struct{ procs, goroutines int }
	settings := []setting{{1, 1}, {1, 2}, {2, 1}, {2, 2}}
	for _, be := range benchBackends(b) {
		b.Run(be.name, func(b *testing.B) {
			p := be.start(b)
			round := func(s setting) float64 {
				copies := make([][]plog.Logs, s.goroutines)
				for g := range copies {
					copies[g] = copiesOf(batch, perGoroutine)
				}
				runtime.GOMAXPROCS(s.procs)
				runtime.GC()
				start := time.Now()
				var wg sync.WaitGroup
				for g := range copies {
					wg.Go(func() {
						for _, ld := range copies[g] {
							if err := p.ConsumeLogs(ctx, ld); err != nil {
								b.Error(err)
							}
						}
					})
				}
				wg.Wait()
				return float64(s.goroutines*perGoroutine*batchSize) / time.Since(start).Seconds()
			}
			rates := make([][]float64, len(settings))
			var speedup []float64
			for b.Loop() {
				for i, s := range settings {
					rates[i] = append(rates[i], round(s))
				}
				speedup = append(speedup, rates[3][len(rates[3])-1]/rates[2][len(rates[2])-1])
			}
			for i, s := range settings {
				b.ReportMetric(median(rates[i]), fmt.Sprintf("records/s_procs%d_goroutines%d", s.procs, s.goroutines))
			}
			b.ReportMetric(median(speedup), "x_2goroutines_procs2")
		})
	}
}
