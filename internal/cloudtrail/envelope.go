package cloudtrail

import (
	"encoding/json"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// envelopeKey is the top-level key of a CloudTrail log file object in S3.
const envelopeKey = "Records"

// MaybeEnvelope is the O(1) test run on every text body: CloudTrail writes
// its file objects as {"Records":[...]}, so only a body that opens with that
// key is treated as one.
func MaybeEnvelope(body string) bool {
	body = trimLeftSpace(body)
	if body == "" || body[0] != '{' {
		return false
	}
	return strings.HasPrefix(trimLeftSpace(body[1:]), `"Records"`)
}

func trimLeftSpace(s string) string {
	return strings.TrimLeft(s, " \t\r\n")
}

// SplitEnvelope returns the exact bytes of each event of a CloudTrail file
// object, or ok=false when body is not one. encoding/json's RawMessage is used
// (not the hot-path parser) because it keeps every event byte-for-byte.
func SplitEnvelope(body string) (events []json.RawMessage, ok bool) {
	if !MaybeEnvelope(body) {
		return nil, false
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &top); err != nil {
		return nil, false
	}
	raw, found := top[envelopeKey]
	if !found {
		return nil, false
	}
	if err := json.Unmarshal(raw, &events); err != nil {
		return nil, false
	}
	return events, true
}

// EnvelopeRecords returns the Records slice of a map-shaped file object.
func EnvelopeRecords(m pcommon.Map) (pcommon.Slice, bool) {
	v, ok := m.Get(envelopeKey)
	if !ok || v.Type() != pcommon.ValueTypeSlice {
		return pcommon.Slice{}, false
	}
	return v.Slice(), true
}

// BodyText returns a text body (a string, or bytes viewed as a string
// without copying); ok is false for other body types.
func BodyText(body pcommon.Value) (string, bool) {
	switch body.Type() {
	case pcommon.ValueTypeStr:
		return body.Str(), true
	case pcommon.ValueTypeBytes:
		return bytesString(body.Bytes().AsRaw()), true
	}
	return "", false
}

// BodyEnvelope tells whether a log body is a CloudTrail file object, in any of
// the body forms a receiver produces.
func BodyEnvelope(body pcommon.Value) bool {
	if text, ok := BodyText(body); ok {
		return MaybeEnvelope(text)
	}
	if body.Type() == pcommon.ValueTypeMap {
		_, ok := EnvelopeRecords(body.Map())
		return ok
	}
	return false
}
