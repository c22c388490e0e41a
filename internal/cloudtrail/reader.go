// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package cloudtrail // import "github.com/cloudtrail-detect/ssmsession/internal/cloudtrail"

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/plog"
)

// Result says what reading an event found.
type Result uint8

const (
	// Skip: not a call the reader wants (or not CloudTrail at all).
	Skip Result = iota
	// Read: a wanted call was read into the Event.
	Read
	// Malformed: the record claims to be CloudTrail but cannot be read; it
	// must pass through untouched.
	Malformed
)

// MaxDepth bounds the nesting of raw JSON: CloudTrail events nest a dozen
// levels at most; deeper text is hostile.
const MaxDepth = 64

// MaxFieldLen bounds any field we keep; real ARNs and ids are far shorter, so
// a longer value is hostile or corrupt input, not an identity to remember.
const MaxFieldLen = 4096

var (
	errWrongType = errors.New("eventSource or eventName is not a string")
	errNotObject = errors.New("JSON body is not an object")
	errEncoding  = errors.New("field is not valid UTF-8 or is too long")
	errTooDeep   = errors.New("JSON nested deeper than CloudTrail events are")
	ErrEnvelope  = errors.New("CloudTrail envelope (S3 object, CloudWatch Logs payload or concatenated JSON) could not be parsed")
)

// Reader reads CloudTrail events from log records. It is safe for concurrent
// use; its scratch space is pooled, so a steady stream reads
// without allocating.
type Reader struct {
	// Calls are the calls read into the Event (Read); others are Skip. Set
	// before use; none means StartSession alone.
	Calls   []Call
	sources sync.Pool // *[]source
}

var startOnly = []Call{StartSession}

func (r *Reader) calls() []Call {
	if len(r.Calls) == 0 {
		return startOnly
	}
	return r.Calls
}

// wants reports whether the reader reads a call from provider.
func (r *Reader) wants(provider, action string) bool {
	return slices.Contains(r.calls(), Call{provider, action})
}

// wantsAction reports whether the reader reads a call named action.
func (r *Reader) wantsAction(action string) bool {
	return slices.ContainsFunc(r.calls(), func(c Call) bool { return c.Action == action })
}

// ReadJSON reads one raw CloudTrail event, bare or as the detail of an
// EventBridge event. Byte-level prefilters reject events that are not a
// call read before any parsing; the others are validated and read in one
// scan (eventScan), their strings views of raw where they hold no escape.
func (r *Reader) ReadJSON(raw string, ev *Event) (Result, error) {
	if r.plainlyOther(raw) || !r.mayBeWanted(raw) {
		return Skip, nil
	}
	var sc eventScan
	if err := sc.run(raw, ev); err != nil {
		return unreadable(raw, err)
	}
	if sc.srcKind == 0 {
		if sc.detailKind != 'o' || !sc.detailType {
			return Skip, nil // JSON, but not a CloudTrail event
		}
		if sc.run(sc.detail, ev); sc.srcKind == 0 { // validated: cannot fail
			return Skip, nil // an EventBridge event of another kind
		}
	}
	if sc.srcKind != 's' || sc.actKind == 'v' {
		return Malformed, errWrongType
	}
	if !r.wants(sc.src, sc.act) {
		return Skip, nil
	}
	ev.Shape = ShapeRawJSON
	finishNative(ev)
	return Read, nil
}

// unreadable is the result for text that cannot be parsed: Malformed when
// it names a CloudTrail event's keys (a file cut short, a bad escape),
// else Skip: other JSON-like logs in the same pipeline are not CloudTrail
// records gone bad, and are not counted or logged as such.
func unreadable(raw string, err error) (Result, error) {
	if namesEventKeys(raw) {
		return Malformed, err
	}
	return Skip, nil
}

// namesEventKeys reports whether raw names a CloudTrail event's own keys:
// text that does not is other JSON, neither read nor split nor counted.
func namesEventKeys(raw string) bool {
	for _, key := range [...]string{`"eventVersion"`, `"eventSource"`, `"eventName"`} {
		if strings.Contains(raw, key) {
			return true
		}
	}
	return false
}

// plainlyOther is true when raw's own eventName, read without parsing, is
// not a call read: the 95% of events cost one short scan. AWS writes each
// event's eventName before any object whose keys a caller chooses
// (requestParameters...): so the first "eventName" written is the event's
// key (else no colon follows it), and the depth it is found at (1, or 2
// inside an EventBridge event's detail; braces are counted, not parsed,
// which only structures AWS does not write could mislead) confirms it.
// Whenever that cannot be told (no such key, an escape before it or in its
// value, another depth), it is false and mayBeWanted decides.
func (r *Reader) plainlyOther(raw string) bool { return r.otherName(raw) >= 0 }

