// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/collectorrun"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/corpus"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/emitted"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/shapes"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/traffic"
)

// deliveryRun takes CloudTrail in every way AWS delivers it in near real
// time: OTLP (what awsfirehose and webhookevent, not served here, hand the
// pipeline, sent by the test), Kafka (the bundled receiver, on a kfake
// broker), and file_log (S3 objects written by CloudTrail or Firehose). The
// processor tags, the connector counts.
type deliveryRun struct {
	run
	otlp *collectorrun.OTLPClient
}

func startDelivery(t *testing.T, mod func(*deliveryRun)) *deliveryRun {
	t.Helper()
	dir := t.TempDir()
	r := &deliveryRun{run: *newRun(t, dir, "out")}
	r.Metrics, r.HuntWindow = filepath.Join(dir, "metrics.json"), "720h" // the corpus spans two weeks
	var err error
	r.OTLPPort, err = collectorrun.FreePort()
	require.NoError(t, err)
	r.KafkaGroup = fmt.Sprintf("ssmsession-%d", r.OTLPPort) // a group of its own: it reads the topic from the start
	if mod != nil {
		mod(r)
	}
	r.c = startCollector(t, filepath.Join(dir, "collector.yaml"), r.config)
	r.otlp, err = collectorrun.DialOTLP(fmt.Sprintf("127.0.0.1:%d", r.OTLPPort))
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.otlp.Close() })
	return r
}

func (r *deliveryRun) send(t *testing.T, batches ...plog.Logs) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for _, ld := range batches {
		require.NoError(t, r.otlp.Send(ctx, ld))
	}
}

// finish stops the collector (the connector emits once more) and returns
// the hunt counts.
func (r *deliveryRun) finish(t *testing.T) map[string]int64 {
	t.Helper()
	require.NoError(t, r.c.Stop(waitTimeout))
	return lastMetrics(t, r.Metrics)
}

// eventBridge wraps each raw event as EventBridge delivers it.
func eventBridge(t testing.TB, raws [][]byte) [][]byte {
	t.Helper()
	out := make([][]byte, len(raws))
	for i, r := range raws {
		var err error
		out[i], err = shapes.EventBridgeEvent(r)
		require.NoError(t, err)
	}
	return out
}

func cloudWatchPayloads(t *testing.T, raws [][]byte, per int) [][]byte {
	t.Helper()
	var out [][]byte
	for i := 0; i < len(raws); i += per {
		p, err := shapes.CWLogsPayload(raws[i:min(i+per, len(raws))])
		require.NoError(t, err)
		out = append(out, p)
	}
	return out
}

func firehoseRequest(t *testing.T, id string, records [][]byte, gzipped bool) []byte {
	t.Helper()
	req, err := shapes.FirehoseRequest(id, time.Date(2026, 11, 16, 9, 0, 0, 0, time.UTC), records, gzipped)
	require.NoError(t, err)
	return req
}

func gzipped(t testing.TB, members ...[]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, m := range members {
		w := gzip.NewWriter(&b)
		_, err := w.Write(m)
		require.NoError(t, err)
		require.NoError(t, w.Close())
	}
	return b.Bytes()
}

