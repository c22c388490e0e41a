// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionprocessor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/collectorrun"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/repo"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/shapes"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/traffic"
)

// pipelineRecords is the size of the file each pipeline reads: about
// 240 MB of CloudTrail events, one per line (the CPU clock ticks in 10 ms,
// under 0.5% of a run).
const pipelineRecords = 200_000

// BenchmarkPipelineCost runs the built collector on one file of raw
// CloudTrail events (file_log, then the processors, then an OTLP exporter
// to a sink in this process): with no processor, with ssmsession (its
// defaults, new_terms in memory; and with new_terms in file_storage) and
// with the best stock transform configuration, alternated round by round,
// every pipeline with the file_storage extension. It reports the
// collector's CPU time per million records, from the moment it is ready to
// the moment the sink holds every record, and the overhead of each
// processor over none, as medians of the rounds (each round is logged).
func BenchmarkPipelineCost(b *testing.B) {
	root, err := repo.Root()
	if err != nil {
		b.Fatal(err)
	}
	binary, err := collectorrun.Build(root)
	if err != nil {
		b.Fatal(err)
	}
	variants := []struct {
		name       string
		processors map[string]any
	}{
		{"none", nil},
		{"ssmsession", map[string]any{"ssmsession": map[string]any{}}},
		{"ssmsession_file_storage", map[string]any{"ssmsession": map[string]any{"new_terms": map[string]any{"storage": "file_storage"}}}},
		{"transform", map[string]any{"transform": stockVariants(shapes.Raw)[0].Config()}},
	}
	for _, share := range []float64{0.001, 0.05} {
		b.Run(fmt.Sprintf("startsession=%g%%", share*100), func(b *testing.B) {
			data := filepath.Join(b.TempDir(), "cloudtrail.ndjson")
			raws := traffic.Mix(11, pipelineRecords, share, 200)
			if err := os.WriteFile(data, append(bytes.Join(raws, []byte("\n")), '\n'), 0o644); err != nil {
				b.Fatal(err)
			}
			cpu := make([][]float64, len(variants))
			for b.Loop() {
				var round []string
				for i, v := range variants {
					d := pipelineCPU(b, binary, data, v.processors)
					perMillion := d.Seconds() * 1e6 / pipelineRecords
					cpu[i] = append(cpu[i], perMillion)
					round = append(round, fmt.Sprintf("%s %.2f", v.name, perMillion))
				}
				b.Logf("CPU s per 1M records: %s", strings.Join(round, ", "))
			}
			none := median(cpu[0])
			for i, v := range variants {
				b.ReportMetric(median(cpu[i]), "cpu_s/M_"+v.name)
				if i > 0 {
					b.ReportMetric(100*(median(cpu[i])-none)/none, "overhead%_"+v.name)
				}
			}
		})
	}
}

// pipelineCPU runs one collector with processors on a copy of data and
// returns the CPU time it took to deliver every record.
func pipelineCPU(b *testing.B, binary, data string, processors map[string]any) time.Duration {
	b.Helper()
	var received atomic.Int64
	sink, err := collectorrun.NewOTLPSink(func(ld plog.Logs) { received.Add(int64(ld.LogRecordCount())) })
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Stop()
	dir := b.TempDir()
	input := filepath.Join(dir, "input")
	if err := os.Mkdir(input, 0o755); err != nil {
		b.Fatal(err)
	}
	names := make([]string, 0, len(processors))
	for name := range processors {
		names = append(names, name)
	}
	config := map[string]any{
		"extensions": map[string]any{"file_storage": map[string]any{"directory": filepath.Join(dir, "state"), "create_directory": true}},
		"receivers": map[string]any{"file_log": map[string]any{
			"include": []string{input + "/*"}, "start_at": "beginning", "poll_interval": "100ms",
		}},
		"processors": processors,
		"exporters": map[string]any{"otlp/sink": map[string]any{
			"endpoint": sink.Addr(), "tls": map[string]any{"insecure": true}, "compression": "none",
		}},
		"service": map[string]any{
			"extensions": []string{"file_storage"},
			"telemetry":  map[string]any{"metrics": map[string]any{"level": "none"}},
			"pipelines": map[string]any{"logs": map[string]any{
				"receivers": []string{"file_log"}, "processors": names, "exporters": []string{"otlp/sink"},
			}},
		},
	}
	path := filepath.Join(dir, "collector.json") // JSON is YAML
	if raw, err := json.Marshal(config); err != nil {
		b.Fatal(err)
	} else if err := os.WriteFile(path, raw, 0o644); err != nil {
		b.Fatal(err)
	}
	c, err := collectorrun.Start(binary, path, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := c.Stop(30 * time.Second); err != nil {
			b.Error(err)
		}
	}()
	if err := c.WaitFor(time.Minute, func() (bool, error) { return strings.Contains(c.Log(), "Everything is ready"), nil }); err != nil {
		b.Fatal(err)
	}
	before, err := c.CPU()
	if err != nil {
		b.Fatal(err)
	}
	if err := os.Link(data, filepath.Join(input, filepath.Base(data))); err != nil {
		b.Fatal(err)
	}
	if err := c.WaitFor(10*time.Minute, func() (bool, error) { return received.Load() >= pipelineRecords, nil }); err != nil {
		b.Fatal(err)
	}
	after, err := c.CPU()
	if err != nil {
		b.Fatal(err)
	}
	return after - before
}
