// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package cloudtrail // import "github.com/cloudtrail-detect/ssmsession/internal/cloudtrail"

import (
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Kind names the envelope a record carries: a container of CloudTrail events
// as one of AWS's delivery paths writes it. An EventBridge event is not one:
// it holds exactly one CloudTrail event, read where it is.
type Kind uint8

const (
	// NoEnvelope: the record holds one event, or none.
	NoEnvelope Kind = iota
	// S3Object: a CloudTrail log file, {"Records":[...]}.
	S3Object
	// CWLogs: a CloudWatch Logs subscription DATA_MESSAGE; the message of
	// each log event is one CloudTrail event.
	CWLogs
	// Concatenated: JSON objects back to back, as Firehose writes records to
	// S3 without a delimiter. Each may itself be an envelope.
	Concatenated
)

// Keys that make a map an envelope, or an EventBridge event.
const (
	recordsKey     = "Records"
	logEventsKey   = "logEvents"
	messageTypeKey = "messageType"
	dataMessage    = "DATA_MESSAGE"
	detailKey      = "detail"
	detailTypeKey  = "detail-type"
)

// Attributes a record split out of a CloudWatch Logs payload gains, as
// contrib's CloudWatch Logs decoders name them (one-element string slices).
const (
	AttrLogGroupNames  = "aws.log.group.names"
	AttrLogStreamNames = "aws.log.stream.names"
)

// source is one event inside an envelope: JSON text, or a value of a parsed
// envelope (a map, as json_parser makes of a Records element).
type source struct {
	text  string
	val   pcommon.Value
	isVal bool
	// A CloudWatch Logs log event's time (Unix ms) and where it was logged.
	tsMs          int64
	group, stream string
}

// textKind tells which envelope a text body is: S3 objects by their first
// key (AWS writes them so), unless their first record is an AWS event
// notification; CloudWatch Logs payloads by a first key of theirs and a
// DATA_MESSAGE type (AWS writes messageType first; re-serialised payloads
// may not); either only when its array is one, as a parsed map is read.
// Concatenated objects by a cheap hint confirmed by finding where the first
// object ends, when they name a CloudTrail event's keys: other JSON back to
// back (a chunk of application logs) is left as it came. other reports a
// body whose first key is no envelope's and that plainly is one event of no
// interest (plainlyAlone), which spares it most of that search.
func (r *Reader) textKind(s string) (kind Kind, other bool) {
	i := skipSpace(s, 0)
	if i == len(s) || s[i] != '{' {
		return NoEnvelope, false
	}
	kind, keyed := keyedKind(s, i)
	switch {
	case kind != NoEnvelope:
		return kind, false // or such envelopes back to back: textEvents finds out
	case !keyed && r.plainlyAlone(s):
		return NoEnvelope, true
	case concatenated(s, i) && namesEventKeys(s):
		return Concatenated, false
	}
	return NoEnvelope, false // one event; a CONTROL_MESSAGE (a health check) has none
}

// keyedKind is the envelope the object at s[i] is by its first key (S3
// object or CloudWatch Logs payload), and keyed whether that key is one of
// theirs at all.
func keyedKind(s string, i int) (kind Kind, keyed bool) {
	first, _ := memberKey(s, skipSpace(s, i+1))
	switch {
	case first == recordsKey:
		if holdsArray(s, i, recordsKey) && !notificationRecords(s, i) {
			return S3Object, true
		}
	case isCWPayloadKey(first):
		if isDataMessage(s, i) && holdsArray(s, i, logEventsKey) {
			return CWLogs, true
		}
	default:
		return NoEnvelope, false
	}
	return NoEnvelope, true
}

// holdsArray reports whether key of the object at s[i] holds an array, or
// may: text cut short before that can be told is an envelope's, to be
// reported as malformed. A whole object without the key holds none.
func holdsArray(s string, i int, key string) bool {
	j, found := member(s, i, key)
	if !found {
		return !validJSON(s[i:])
	}
	return j >= len(s) || s[j] == '['
}

// isCWPayloadKey reports whether k is a key of a CloudWatch Logs
// subscription payload (a switch: this runs for every text body).
func isCWPayloadKey(k string) bool {
	switch k {
	case messageTypeKey, "owner", "logGroup", "logStream", "subscriptionFilters", logEventsKey, "policyLevel":
		return true
	}
	return false
}

// notificationRecords reports whether the Records array of the object at
// i holds AWS event notifications, not CloudTrail events: S3, SQS, SNS,
// DynamoDB and Kinesis payloads share the {"Records":[...]} form, and
// their first record names an "aws:" source (eventSource, or SNS's
// EventSource). Those are not split. Text that ends before that can be
// told (a file cut short) is CloudTrail's, to be reported as malformed.
func notificationRecords(s string, i int) bool {
	j, ok := member(s, i, recordsKey)
	if !ok || j == len(s) || s[j] != '[' {
		return false
	}
	if j = skipSpace(s, j+1); j == len(s) || s[j] != '{' {
		return false
	}
	for _, key := range [...]string{"eventSource", "EventSource"} {
		if k, ok := member(s, j, key); ok {
			src, ok := stringAt(s, k)
			return ok && isNotificationSource(src)
		}
	}
	return false
}

// isNotificationSource reports whether src names an AWS event notification
// source ("aws:s3"...); CloudTrail's name a service ("ssm.amazonaws.com").
func isNotificationSource(src string) bool { return strings.HasPrefix(src, "aws:") }

// isDataMessage reports whether the object at i has messageType
// "DATA_MESSAGE".
func isDataMessage(s string, i int) bool {
	j, ok := member(s, i, messageTypeKey)
	if !ok {
		return false
	}
	v, ok := stringAt(s, j)
	return ok && v == dataMessage
}

// memberKey reads the key of the member at s[i] (its opening quote), as
// AWS writes keys (no escapes), and returns where its text ends.
func memberKey(s string, i int) (string, int) {
	if i >= len(s) || s[i] != '"' {
		return "", i
	}
	end := skipString(s, i)
	if end >= len(s) {
		return "", len(s)
	}
	return s[i+1 : end], end + 1
}

// member finds key among the members of the object at s[i] (its opening
// brace) and returns where its value begins; false when it is not there or
// the text is not an object. Members before it are skipped whole.
func member(s string, i int, key string) (at int, found bool) {
	eachMember(s, i, func(k string, j int) int {
		if at, found = j, k == key; found {
			return stop
		}
		return skipValue(s, j)
	})
	return at, found
}

// stop, returned by eachMember's fn, ends the walk.
const stop = -1

// eachMember calls fn with the key of each member of the object at s[i]
// and where its value begins; fn returns where that value ends (it read
// it, or skipValue found out), or stop. eachMember returns where the
// object ends (past its '}'), or where reading stopped.
func eachMember(s string, i int, fn func(key string, val int) (end int)) int {
	for i = skipSpace(s, i+1); i < len(s) && s[i] == '"'; {
		k, end := memberKey(s, i)
		if strings.IndexByte(k, '\\') >= 0 {
			k = unescape(k)
		}
		j, ok := afterColon(s, end)
		if !ok {
			return j
		}
		if end = fn(k, j); end == stop {
			return j
		}
		if i = skipSpace(s, end); i == len(s) || s[i] != ',' {
			break
		}
		i = skipSpace(s, i+1)
	}
	return min(i+1, len(s))
}

// jsonString is the string the validated value v holds, in memory of its
// own (records keep it; v is a view of a whole payload); false when v is
// not a string.
func jsonString(v string) (string, bool) {
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	if v = v[1 : len(v)-1]; strings.IndexByte(v, '\\') >= 0 {
		return unescape(v), true
	}
	return strings.Clone(v), true
}

// concatenated reports whether another value follows the object at i.
func concatenated(s string, i int) bool {
	return mayBeConcatenated(s) && skipSpace(s, skipValue(s, i)) < len(s)
}

// mayBeConcatenated is false when s certainly holds one object: two objects
// back to back meet at a '}' followed by a '{', with at most whitespace
// between ("}{", or "}\n{" when Firehose adds a delimiter). One scan for
// '}' looks for them (an event has a handful).
func mayBeConcatenated(s string) bool {
	for i := strings.IndexByte(s, '}'); i >= 0; {
		if j := skipSpace(s, i+1); j < len(s) && s[j] == '{' {
			return true
		}
		k := strings.IndexByte(s[i+1:], '}')
		if k < 0 {
			return false
		}
		i += k + 1
	}
	return false
}

// maxNesting bounds envelopes inside envelopes: a concatenated object may
// hold CloudWatch Logs payloads or S3 objects, which hold events.
const maxNesting = 1

// events appends the events of the envelope v found to out. ok is false when
// the envelope cannot be read whole; then none of its events counts.
func (r *Reader) events(v *view, out []source) ([]source, bool) {
	if v.inMap {
		return mapEvents(v.kind, v.m, v.sc.list, out)
	}
	return r.textEvents(v.kind, v.text, out, 0)
}

// textEvents splits s, an envelope of kind; nothing counts unless it is
// valid JSON (validJSON bounds its nesting too).
func (r *Reader) textEvents(kind Kind, s string, out []source, depth int) ([]source, bool) {
	switch kind {
	case S3Object, CWLogs:
		var ok bool
		if kind == S3Object {
			out, ok = splitS3(s, out)
		} else {
			out, ok = cwTextEvents(s, out)
		}
		if !ok && depth == 0 && concatenated(s, skipSpace(s, 0)) {
			return r.textEvents(Concatenated, s, out, depth) // objects or payloads back to back
		}
		return out, ok
	case Concatenated:
		if depth >= maxNesting {
			return out, false
		}
		start := len(out)
		for i := skipSpace(s, 0); i < len(s); i = skipSpace(s, i) {
			if s[i] != '{' {
				return out[:start], false
			}
			end := skipValue(s, i)
			piece := s[i:end]
			var ok bool
			if k, _ := keyedKind(piece, 0); k != NoEnvelope {
				out, ok = r.textEvents(k, piece, out, depth+1) // which validates it
			} else if ok = validJSON(piece); ok {
				out = append(out, source{text: piece})
			}
			if !ok {
				return out[:start], false
			}
			i = end
		}
		return out, true
	}
	return out, false
}

// splitS3 appends the exact text of each event of a CloudTrail file object,
// as substrings of body (no copies). The object is validated whole first; a
// scan over the validated text then finds where each event begins and ends.
func splitS3(body string, out []source) ([]source, bool) {
	if !validJSON(body) {
		return out, false
	}
	// Validated, and opening with {"Records": the array follows the colon.
	i, ok := afterColon(body, strings.Index(body, `"Records"`)+len(`"Records"`))
	if !ok || i >= len(body) || body[i] != '[' {
		return out, false
	}
	start := len(out)
	for i = skipSpace(body, i+1); i < len(body) && body[i] != ']'; {
		if body[i] != '{' {
			return out[:start], false // not a CloudTrail file: left as it came
		}
		end := skipValue(body, i)
		out = append(out, source{text: body[i:end]})
		i = skipSpace(body, end)
		if i < len(body) && body[i] == ',' {
			i = skipSpace(body, i+1)
		}
	}
	return out, true
}

// cwTextEvents reads a CloudWatch Logs DATA_MESSAGE, validated whole first.
// Messages are JSON strings inside it, so each is unescaped into a string
// of its own. Of a key written twice the first counts, as a lookup finds it.
func cwTextEvents(s string, out []source) ([]source, bool) {
	if !validJSON(s) {
		return out, false
	}
	i := skipSpace(s, 0)
	if s[i] != '{' {
		return out, false
	}
	var group, stream, logEvents string
	eachMember(s, i, func(k string, j int) int {
		end := skipValue(s, j)
		switch v := s[j:end]; {
		case k == "logGroup" && group == "":
			group, _ = jsonString(v)
		case k == "logStream" && stream == "":
			stream, _ = jsonString(v)
		case k == logEventsKey && logEvents == "":
			logEvents = v
		}
		return end
	})
	if logEvents == "" || logEvents[0] != '[' {
		return out, false
	}
	start := len(out)
	for i := skipSpace(logEvents, 1); i < len(logEvents) && logEvents[i] != ']'; {
		if logEvents[i] != '{' {
			return out[:start], false
		}
		var msg, ts string
		end := eachMember(logEvents, i, func(k string, j int) int {
			end := skipValue(logEvents, j)
			switch v := logEvents[j:end]; {
			case k == "message" && msg == "":
				msg = v
			case k == "timestamp" && ts == "":
				ts = v
			}
			return end
		})
		text, isStr := jsonString(msg)
		if !isStr {
			return out[:start], false
		}
		var ms int64
		if f, err := strconv.ParseFloat(ts, 64); err == nil {
			ms = logEventMillis(f)
		}
		out = append(out, source{text: text, tsMs: ms, group: group, stream: stream})
		if i = skipSpace(logEvents, end); i < len(logEvents) && logEvents[i] == ',' {
			i = skipSpace(logEvents, i+1)
		}
	}
	return out, true
}

// mapEvents lists the events of a parsed envelope: the Records elements
// themselves, or the messages of a CloudWatch Logs payload.
func mapEvents(kind Kind, m pcommon.Map, list pcommon.Slice, out []source) ([]source, bool) {
	switch kind {
	case S3Object:
		start := len(out)
		for i := 0; i < list.Len(); i++ {
			if list.At(i).Type() != pcommon.ValueTypeMap {
				return out[:start], false // not a CloudTrail file: left as it came
			}
			out = append(out, source{val: list.At(i), isVal: true})
		}
		return out, true
	case CWLogs:
		group, stream := lookupStr(m, "logGroup"), lookupStr(m, "logStream")
		start := len(out)
		for i := 0; i < list.Len(); i++ {
			e := list.At(i)
			if e.Type() != pcommon.ValueTypeMap {
				return out[:start], false
			}
			msg, ok := e.Map().Get("message")
			if !ok || msg.Type() != pcommon.ValueTypeStr {
				return out[:start], false
			}
			var ms int64
			if ts, ok := e.Map().Get("timestamp"); ok {
				switch ts.Type() {
				case pcommon.ValueTypeInt:
					ms = logEventMillis(float64(ts.Int()))
				case pcommon.ValueTypeDouble:
					ms = logEventMillis(ts.Double())
				}
			}
			out = append(out, source{text: msg.Str(), tsMs: ms, group: group, stream: stream})
		}
		return out, true
	}
	return out, false
}

// logEventMillis is a log event's timestamp (Unix ms) when it is one a
// time can hold, else 0 (none): a float beyond int64 converts differently
// on each platform.
func logEventMillis(f float64) int64 {
	if f > 0 && f < 1<<53 {
		return int64(f)
	}
	return 0
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
		i++
	}
	return i
}