// TestDeliveryPaths: the identity corpus through each near-real-time path
// AWS offers comes out exactly as the raw NDJSON does: every event a record
// of its own, in order, the same tags and new-term decisions, and the same
// hunt counts.
func TestDeliveryPaths(t *testing.T) {
	raws := corpus.Events(t, "identities")
	wrapped := eventBridge(t, raws)

	ref := startDelivery(t, nil)
	writeFile(t, filepath.Join(ref.Input, "cloudtrail.ndjson"), raws...)
	checkTags(t, ref.waitRecords(t, len(raws)), raws, nil)
	want := ref.finish(t)
	require.NotEmpty(t, want)

	kafka := startKafka(t)
	for _, path := range []struct {
		name   string
		mod    func(*deliveryRun)
		feed   func(t *testing.T, r *deliveryRun)
		bodies [][]byte // what each record's body must be
	}{
		{"firehose EventBridge (text_encoding)", nil, func(t *testing.T, r *deliveryRun) {
			for i := 0; i < len(wrapped); i += 8 {
				ld, err := emitted.FirehoseText(firehoseRequest(t, fmt.Sprintf("req-%d", i), wrapped[i:min(i+8, len(wrapped))], false), time.Now())
				require.NoError(t, err)
				r.send(t, ld)
			}
		}, wrapped},
		{"firehose CloudWatch Logs (awslogs_encoding cloudwatch)", nil, func(t *testing.T, r *deliveryRun) {
			records := append([][]byte{shapes.CWLogsControl()}, cloudWatchPayloads(t, raws, 5)...)
			ld, err := emitted.FirehoseCloudWatch(firehoseRequest(t, "req-cw", records, true))
			require.NoError(t, err)
			r.send(t, ld)
		}, raws},
		{"firehose CloudWatch Logs (text_encoding: the processor splits)", nil, func(t *testing.T, r *deliveryRun) {
			ld, err := emitted.FirehoseText(firehoseRequest(t, "req-cw", cloudWatchPayloads(t, raws, 5), true), time.Now())
			require.NoError(t, err)
			r.send(t, ld)
		}, raws},
		{"EventBridge API destination (webhookevent)", nil, func(t *testing.T, r *deliveryRun) {
			for _, ev := range wrapped {
				r.send(t, emitted.Webhook(ev, url.Values{"source": {"eventbridge"}}, time.Now()))
			}
		}, wrapped},
		{"Kafka (text)", func(r *deliveryRun) { r.Kafka, r.KafkaEncoding, r.KafkaTopic = kafka.addr, "text", "cloudtrail-text" }, func(t *testing.T, r *deliveryRun) {
			kafka.produce(t, "cloudtrail-text", wrapped)
		}, wrapped},
		{"Kafka (json: a map body)", func(r *deliveryRun) { r.Kafka, r.KafkaEncoding, r.KafkaTopic = kafka.addr, "json", "cloudtrail-json" }, func(t *testing.T, r *deliveryRun) {
			kafka.produce(t, "cloudtrail-json", wrapped)
		}, wrapped},
		{"S3 object, gzip (file_log)", nil, func(t *testing.T, r *deliveryRun) {
			writeRaw(t, filepath.Join(r.Input, "111122223333_CloudTrail_eu-west-1_20261116T0905Z_Ab12Cd34.json.gz"), gzipped(t, shapes.S3Object(raws)))
		}, raws},
		{"S3 object (file_log, json_parser to the body)", func(r *deliveryRun) { r.JSONParser = "body" }, func(t *testing.T, r *deliveryRun) {
			writeRaw(t, filepath.Join(r.Input, "111122223333_CloudTrail_eu-west-1_20261116T0905Z_Ab12Cd34.json"), shapes.S3Object(raws))
		}, raws},
		{"S3 object (file_log, json_parser to the attributes)", func(r *deliveryRun) { r.JSONParser = "attributes" }, func(t *testing.T, r *deliveryRun) {
			writeRaw(t, filepath.Join(r.Input, "111122223333_CloudTrail_eu-west-1_20261116T0905Z_Ab12Cd34.json"), shapes.S3Object(raws))
		}, raws},
		{"EventBridge to Firehose to S3, gzip (file_log)", nil, func(t *testing.T, r *deliveryRun) {
			writeRaw(t, filepath.Join(r.Input, "cloudtrail-eventbridge-1-2026-11-16-09-00-00-3f1c.gz"), gzipped(t, bytes.Join(wrapped, nil)))
		}, wrapped},
		{"CloudWatch Logs to Firehose to S3 (file_log: gzip members back to back)", nil, func(t *testing.T, r *deliveryRun) {
			writeRaw(t, filepath.Join(r.Input, "cloudtrail-cwlogs-1-2026-11-16-09-00-00-7a2d.gz"), gzipped(t, cloudWatchPayloads(t, raws, 5)...))
		}, raws},
	} {
		t.Run(path.name, func(t *testing.T) {
			r := startDelivery(t, path.mod)
			path.feed(t, r)
			checkTags(t, r.waitRecords(t, len(raws)), path.bodies, nil)
			assert.Equal(t, float64(len(raws)), r.metric(t, "otelcol_processor_ssmsession_records_inspected"))
			// records_malformed is added to only when a batch had a
			// malformed record: with none it is not exposed.
			r.notCounted(t, "otelcol_processor_ssmsession_records_malformed", "otelcol_processor_ssmsession_records_inspected")
			assert.Equal(t, want, r.finish(t), "the same hunt counts as the raw stream")
		})
	}
}

