// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

// Package shapes renders CloudTrail events in each input shape the project
// reads, for tests, golden files and benchmarks. It is an independent model of
// the upstream mappings (Elastic's pipeline, contrib's CloudTrail encoding), so
// tests that read its output check the reader against a second opinion.
package shapes // import "github.com/cloudtrail-detect/ssmsession/internal/testsupport/shapes"

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Shape names an input shape: how a receiver hands CloudTrail events to
// the pipeline.
type Shape string

// Shapes of one record per event.
const (
	Raw   Shape = "raw"   // JSON string body (filelog on NDJSON, Kafka, Firehose's cwlogs encoding)
	Map   Shape = "map"   // parsed map body (json_parser parse_to: body)
	Attrs Shape = "attrs" // parsed map in attributes (json_parser's default)
	ECS   Shape = "ecs"   // Elastic's CloudTrail pipeline fields, flat attributes
	OTel  Shape = "otel"  // contrib awslogsencodingextension, feature gates at v0.155.0 defaults

	// contrib's extension under its feature gates (see OTelGates).
	OTelPrefix       Shape = "otel_prefix"         // user identity prefix
	OTelV1           Shape = "otel_v1"             // EmitV1RPCConventions (its default since 2026-08)
	OTelV1Prefix     Shape = "otel_v1_prefix"      // both
	OTelV1Only       Shape = "otel_v1_only"        // EmitV1 and DontEmitV0RPCConventions
	OTelV1OnlyPrefix Shape = "otel_v1_only_prefix" // all three
	OTelV1Bare       Shape = "otel_v1_bare"        // EmitV1 before rpc.method was qualified

	// EventBridge "AWS API Call via CloudTrail" events, tagged in place.
	EventBridge      Shape = "eventbridge"       // text body: API destination to webhookevent, Firehose with text_encoding
	EventBridgeMap   Shape = "eventbridge_map"   // map body: json_log_encoding, Kafka's json encoding
	EventBridgeAttrs Shape = "eventbridge_attrs" // json_parser's default
)

// Envelopes: one record holds many events, split by the processor.
const (
	Envelope         Shape = "envelope"           // S3 object {"Records":[...]} as text (file_log)
	EnvelopeMap      Shape = "envelope_map"       // the same parsed into the body
	EnvelopeAttrs    Shape = "envelope_attrs"     // the same parsed into the attributes, text kept
	CWLogs           Shape = "cwlogs"             // CloudWatch Logs subscription DATA_MESSAGE as text
	CWLogsMap        Shape = "cwlogs_map"         // the same parsed into the body
	CWLogsAttrs      Shape = "cwlogs_attrs"       // the same parsed into the attributes, text kept
	FirehoseS3       Shape = "firehose_s3"        // EventBridge events concatenated, as Firehose writes S3
	FirehoseS3CWLogs Shape = "firehose_s3_cwlogs" // CloudWatch Logs payloads concatenated, the same way
)

// All lists the basic per-event shapes.
var All = []Shape{Raw, Map, Attrs, ECS, OTel}

// OTelVariants lists contrib's CloudTrail mapping under each combination of
// its feature gates, the defaults (OTel) first.
var OTelVariants = []Shape{OTel, OTelPrefix, OTelV1, OTelV1Prefix, OTelV1Only, OTelV1OnlyPrefix, OTelV1Bare}

// PerEvent lists every shape of one record per event.
var PerEvent = append(append(append([]Shape{}, All...), OTelVariants[1:]...), EventBridge, EventBridgeMap, EventBridgeAttrs)

// Envelopes lists every shape of many events per record.
var Envelopes = []Shape{Envelope, EnvelopeMap, EnvelopeAttrs, CWLogs, CWLogsMap, CWLogsAttrs, FirehoseS3, FirehoseS3CWLogs}

// Every lists all shapes.
var Every = append(append([]Shape{}, PerEvent...), Envelopes...)

// IsEnvelope reports whether a record of the shape holds many events.
func (s Shape) IsEnvelope() bool { return slices.Contains(Envelopes, s) }

var otelGates = map[Shape]OTelGates{
	OTel:             {},
	OTelPrefix:       {UserIdentityPrefix: true},
	OTelV1:           {EmitV1RPC: true},
	OTelV1Prefix:     {EmitV1RPC: true, UserIdentityPrefix: true},
	OTelV1Only:       {EmitV1RPC: true, DontEmitV0RPC: true},
	OTelV1OnlyPrefix: {EmitV1RPC: true, DontEmitV0RPC: true, UserIdentityPrefix: true},
	OTelV1Bare:       {EmitV1RPC: true, BareMethod: true},
}

// Decode parses one raw event, keeping numbers as written.
func Decode(raw []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// Append adds one log record carrying raw in the given per-event shape to
// sl. The resource is shared by the records of sl, as receivers produce them.
func Append(rl plog.ResourceLogs, sl plog.ScopeLogs, shape Shape, raw []byte) error {
	lr := sl.LogRecords().AppendEmpty()
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)))
	if gates, ok := otelGates[shape]; ok {
		ev, err := Decode(raw)
		if err != nil {
			return err
		}
		sl.Scope().Attributes().PutStr("encoding.format", "aws.cloudtrail")
		return ToOTelWith(ev, rl.Resource().Attributes(), lr, gates)
	}
	lr.Attributes().PutStr("log.file.name", "cloudtrail.ndjson")
	switch shape {
	case EventBridge, EventBridgeMap, EventBridgeAttrs:
		wrapped, err := EventBridgeEvent(raw)
		if err != nil {
			return err
		}
		return putJSON(lr, map[Shape]Shape{EventBridge: Raw, EventBridgeMap: Map, EventBridgeAttrs: Attrs}[shape], wrapped)
	case Raw, Map, Attrs:
		return putJSON(lr, shape, raw)
	case ECS:
		ev, err := Decode(raw)
		if err != nil {
			return err
		}
		return ToECS(ev, lr.Attributes(), true)
	}
	return fmt.Errorf("unknown per-event shape %q", shape)
}

