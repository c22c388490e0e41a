// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package cloudtrail // import "github.com/cloudtrail-detect/ssmsession/internal/cloudtrail"

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// view is what one look at a record found: an envelope, a map shape (in the
// body, the attributes, or an EventBridge event's detail), or a text body.
type view struct {
	kind   Kind
	text   string
	isText bool
	m      pcommon.Map
	sc     shapeScan
	inMap  bool // m holds the event or envelope
	other  bool // text plainly is one event of a call not read (textKind)
}

// look decides what a record carries, in this order: an envelope in a text
// body, then a map body, then the attributes (json_parser's default), then
// a text body read as one event.
func (r *Reader) look(lr plog.LogRecord, h *hint, v *view) {
	*v = view{}
	body := lr.Body()
	if text, ok := BodyText(body); ok {
		if r.lookText(text, v); v.kind != NoEnvelope {
			return
		}
	}
	if body.Type() == pcommon.ValueTypeMap && v.lookMap(body.Map(), h) {
		return
	}
	if v.lookMap(lr.Attributes(), h) && v.isText && v.kind == NoEnvelope && v.sc.shape != nil && v.sc.foreign() {
		v.m, v.inMap, v.sc = pcommon.Map{}, false, shapeScan{} // the text body is the event
	}
}

// lookText looks at a text body: which envelope it is, if any.
func (r *Reader) lookText(s string, v *view) {
	v.text, v.isText = s, true
	v.kind, v.other = r.textKind(s)
}

// lookMap scans m into v; an EventBridge event is looked into, its detail
// being the CloudTrail event.
func (v *view) lookMap(m pcommon.Map, h *hint) bool {
	sc := &v.sc
	if h.scan(m, sc); !sc.found() {
		return false
	}
	if sc.hasDetail {
		m = sc.detail
		if h.scan(m, sc); sc.envelope != NoEnvelope {
			*sc = shapeScan{} // an envelope inside an event is not read
		}
	}
	v.m, v.inMap, v.kind = m, true, sc.envelope
	return true
}

// readView reads the one event v found.
func (r *Reader) readView(res pcommon.Resource, v *view, ev *Event) (Result, error) {
	switch {
	case v.inMap:
		return r.readShape(v.m, &v.sc, res, ev)
	case v.isText && v.other:
		return Skip, nil
	case v.isText:
		return r.ReadJSON(v.text, ev)
	}
	return Skip, nil
}

// readSource reads one event of an envelope of lr, the same way whether it
// was split into a record of its own or is read in place; v is left with
// what it found.
func (r *Reader) readSource(res pcommon.Resource, lr plog.LogRecord, src *source, ev *Event, h *hint, v *view) (Result, error) {
	var result Result
	var err error
	switch r.viewSource(src, h, v); {
	case v.kind != NoEnvelope:
		result = Skip // nested deeper than envelopes are
	default:
		result, err = r.readView(res, v, ev)
	}
	return finish(result, err, lr, src.tsMs, ev)
}

// viewSource looks at a source as look does at a record whose body it is.
func (r *Reader) viewSource(src *source, h *hint, v *view) {
	*v = view{}
	if !src.isVal {
		r.lookText(src.text, v)
		return
	}
	if text, ok := BodyText(src.val); ok {
		r.lookText(text, v)
	} else if src.val.Type() == pcommon.ValueTypeMap {
		v.lookMap(src.val.Map(), h)
	}
}

// eventTime is the time of any CloudTrail event v found, without reading it
// whole; zero when unknown.
func eventTime(v *view, lr plog.LogRecord) time.Time {
	switch {
	case v.inMap && v.sc.shape != nil:
		if v.sc.shape.timeKey == "" {
			if lr.Timestamp() == 0 {
				return time.Time{}
			}
			return lr.Timestamp().AsTime().UTC()
		}
		t, _ := ParseTime(lookupStr(v.m, v.sc.shape.timeKey))
		return t
	case v.isText && !v.inMap:
		t, _ := rawEventTime(v.text)
		return t
	}
	return time.Time{}
}

// rawEventTime finds "eventTime" in a JSON event by scanning, not parsing:
// CloudTrail writes it as a plain string, never escaped.
func rawEventTime(raw string) (time.Time, bool) {
	const key = `"eventTime"`
	i := indexRare(raw, key, len(`"event`))
	if i < 0 || indexRare(raw, `"eventSource"`, len(`"event`)) < 0 {
		return time.Time{}, false
	}
	v, ok := plainString(raw, i+len(key))
	if !ok {
		return time.Time{}, false
	}
	return ParseTime(v)
}