// TestDeliveryBadPayloads: what a receiver passes on but cannot be a
// CloudTrail event (a truncated record, an EventBridge event that is cut
// off, invalid UTF-8, a CloudWatch Logs payload with a non-JSON message)
// passes through untouched and counted once, and nothing around it is lost.
// What the receivers themselves reject (a wrong access key: 401; bad
// base64, bad gzip: 400) never reaches the pipeline; Firehose retries it.
func TestDeliveryBadPayloads(t *testing.T) {
	raws := corpus.Events(t, "identities")[:6]
	wrapped := eventBridge(t, raws)
	bad := [][]byte{
		wrapped[0][:len(wrapped[0])/2],
		bytes.Replace(wrapped[2], []byte("user/alice"), []byte("user/\xff\xfe"), 1),
	}
	cw, err := shapes.CWLogsPayload(raws[:1])
	require.NoError(t, err)
	brokenCW := bytes.Replace(cw, []byte(`"message":"{`), []byte(`"message":"not json {`), 1)
	records := append(append([][]byte{}, wrapped...), bad...)
	records = append(records, brokenCW)

	_, err = emitted.FirehoseText([]byte(`{"requestId":"x","records":[{"data":"%%%"}]}`), time.Now())
	require.ErrorContains(t, err, "base64", "awsfirehose answers 400 and passes nothing on")

	r := startDelivery(t, nil)
	ld, err := emitted.FirehoseText(firehoseRequest(t, "req-bad", records, false), time.Now())
	require.NoError(t, err)
	r.send(t, ld)
	out := r.waitRecords(t, len(records))
	require.Len(t, out, len(records))
	checkTags(t, out[:len(wrapped)], wrapped, nil)
	for i, b := range bad {
		assert.Equal(t, strings.ToValidUTF8(string(b), "\uFFFD"), strings.ToValidUTF8(out[len(wrapped)+i].Body().Str(), "\uFFFD"), "bad record %d passes", i)
		assert.Empty(t, attr(out[len(wrapped)+i], "rule.id"))
	}
	assert.True(t, strings.HasPrefix(out[len(records)-1].Body().Str(), "not json {"), "the payload was split; its bad message passes as a record")
	assert.Equal(t, float64(len(bad)), r.counter(t, "otelcol_processor_ssmsession_records_malformed"), "each bad event counted once; text that is not JSON is simply not CloudTrail")
	r.finish(t)
}

// TestLargeS3Object: a 10,000-event CloudTrail object, as file_log reads it
// (text, json_parser to the body, json_parser to the attributes), becomes
// its 10,000 events, every StartSession success tagged. The split is linear
// (BenchmarkEnvelopeScale measures it); this bounds it in the real pipeline.
func TestLargeS3Object(t *testing.T) {
	raws := largeObject(t)
	var starts int
	for _, raw := range raws {
		var ev struct{ EventName, ErrorCode string }
		require.NoError(t, json.Unmarshal(raw, &ev))
		if ev.EventName == "StartSession" && ev.ErrorCode == "" {
			starts++
		}
	}
	require.Greater(t, starts, 100)
	for _, parser := range []string{"", "body", "attributes"} {
		t.Run("json_parser="+parser, func(t *testing.T) {
			r := startDelivery(t, func(r *deliveryRun) { r.JSONParser = parser })
			begin := time.Now()
			writeRaw(t, filepath.Join(r.Input, "111122223333_CloudTrail_eu-west-1_20261116T0905Z_big.json"), shapes.S3Object(raws))
			out := r.waitRecords(t, len(raws))
			t.Logf("%d events split and tagged in %s (file_log, processor and the file exporter)", len(raws), time.Since(begin).Round(time.Millisecond))
			require.Len(t, out, len(raws))
			tagged := 0
			for _, lr := range out {
				if attr(lr, "rule.id") != "" {
					tagged++
				}
			}
			assert.Equal(t, starts, tagged)
			r.finish(t)
		})
	}
}

// largeObject is a 10,000-event hour of a busy account: the everyday mix,
// 5% StartSession, 200 identities.
func largeObject(t *testing.T) [][]byte {
	t.Helper()
	return traffic.Mix(7, 10_000, 0.05, 200)
}

// writeRaw puts an object in place whole, as a sync from S3 does: written
// outside the watched folder, then renamed into it.
func writeRaw(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := filepath.Join(t.TempDir(), filepath.Base(path))
	require.NoError(t, os.WriteFile(tmp, data, 0o644))
	require.NoError(t, os.Rename(tmp, path))
}

func kafkaRecord(topic string, value []byte) *kgo.Record {
	return &kgo.Record{Topic: topic, Value: value}
}

// kafkaBroker is a protocol-level Kafka broker (kfake) on loopback.
type kafkaBroker struct {
	addr   string
	client *kgo.Client
}

func startKafka(t testing.TB) *kafkaBroker {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "cloudtrail-text", "cloudtrail-json", "cloudtrail-latency"))
	require.NoError(t, err)
	t.Cleanup(cluster.Close)
	client, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	require.NoError(t, err)
	t.Cleanup(client.Close)
	return &kafkaBroker{addr: cluster.ListenAddrs()[0], client: client}
}

// produce writes one message per event, as an EventBridge rule's Lambda or
// Kinesis bridge would.
func (k *kafkaBroker) produce(t *testing.T, topic string, events [][]byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var recs []*kgo.Record
	for _, ev := range events {
		recs = append(recs, kafkaRecord(topic, ev))
	}
	require.NoError(t, k.client.ProduceSync(ctx, recs...).FirstErr())
}
