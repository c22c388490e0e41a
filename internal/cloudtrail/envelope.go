package cloudtrail

import (
	"encoding/json"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// envelopeKey is the top-level key of a CloudTrail log file object in S3.
const envelopeKey = "Records"

// MaybeEnvelope is the cheap test run on every string body: false means the
// body is certainly not a {"Records":[...]} file object.
func MaybeEnvelope(body string) bool {
	i := 0
	for i < len(body) && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n') {
		i++
	}
	return i < len(body) && body[i] == '{' && strings.Contains(body, `"Records"`)
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

// BodyEnvelope tells whether a log body is a CloudTrail file object, in any of
// the body forms a receiver produces.
func BodyEnvelope(body pcommon.Value) bool {
	switch body.Type() {
	case pcommon.ValueTypeStr:
		return MaybeEnvelope(body.Str())
	case pcommon.ValueTypeBytes:
		return MaybeEnvelope(bytesString(body.Bytes().AsRaw()))
	case pcommon.ValueTypeMap:
		_, ok := EnvelopeRecords(body.Map())
		return ok
	}
	return false
}
