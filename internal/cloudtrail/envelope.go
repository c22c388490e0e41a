package cloudtrail

import (
	"strings"

	"github.com/valyala/fastjson"

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

// SplitEnvelope returns the exact text of each event of a CloudTrail file
// object, as substrings of body (no copies), or ok=false when body is not
// one. The object is validated whole first; a scan over the validated text
// then finds where each event of the Records array begins and ends.
func SplitEnvelope(body string) (events []string, ok bool) {
	if !MaybeEnvelope(body) || fastjson.Validate(body) != nil {
		return nil, false
	}
	// Validated, and opening with {"Records": the array follows the colon.
	i := strings.Index(body, `"Records"`) + len(`"Records"`)
	i = skipSpace(body, i)
	if i >= len(body) || body[i] != ':' {
		return nil, false
	}
	i = skipSpace(body, i+1)
	if i >= len(body) || body[i] != '[' {
		return nil, false
	}
	for i = skipSpace(body, i+1); i < len(body) && body[i] != ']'; {
		end := skipValue(body, i)
		events = append(events, body[i:end])
		i = skipSpace(body, end)
		if i < len(body) && body[i] == ',' {
			i = skipSpace(body, i+1)
		}
	}
	return events, true
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
		i++
	}
	return i
}

// skipValue returns the end of the JSON value starting at i, in text known
// to be valid: strings are skipped with their escapes, containers by depth.
func skipValue(s string, i int) int {
	depth := 0
	for ; i < len(s); i++ {
		switch s[i] {
		case '"':
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
				}
			}
			if depth == 0 {
				return i + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i // end of a scalar, at the enclosing bracket
			}
			if depth--; depth == 0 {
				return i + 1
			}
		case ',', ' ', '\t', '\r', '\n':
			if depth == 0 {
				return i // end of a scalar
			}
		}
	}
	return i
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