// putJSON puts a JSON document in a record as file_log leaves it: the text
// (Raw), parsed into the body (Map), or parsed into the attributes with the
// text kept as body (Attrs, json_parser's default).
func putJSON(lr plog.LogRecord, shape Shape, doc []byte) error {
	if shape == Raw || shape == Attrs {
		lr.Body().SetStr(string(doc))
		if shape == Raw {
			return nil
		}
	}
	m, err := Decode(doc)
	if err != nil {
		return err
	}
	if shape == Map {
		return PutMap(lr.Body().SetEmptyMap(), plain(m).(map[string]any))
	}
	return PutMap(lr.Attributes(), plain(m).(map[string]any))
}

// Logs renders raws as one batch in one shape: a record per event, or for
// an envelope shape one record holding them all.
func Logs(shape Shape, raws [][]byte) (plog.Logs, error) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	sl := rl.ScopeLogs().AppendEmpty()
	if shape.IsEnvelope() {
		return ld, AppendEnvelope(sl, shape, raws)
	}
	for _, r := range raws {
		if err := Append(rl, sl, shape, r); err != nil {
			return ld, err
		}
	}
	return ld, nil
}

// Objects renders raws in an envelope shape as one record per per events:
// several S3 objects (or payloads) read in one batch.
func Objects(shape Shape, raws [][]byte, per int) (plog.Logs, error) {
	ld := plog.NewLogs()
	sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	for i := 0; i < len(raws); i += per {
		if err := AppendEnvelope(sl, shape, raws[i:min(i+per, len(raws))]); err != nil {
			return ld, err
		}
	}
	return ld, nil
}

// AppendEnvelope adds one record holding raws in an envelope shape.
func AppendEnvelope(sl plog.ScopeLogs, shape Shape, raws [][]byte) error {
	lr := sl.LogRecords().AppendEmpty()
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)))
	var doc []byte
	var err error
	as := Raw
	switch shape {
	case Envelope, EnvelopeMap, EnvelopeAttrs:
		lr.Attributes().PutStr("log.file.name", "111122223333_CloudTrail_eu-west-1_20261102T0905Z_h1Yd8x2k.json.gz")
		doc = S3Object(raws)
		as = map[Shape]Shape{Envelope: Raw, EnvelopeMap: Map, EnvelopeAttrs: Attrs}[shape]
	case CWLogs, CWLogsMap, CWLogsAttrs:
		lr.Attributes().PutStr("log.file.name", "cloudtrail-to-firehose-1-2026-11-02-09-05-00-5b6f.gz")
		doc, err = CWLogsPayload(raws)
		as = map[Shape]Shape{CWLogs: Raw, CWLogsMap: Map, CWLogsAttrs: Attrs}[shape]
	case FirehoseS3:
		lr.Attributes().PutStr("log.file.name", "eventbridge-to-s3-1-2026-11-02-09-05-00-9c2e.gz")
		for _, r := range raws {
			var ev []byte
			if ev, err = EventBridgeEvent(r); err != nil {
				return err
			}
			doc = append(doc, ev...)
		}
	case FirehoseS3CWLogs:
		lr.Attributes().PutStr("log.file.name", "cloudtrail-to-firehose-1-2026-11-02-09-05-00-5b6f.gz")
		for i := 0; i < len(raws); i += 5 {
			var p []byte
			if p, err = CWLogsPayload(raws[i:min(i+5, len(raws))]); err != nil {
				return err
			}
			doc = append(doc, p...)
		}
	default:
		return fmt.Errorf("unknown envelope shape %q", shape)
	}
	if err != nil {
		return err
	}
	return putJSON(lr, as, doc)
}

// plain turns json.Number into int64 or float64, as pdata's FromRaw needs.
func plain(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = plain(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = plain(x)
		}
		return out
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	}
	return v
}

// keys returns m's keys sorted, for deterministic output.
func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// PutMap fills m from raw with keys in sorted order: pdata keeps insertion
// order, and Go maps have none, so golden files would churn otherwise.
func PutMap(m pcommon.Map, raw map[string]any) error {
	m.EnsureCapacity(len(raw))
	for _, k := range keys(raw) {
		if err := putValue(m.PutEmpty(k), raw[k]); err != nil {
			return err
		}
	}
	return nil
}

func putValue(v pcommon.Value, raw any) error {
	switch t := raw.(type) {
	case map[string]any:
		return PutMap(v.SetEmptyMap(), t)
	case []any:
		s := v.SetEmptySlice()
		for _, x := range t {
			if err := putValue(s.AppendEmpty(), x); err != nil {
				return err
			}
		}
		return nil
	}
	return v.FromRaw(raw)
}
