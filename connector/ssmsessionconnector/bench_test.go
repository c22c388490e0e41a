// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionconnector

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/shapes"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/traffic"
)

// BenchmarkConnector counts batches of 1,000 realistic events (about 5%
// StartSession) in each input shape, the batches the processor benchmarks
// use; state in memory. The connector never modifies its input, so one
// batch serves every iteration.
func BenchmarkConnector(b *testing.B) {
	raws := traffic.Mix(1, 1000, 0.05, 40)
	for _, shape := range []shapes.Shape{shapes.Raw, shapes.Map, shapes.ECS, shapes.OTel, shapes.Envelope} {
		b.Run(string(shape), func(b *testing.B) {
			var ld plog.Logs
			var err error
			if shape == shapes.Envelope {
				ld, err = shapes.Objects(shape, raws, 100)
			} else {
				ld, err = shapes.Logs(shape, raws)
			}
			if err != nil {
				b.Fatal(err)
			}
			h := start(b, config(nil), nil)
			b.ReportAllocs()
			for b.Loop() {
				if err := h.c.ConsumeLogs(ctx, ld); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(1000*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