// plainlyAlone is plainlyOther, and true only when no object follows the
// event's eventName: such a body is searched for objects back to back
// (Firehose's default) only after the name, not in all of it. Objects
// before the name cannot be events: they hold neither that key nor a
// backslash.
func (r *Reader) plainlyAlone(raw string) bool {
	end := r.otherName(raw)
	return end >= 0 && !mayBeConcatenated(raw[end:])
}

// otherName is where the value of raw's own eventName ends when it plainly
// is not a call read (plainlyOther), else -1.
func (r *Reader) otherName(raw string) int {
	const key = `"eventName"`
	i := indexRare(raw, key, len(`"event`))
	if i < 0 {
		return -1
	}
	prefix := raw[:i]
	if strings.IndexByte(prefix, '\\') >= 0 {
		return -1
	}
	switch strings.Count(prefix, "{") - strings.Count(prefix, "}") {
	case 1:
	case 2:
		if !strings.HasPrefix(raw, `{"version":"0"`) { // EventBridge writes it first
			return -1
		}
	default:
		return -1
	}
	j, ok := afterColon(raw, i+len(key))
	if !ok {
		return -1
	}
	name, ok := stringAt(raw, j)
	if !ok || strings.IndexByte(name, '\\') >= 0 {
		return -1
	}
	for _, c := range r.calls() {
		if c.Action == name {
			return -1
		}
	}
	return j + len(name) + 2 // past its closing quote
}

// indexRare is strings.Index(s, key) for a key whose byte key[rare] is
// rare in JSON (an upper-case letter), many times faster: it hops between
// that byte's occurrences, where Index stops at every '"' the key starts
// with. rare is at least 1.
func indexRare(s, key string, rare int) int {
	for from := rare; from < len(s); {
		i := strings.IndexByte(s[from:], key[rare])
		if i < 0 {
			return -1
		}
		if i += from; s[i-1] == key[rare-1] && strings.HasPrefix(s[i-rare:], key) { // the byte before rejects most
			return i - rare
		}
		from = i + 1
	}
	return -1
}

// mayBeWanted is false only when raw certainly is not one of the calls
// read: an event is a JSON object, and JSON can spell letters only literally
// or as \uXXXX, so a body without a call's two literals and without \u
// cannot be it.
func (r *Reader) mayBeWanted(raw string) bool {
	if i := skipSpace(raw, 0); i == len(raw) || raw[i] != '{' {
		return false
	}
	for _, c := range r.calls() {
		if strings.Contains(raw, c.Action) && strings.Contains(raw, c.Provider) {
			return true
		}
	}
	return strings.Contains(raw, `\u`)
}

// finish applies what every shape shares: time fallbacks (the event's own
// time, else the CloudWatch log event's, else the record's) and the checks
// that keep hostile values out of tags and state.
func finish(result Result, err error, lr plog.LogRecord, tsMs int64, ev *Event) (Result, error) {
	if result != Read {
		return result, err
	}
	if ev.Time.IsZero() {
		switch {
		case tsMs > 0:
			ev.Time = time.UnixMilli(tsMs).UTC()
		case lr.Timestamp() != 0:
			ev.Time = lr.Timestamp().AsTime().UTC()
		case lr.ObservedTimestamp() != 0:
			ev.Time = lr.ObservedTimestamp().AsTime().UTC()
		}
	}
	if !ev.wellFormed() {
		return Malformed, errEncoding
	}
	return Read, nil
}

// wellFormed reports whether every field that can leave the reader (in
// tags, terms, metric attributes or state keys) is valid UTF-8 of sane
// size; pdata would refuse to export invalid UTF-8.
func (e *Event) wellFormed() bool {
	id := &e.Identity
	for _, s := range [...]string{
		e.Outcome, e.ID, e.Region, e.SourceAddr, e.RecipientAccountID, e.AccountIDOverride, e.UserNameOverride, e.Target,
		e.DocumentName, e.SessionID, id.Type, id.ARN, id.PrincipalID, id.AccountID, id.UserName, id.AccessKeyID, id.InvokedBy,
		id.IssuerARN, id.IssuerUserName, id.OnBehalfOfUserID, id.UserID, id.LoginUserName,
	} {
		if len(s) > MaxFieldLen || !utf8.ValidString(s) {
			return false
		}
	}
	return true
}

// bytesString views b as a string without copying; the caller must not keep
// the string past the life of b.
func bytesString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
