// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/collectorrun"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/emitted"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/traffic"
)

// latencyEvents: every event a StartSession (the records the processor does
// most with; one in ten fails, as in the everyday mix), 40 identities, one
// distinct eventID each.
const (
	latencyEvents = 1500
	latencyRate   = 500 // events per second
	filePoll      = 50 * time.Millisecond
)

var eventIDPattern = regexp.MustCompile(`"eventID":"([^"]+)"`)

// BenchmarkLatency drives the built collector at a steady rate through each
// path and reports the p50 and p99 delay from handing an event to the
// receiver (an OTLP export as awsfirehose or webhookevent make it, a Kafka
// produce, a line appended to a file) to its tagged record reaching the
// exporter's destination.
func BenchmarkLatency(b *testing.B) {
	dir := b.TempDir()
	arrived := map[string]time.Time{}
	var mu sync.Mutex
	sink, err := collectorrun.NewOTLPSink(func(ld plog.Logs) {
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		for _, lr := range collectorrun.Records([]plog.Logs{ld}) {
			if m := eventIDPattern.FindStringSubmatch(lr.Body().Str()); m != nil {
				arrived[m[1]] = now
			}
		}
	})
	require.NoError(b, err)
	defer sink.Stop()
	kafka := startKafka(b)
	otlpPort, err := collectorrun.FreePort()
	require.NoError(b, err)
	input := filepath.Join(dir, "input")
	require.NoError(b, os.MkdirAll(input, 0o755))
	// Each fast path into the processor, and an OTLP exporter to the sink,
	// which notes when each tagged record arrives. No batch processor: what
	// is measured is the collector's own delay.
	c := startCollector(b, filepath.Join(dir, "collector.yaml"), config{
		State: filepath.Join(dir, "state"), Input: input, Poll: filePoll, FromEnd: true,
		OTLPPort: otlpPort, Kafka: kafka.addr, KafkaTopic: "cloudtrail-latency", KafkaGroup: "ssmsession-latency", KafkaEncoding: "text",
		Sink: sink.Addr(),
	})
	client, err := collectorrun.DialOTLP(fmt.Sprintf("127.0.0.1:%d", otlpPort))
	require.NoError(b, err)
	defer client.Close()
	log, err := os.Create(filepath.Join(input, "cloudtrail.ndjson"))
	require.NoError(b, err)
	defer log.Close()

	ctx := context.Background()
	paths := []struct {
		name string
		wrap bool // EventBridge events, not bare CloudTrail
		send func(events [][]byte) error
	}{
		{"otlp (awsfirehose, webhookevent)", true, func(events [][]byte) error {
			return client.Send(ctx, emitted.Webhook(events[0], nil, time.Now()))
		}},
		{"kafka", true, func(events [][]byte) error {
			return kafka.client.ProduceSync(ctx, kafkaRecord("cloudtrail-latency", events[0])).FirstErr()
		}},
		{fmt.Sprintf("file_log (poll %s)", filePoll), false, func(events [][]byte) error {
			_, err := log.Write(append(events[0], '\n'))
			return err
		}},
	}
	seed := uint64(1)
	for _, path := range paths {
		b.Run(path.name, func(b *testing.B) {
			for b.Loop() {
				seed++
				events := traffic.Mix(seed, latencyEvents, 1, 40)
				if path.wrap {
					events = eventBridge(b, events)
				}
				// Warm up: the first event must arrive (Kafka joins its group, file_log finds the file).
				require.NoError(b, c.WaitFor(waitTimeout, func() (bool, error) {
					if err := path.send(events[:1]); err != nil {
						return false, err
					}
					time.Sleep(200 * time.Millisecond)
					mu.Lock()
					defer mu.Unlock()
					_, ok := arrived[eventID(events[0])]
					return ok, nil
				}))
				sent := make([]time.Time, len(events))
				tick := time.NewTicker(time.Second / latencyRate)
				for i := 1; i < len(events); i++ {
					<-tick.C
					sent[i] = time.Now()
					require.NoError(b, path.send(events[i:]))
				}
				tick.Stop()
				var delays []time.Duration
				require.NoError(b, c.WaitFor(waitTimeout, func() (bool, error) {
					mu.Lock()
					defer mu.Unlock()
					delays = delays[:0]
					for i := 1; i < len(events); i++ {
						if at, ok := arrived[eventID(events[i])]; ok {
							delays = append(delays, at.Sub(sent[i]))
						}
					}
					return len(delays) == len(events)-1, nil
				}))
				slices.Sort(delays)
				b.ReportMetric(float64(delays[len(delays)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(delays[len(delays)*99/100].Microseconds())/1000, "p99-ms")
				b.ReportMetric(float64(delays[len(delays)-1].Microseconds())/1000, "max-ms")
			}
		})
	}
	require.NoError(b, c.Stop(waitTimeout))
}

func eventID(raw []byte) string {
	if m := eventIDPattern.FindSubmatch(raw); m != nil {
		return string(m[1])
	}
	return ""
}
