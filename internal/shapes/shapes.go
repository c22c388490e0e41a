// Package shapes renders CloudTrail events in each input shape the project
// reads, for tests, golden files and benchmarks. It is an independent model of
// the upstream mappings (Elastic's pipeline, contrib's CloudTrail encoding), so
// tests that read its output check the reader against a second opinion.
package shapes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Shape names an input shape.
type Shape string

const (
	Raw      Shape = "raw"      // JSON string body (filelog on NDJSON, Kafka, CloudWatch)
	Map      Shape = "map"      // parsed map body (json_parser parse_to: body)
	Attrs    Shape = "attrs"    // parsed map in attributes (json_parser's default)
	ECS      Shape = "ecs"      // Elastic's CloudTrail pipeline fields, flat attributes
	OTel     Shape = "otel"     // contrib awslogsencodingextension attributes
	Envelope Shape = "envelope" // {"Records":[...]} string body, one record per file
)

// All lists the per-event shapes (Envelope groups events instead).
var All = []Shape{Raw, Map, Attrs, ECS, OTel}

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

// Append adds one log record carrying raw in the given shape to sl. The
// resource is shared by the records of sl, as receivers produce them.
func Append(rl plog.ResourceLogs, sl plog.ScopeLogs, shape Shape, raw []byte) error {
	lr := sl.LogRecords().AppendEmpty()
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)))
	lr.Attributes().PutStr("log.file.name", "cloudtrail.ndjson")
	switch shape {
	case Raw:
		lr.Body().SetStr(string(raw))
		return nil
	}
	ev, err := Decode(raw)
	if err != nil {
		return err
	}
	switch shape {
	case Map:
		return PutMap(lr.Body().SetEmptyMap(), plain(ev).(map[string]any))
	case Attrs:
		return PutMap(lr.Attributes(), plain(ev).(map[string]any))
	case ECS:
		return ToECS(ev, lr.Attributes(), true)
	case OTel:
		return ToOTel(ev, rl.Resource().Attributes(), lr)
	}
	return fmt.Errorf("unknown shape %q", shape)
}

// AppendEnvelope adds one record whose body is a CloudTrail file object.
func AppendEnvelope(sl plog.ScopeLogs, raws [][]byte) {
	var b bytes.Buffer
	b.WriteString(`{"Records":[`)
	for i, r := range raws {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(r)
	}
	b.WriteString(`]}`)
	lr := sl.LogRecords().AppendEmpty()
	lr.Attributes().PutStr("log.file.name", "AWSLogs/cloudtrail.json.gz")
	lr.Body().SetStr(b.String())
}

// Logs renders raws as one batch in one shape.
func Logs(shape Shape, raws [][]byte) (plog.Logs, error) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	sl := rl.ScopeLogs().AppendEmpty()
	if shape == Envelope {
		AppendEnvelope(sl, raws)
		return ld, nil
	}
	for _, r := range raws {
		if err := Append(rl, sl, shape, r); err != nil {
			return ld, err
		}
	}
	return ld, nil
}

// Plain converts a decoded event (json.Number values) into what pdata's
// FromRaw accepts.
func Plain(m map[string]any) (map[string]any, error) {
	out, ok := plain(m).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("not a map")
	}
	return out, nil
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
