package cloudtrail

import (
	"errors"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

var errEnvelope = errors.New("CloudTrail file object could not be parsed")

// Each calls fn once per CloudTrail event the record carries: the record
// itself, or each event of a file object ({"Records":[...]}), read in place
// without changing the record. For StartSession results ev holds the event;
// t is the event time of any CloudTrail event (zero when unknown), for
// clocks that follow event time.
func (r *Reader) Each(res pcommon.Resource, lr plog.LogRecord, ev *Event, fn func(result Result, t time.Time, err error)) {
	result, err := r.Read(res, lr, ev)
	if result != Envelope {
		fn(result, timeOf(result, ev, func() (time.Time, bool) { return r.EventTime(lr) }), err)
		return
	}
	if text, ok := BodyText(lr.Body()); ok && MaybeEnvelope(text) {
		events, ok := SplitEnvelope(text)
		if !ok {
			fn(Malformed, time.Time{}, errEnvelope)
			return
		}
		for _, raw := range events {
			result, err := r.ReadJSON(raw, ev)
			result, err = finish(result, err, lr, ev)
			fn(result, timeOf(result, ev, func() (time.Time, bool) { return rawEventTime(raw) }), err)
		}
		return
	}
	records, _ := mapEnvelope(lr)
	for i := 0; i < records.Len(); i++ {
		if records.At(i).Type() != pcommon.ValueTypeMap {
			fn(Malformed, time.Time{}, errEnvelope)
			continue
		}
		m := records.At(i).Map()
		result, _, err := readMap(m, res, ev)
		result, err = finish(result, err, lr, ev)
		fn(result, timeOf(result, ev, func() (time.Time, bool) { return mapEventTime(m, lr) }), err)
	}
}

func timeOf(result Result, ev *Event, other func() (time.Time, bool)) time.Time {
	if result == StartSession {
		return ev.Time
	}
	t, _ := other()
	return t
}

// mapEnvelope finds a map-shaped file object in the body or attributes.
func mapEnvelope(lr plog.LogRecord) (pcommon.Slice, bool) {
	if lr.Body().Type() == pcommon.ValueTypeMap {
		if records, ok := EnvelopeRecords(lr.Body().Map()); ok {
			return records, true
		}
	}
	return EnvelopeRecords(lr.Attributes())
}

// EventTime reads the event time of any CloudTrail record without parsing
// it whole; ok is false when the record is not CloudTrail or has no time.
func (r *Reader) EventTime(lr plog.LogRecord) (time.Time, bool) {
	if lr.Body().Type() == pcommon.ValueTypeMap {
		if t, ok := mapEventTime(lr.Body().Map(), lr); ok {
			return t, true
		}
	}
	if t, ok := mapEventTime(lr.Attributes(), lr); ok {
		return t, true
	}
	if text, ok := BodyText(lr.Body()); ok {
		return rawEventTime(text)
	}
	return time.Time{}, false
}

// mapEventTime reads the time field of whichever map shape m is.
func mapEventTime(m pcommon.Map, lr plog.LogRecord) (time.Time, bool) {
	s := scanShape(m).shape
	switch {
	case s == nil:
		return time.Time{}, false
	case s.timeKey == "":
		return lr.Timestamp().AsTime().UTC(), lr.Timestamp() != 0
	}
	return ParseTime(lookupStr(m, s.timeKey))
}

// rawEventTime finds "eventTime" in a JSON event by scanning, not parsing:
// CloudTrail writes it as a plain string, never escaped.
func rawEventTime(raw string) (time.Time, bool) {
	const key = `"eventTime"`
	i := strings.Index(raw, key)
	if i < 0 || !strings.Contains(raw, `"eventSource"`) {
		return time.Time{}, false
	}
	rest := strings.TrimLeft(raw[i+len(key):], " \t\r\n")
	if rest == "" || rest[0] != ':' {
		return time.Time{}, false
	}
	rest = strings.TrimLeft(rest[1:], " \t\r\n")
	if rest == "" || rest[0] != '"' {
		return time.Time{}, false
	}
	end := strings.IndexByte(rest[1:], '"')
	if end < 0 {
		return time.Time{}, false
	}
	return ParseTime(rest[1 : 1+end])
}
