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
	// Envelope: the record is a CloudTrail file object ({"Records":[...]});
	// its events are read with Each, or split out of it.
	Envelope
)

// MaxDepth bounds the nesting of a raw event: CloudTrail events nest a
// dozen levels at most, and fastjson's error path is quadratic in depth.
const MaxDepth = 64

// MaxFieldLen bounds any field we keep; real ARNs and ids are far shorter, so
// a longer value is hostile or corrupt input, not an identity to remember.
const MaxFieldLen = 4096

var (
	errWrongType = errors.New("eventSource or eventName is not a string")
	errNotObject = errors.New("JSON body is not an object")
	errEncoding  = errors.New("field is not valid UTF-8 or is too long")
	errTooDeep   = errors.New("JSON nested deeper than CloudTrail events are")
)

// Reader reads CloudTrail events from log records. It is safe for concurrent
// use; JSON parsers are pooled so a steady stream reads without allocating.
type Reader struct {
	parsers fastjson.ParserPool
}

// Read fills ev when the record carries an SSM StartSession event (any
// outcome), and reports a CloudTrail file object as Envelope. The record is
// never modified. Shapes are tried cheapest first: a map body, then
// attributes (each in one pass over its keys), then a JSON text body.
func (r *Reader) Read(res pcommon.Resource, lr plog.LogRecord, ev *Event) (Result, error) {
	body := lr.Body()
	text, isText := BodyText(body)
	if isText && MaybeEnvelope(text) {
		return Envelope, nil
	}
	if body.Type() == pcommon.ValueTypeMap {
		if result, found, err := readMap(body.Map(), res, ev); found {
			return finish(result, err, lr, ev)
		}
	}
	if result, found, err := readMap(lr.Attributes(), res, ev); found {
		return finish(result, err, lr, ev)
	}
	if !isText {
		return Skip, nil
	}
	result, err := r.ReadJSON(text, ev)
	return finish(result, err, lr, ev)
}

