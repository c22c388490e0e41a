package cloudtrail

import (
	"errors"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/valyala/fastjson"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Result says what Read found in a record.
type Result uint8

const (
	// Skip: not an SSM StartSession event (or not CloudTrail at all).
	Skip Result = iota
	// StartSession: the event was read into the Event.
	StartSession
	// Malformed: the record claims to be CloudTrail but cannot be read; it
	// must pass through untouched.
	Malformed
)

// MaxFieldLen bounds any field we keep; real ARNs and ids are far shorter, so
// a longer value is hostile or corrupt input, not an identity to remember.
const MaxFieldLen = 4096

var (
	errWrongType = errors.New("eventSource or eventName is not a string")
	errNotObject = errors.New("JSON body is not an object")
	errEncoding  = errors.New("field is not valid UTF-8 or is too long")
)

// Reader reads CloudTrail events from log records. It is safe for concurrent
// use; JSON parsers are pooled so a steady stream reads without allocating.
type Reader struct {
	parsers fastjson.ParserPool
}

// Read fills ev when the record carries an SSM StartSession event (any
// outcome). The record is never modified. Shapes are tried cheapest first:
// a map body, then attributes, then a JSON string body.
func (r *Reader) Read(res pcommon.Resource, lr plog.LogRecord, ev *Event) (Result, error) {
	body := lr.Body()
	if body.Type() == pcommon.ValueTypeMap {
		if result, found, err := readMap(body.Map(), res, ev); found {
			return finish(result, err, lr, ev)
		}
	}
	if result, found, err := readMap(lr.Attributes(), res, ev); found {
		return finish(result, err, lr, ev)
	}
	raw, ok := BodyText(body)
	if !ok {
		return Skip, nil
	}
	result, err := r.ReadJSON(raw, ev)
	return finish(result, err, lr, ev)
}

// ReadJSON reads one raw CloudTrail event. A byte-level prefilter rejects
// events that cannot be StartSession before any parsing.
func (r *Reader) ReadJSON(raw string, ev *Event) (Result, error) {
	if !mayBeStartSession(raw) {
		return Skip, nil
	}
	p := r.parsers.Get()
	defer r.parsers.Put(p)
	v, err := p.Parse(raw)
	if err != nil {
		return Malformed, err
	}
	if v.Type() != fastjson.TypeObject {
		return Malformed, errNotObject
	}
	src := v.Get("eventSource")
	if src == nil {
		return Skip, nil // JSON, but not a CloudTrail event
	}
	act := v.Get("eventName")
	if src.Type() != fastjson.TypeString || act != nil && act.Type() != fastjson.TypeString {
		return Malformed, errWrongType
	}
	if string(src.GetStringBytes()) != ProviderSSM || string(act.GetStringBytes()) != ActionStart {
		return Skip, nil
	}
	ev.Reset()
	ev.Shape = ShapeRawJSON
	fillNative(jsonFields{v}, ev)
	return StartSession, nil
}

// mayBeStartSession is false only when raw certainly is not an SSM
// StartSession event. JSON can spell letters only literally or as \uXXXX, so
// a body without the literals and without \u cannot contain them.
func mayBeStartSession(raw string) bool {
	if strings.Contains(raw, ActionStart) && strings.Contains(raw, ProviderSSM) {
		return true
	}
	return strings.Contains(raw, `\u`)
}

// readMap recognises the three map shapes by their key fields. found is false
// when m carries none of them.
func readMap(m pcommon.Map, res pcommon.Resource, ev *Event) (Result, bool, error) {
	for _, s := range mapShapes {
		src, ok := lookup(m, s.provider)
		if !ok {
			continue
		}
		result, err := matchNames(src, m, s.action)
		if result == StartSession {
			ev.Reset()
			ev.Shape = s.shape
			s.fill(m, res.Attributes(), ev)
		}
		return result, true, err
	}
	return Skip, false, nil
}

// matchNames decides on the provider and action values of a map shape.
func matchNames(src pcommon.Value, m pcommon.Map, actionKey string) (Result, error) {
	if src.Type() != pcommon.ValueTypeStr {
		return Malformed, errWrongType
	}
	if src.Str() != ProviderSSM {
		return Skip, nil
	}
	act, ok := lookup(m, actionKey)
	if !ok {
		return Skip, nil
	}
	if act.Type() != pcommon.ValueTypeStr {
		return Malformed, errWrongType
	}
	if act.Str() != ActionStart {
		return Skip, nil
	}
	return StartSession, nil
}

type mapShape struct {
	shape            Shape
	provider, action string
	// timeKey holds the event time; "" means the record timestamp.
	timeKey string
	fill    func(m, res pcommon.Map, ev *Event)
}

var mapShapes = [...]mapShape{
	{ShapeMap, "eventSource", "eventName", "eventTime", func(m, _ pcommon.Map, ev *Event) { fillNative(mapFields{m}, ev) }},
	{ShapeECS, "event.provider", "event.action", "@timestamp", fillECS},
	{ShapeOTel, "rpc.service", "rpc.method", "", fillOTel},
}

// finish applies what every shape shares: time fallbacks and the checks that
// keep hostile values out of tags and state.
func finish(result Result, err error, lr plog.LogRecord, ev *Event) (Result, error) {
	if result != StartSession {
		return result, err
	}
	if ev.Time.IsZero() {
		switch {
		case lr.Timestamp() != 0:
			ev.Time, ev.TimeSource = lr.Timestamp().AsTime().UTC(), "timestamp"
		case lr.ObservedTimestamp() != 0:
			ev.Time, ev.TimeSource = lr.ObservedTimestamp().AsTime().UTC(), "observed_timestamp"
		}
	}
	if !ev.wellFormed() {
		return Malformed, errEncoding
	}
	return StartSession, nil
}

// wellFormed reports whether every kept field is valid UTF-8 and of sane size.
func (e *Event) wellFormed() bool {
	id := &e.Identity
	for _, s := range [...]string{
		e.Provider, e.Action, e.ErrorCode, e.Outcome, e.ID, e.Region, e.SourceAddr,
		e.RecipientAccountID, e.AccountIDOverride, e.UserNameOverride, e.Target, e.DocumentName,
		id.Type, id.ARN, id.PrincipalID, id.AccountID, id.UserName, id.AccessKeyID, id.InvokedBy,
		id.IssuerType, id.IssuerARN, id.IssuerUserName, id.OnBehalfOfUserID, id.UserID, id.LoginUserName,
	} {
		if len(s) > MaxFieldLen || !utf8.ValidString(s) {
			return false
		}
	}
	// errorMessage is free text: only its presence matters, not its size.
	return utf8.ValidString(e.ErrorMessage)
}

// bytesString views b as a string without copying; the caller must not keep
// the string past the life of b.
func bytesString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// ForEachRecord calls fn for every log record of ld with its resource.
func ForEachRecord(ld plog.Logs, fn func(pcommon.Resource, plog.LogRecord)) {
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		res := rls.At(i).Resource()
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			recs := sls.At(j).LogRecords()
			for k := 0; k < recs.Len(); k++ {
				fn(res, recs.At(k))
			}
		}
	}
}