// afterColon returns where the value after a key ending at s[i] begins:
// past spaces, the colon and spaces; false when there is no colon.
func afterColon(s string, i int) (int, bool) {
	if i = skipSpace(s, i); i == len(s) || s[i] != ':' {
		return i, false
	}
	return skipSpace(s, i+1), true
}

// plainString is the string value after a key ending at s[i], up to its
// next quote: values AWS writes unescaped (an escape ends it early, and
// callers check what they read).
func plainString(s string, i int) (string, bool) {
	j, ok := afterColon(s, i)
	if !ok {
		return "", false
	}
	return stringAt(s, j)
}

// stringAt is the string that opens at s[j], up to its next quote, as
// plainString reads it.
func stringAt(s string, j int) (string, bool) {
	if j == len(s) || s[j] != '"' {
		return "", false
	}
	end := strings.IndexByte(s[j+1:], '"')
	if end < 0 {
		return "", false
	}
	return s[j+1 : j+1+end], true
}

// skipString returns the index of the quote closing the string that opens
// at s[i], its escapes skipped; at or past len(s) when it is not closed.
func skipString(s string, i int) int {
	for from := i + 1; ; {
		k := strings.IndexByte(s[from:], '"')
		if k < 0 {
			return len(s)
		}
		q := from + k
		run := 0 // a quote after an odd run of backslashes is escaped
		for j := q - 1; j > i && s[j] == '\\'; j-- {
			run++
		}
		if run%2 == 0 {
			return q
		}
		from = q + 1
	}
}

// skipValue returns the end of the JSON value starting at i. In valid text
// strings are skipped with their escapes and containers by depth; in invalid
// text it returns some end at or after i, which validation then rejects.
func skipValue(s string, i int) int {
	depth := 0
	for ; i < len(s); i++ {
		switch s[i] {
		case '"':
			if i = skipString(s, i); depth == 0 {
				return min(i+1, len(s))
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
	return min(i, len(s)) // an escape at the very end steps past it
}

// BodyText returns a text body: a string, or bytes, which pdata hands out
// only as a copy (made once per look: a bytes body costs that copy); ok is
// false for other body types.
func BodyText(body pcommon.Value) (string, bool) {
	switch body.Type() {
	case pcommon.ValueTypeStr:
		return body.Str(), true
	case pcommon.ValueTypeBytes:
		return bytesString(body.Bytes().AsRaw()), true
	}
	return "", false
}