// ReadJSON reads one raw CloudTrail event. A byte-level prefilter rejects
// events that cannot be StartSession before any parsing.
func (r *Reader) ReadJSON(raw string, ev *Event) (Result, error) {
	if !mayBeStartSession(raw) {
		return Skip, nil
	}
	if tooDeep(raw) {
		return Malformed, errTooDeep
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
	walkJSON(v.GetObject(), &native, ev)
	finishNative(ev)
	return StartSession, nil
}

// mayBeStartSession is false only when raw certainly is not an SSM
// StartSession event: an event is a JSON object, and JSON can spell letters
// only literally or as \uXXXX, so a body without the literals and without
// \u cannot contain them.
func mayBeStartSession(raw string) bool {
	if i := skipSpace(raw, 0); i == len(raw) || raw[i] != '{' {
		return false
	}
	if strings.Contains(raw, ActionStart) && strings.Contains(raw, ProviderSSM) {
		return true
	}
	return strings.Contains(raw, `\u`)
}

// tooDeep reports whether raw nests brackets deeper than MaxDepth, outside
// strings; a linear scan, run only on events that may be StartSession.
func tooDeep(raw string) bool {
	depth := 0
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '"':
			for i++; i < len(raw) && raw[i] != '"'; i++ {
				if raw[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			if depth++; depth > MaxDepth {
				return true
			}
		case '}', ']':
			depth--
		}
	}
	return false
}

// readMap recognises the map shapes (and a file object) by their key
// fields. found is false when m carries none of them.
func readMap(m pcommon.Map, res pcommon.Resource, ev *Event) (Result, bool, error) {
	sc := scanShape(m)
	switch {
	case sc.envelope:
		return Envelope, true, nil
	case sc.shape == nil:
		return Skip, false, nil
	}
	result, err := sc.match()
	if result == StartSession {
		ev.Reset()
		ev.Shape = sc.shape.shape
		sc.shape.fill(m, res.Attributes(), ev)
	}
	return result, true, err
}

// shapeKeys are the keys scanShape looks for: each shape's provider and
// action keys, Elastic's nested "event" object, and a Records array.
var shapeKeys = func() keyTable[shapeKey] {
	keys := map[string]shapeKey{envelopeKey: {kind: keyEnvelope}, "event": {kind: keyNestedECS}}
	for i, s := range mapShapes {
		keys[s.provider] = shapeKey{keyProvider, i}
		keys[s.action] = shapeKey{keyAction, i}
	}
	return newKeyTable(keys)
}()

type shapeKey struct {
	kind  uint8
	shape int
}

const (
	keyProvider uint8 = iota
	keyAction
	keyEnvelope
	keyNestedECS
)

// shapeScan is what one pass over a map's keys found.
type shapeScan struct {
	shape               *mapShape
	index               int // of shape in mapShapes
	provider, action    pcommon.Value
	hasAction, envelope bool
}

// scanShape finds the shape of m, and for SSM events its action, in one
// pass over its keys that stops as soon as it knows: records are scanned
// cold and often carry dozens of attributes, so every key touched shows,
// and most keys are rejected by their length alone. No real record carries
// two shapes; one that did would be read by whichever key comes first.
func scanShape(m pcommon.Map) (sc shapeScan) {
	var actions [len(mapShapes)]pcommon.Value
	var seen [len(mapShapes)]bool
	nested := false
	m.Range(func(k string, v pcommon.Value) bool {
		key, ok := shapeKeys.get(k)
		if !ok {
			return true
		}
		switch key.kind {
		case keyAction:
			actions[key.shape], seen[key.shape] = v, true
			// An SSM event waiting for its action has it now.
			return sc.shape == nil || key.shape != sc.index
		case keyEnvelope:
			if sc.shape == nil {
				sc.envelope = v.Type() == pcommon.ValueTypeSlice
				return !sc.envelope
			}
		case keyNestedECS: // {"event":{"provider":...}}
			if sc.shape != nil || v.Type() != pcommon.ValueTypeMap {
				return true
			}
			if p, found := v.Map().Get("provider"); found {
				sc.shape, sc.index, sc.provider, nested = &mapShapes[1], 1, p, true
				return false
			}
		case keyProvider:
			if sc.shape != nil {
				return true
			}
			sc.shape, sc.index, sc.provider = &mapShapes[key.shape], key.shape, v
			// Only an SSM event needs its action, unless already seen.
			return isSSM(v) && !seen[key.shape]
		}
		return true
	})
	switch {
	case nested:
		if isSSM(sc.provider) {
			sc.action, sc.hasAction = lookup(m, sc.shape.action)
		}
	case sc.shape != nil:
		sc.action, sc.hasAction = actions[sc.index], seen[sc.index]
	}
	return sc
}

func isSSM(v pcommon.Value) bool {
	return v.Type() == pcommon.ValueTypeStr && v.Str() == ProviderSSM
}

// match decides on the provider and action values found.
func (sc shapeScan) match() (Result, error) {
	if sc.provider.Type() != pcommon.ValueTypeStr {
		return Malformed, errWrongType
	}
	if sc.provider.Str() != ProviderSSM || !sc.hasAction {
		return Skip, nil
	}
	if sc.action.Type() != pcommon.ValueTypeStr {
		return Malformed, errWrongType
	}
	if sc.action.Str() != ActionStart {
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
	{ShapeMap, "eventSource", "eventName", "eventTime", func(m, _ pcommon.Map, ev *Event) {
		walkMap(m, &native, ev)
		finishNative(ev)
	}},
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

// wellFormed reports whether every field that can leave the reader (in
// tags, terms, metric attributes or state keys) is valid UTF-8 of sane
// size; pdata would refuse to export invalid UTF-8.
func (e *Event) wellFormed() bool {
	id := &e.Identity
	for _, s := range [...]string{
		e.Outcome, e.ID, e.Region, e.SourceAddr, e.RecipientAccountID, e.AccountIDOverride, e.UserNameOverride, e.Target,
		id.Type, id.ARN, id.PrincipalID, id.AccountID, id.UserName, id.AccessKeyID, id.InvokedBy,
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
