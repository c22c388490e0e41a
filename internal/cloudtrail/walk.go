// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package cloudtrail // import "github.com/cloudtrail-detect/ssmsession/internal/cloudtrail"

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Mode says what Walk does with envelopes.
type Mode uint8

const (
	// InPlace reads the events of an envelope where they are; the batch is
	// not changed.
	InPlace Mode = iota
	// Split replaces each envelope record, where it stands, by one record per
	// event.
	Split
	// Keep passes envelopes through unread.
	Keep
)

// Item is one event Walk found.
type Item struct {
	Result Result
	Err    error
	// Time is the event time: of the StartSession event read into the
	// Event, or, when Walk is asked for times, of any CloudTrail event (zero
	// when unknown).
	Time time.Time
	// Record carries the event: its own record, or in place the envelope's.
	// The handle stays valid after Walk returns.
	Record   plog.LogRecord
	Resource pcommon.Resource
}

// Counts says what one Walk saw.
type Counts struct {
	Records   int // records, after splitting
	Envelopes int // envelopes read or split
	Malformed int // events, or whole envelopes, that could not be read
}

// Walk is the one reading of a batch: every record is looked at once, each
// envelope is split (or read in place) before its events are read, and each
// event is read once and reported to fn in order, so that malformed input is
// counted once; events not read (Skip) are reported only when times are
// asked for. Splitting is linear in the number of events: each event's
// value moves into its record, and nothing else of the envelope is copied.
// ev is scratch space: during fn it holds the StartSession event of the item.
func (r *Reader) Walk(ld plog.Logs, mode Mode, times bool, ev *Event, fn func(Item)) Counts {
	// fn is passed down, not kept in the walker, so it does not escape.
	w := walker{r: r, mode: mode, times: times, ev: ev, buf: r.getSources()}
	defer r.putSources(w.buf)
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		res := rls.At(i).Resource()
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			w.scope(res, sls.At(j).LogRecords(), fn)
		}
	}
	return w.counts
}

type walker struct {
	r      *Reader
	mode   Mode
	times  bool
	ev     *Event
	buf    *[]source
	counts Counts
	hint   hint
}

func (w *walker) scope(res pcommon.Resource, recs plog.LogRecordSlice, fn func(Item)) {
	// Once an envelope is split, the records from it on are rebuilt in out;
	// those before it stay where they are, so their handles stay valid.
	var out plog.LogRecordSlice
	var v view
	first := -1
	for i := 0; i < recs.Len(); i++ {
		lr := recs.At(i)
		w.r.look(lr, &w.hint, &v)
		readable := false // an envelope whose events can be read
		if v.kind != NoEnvelope && w.mode != Keep {
			srcs, ok := w.r.events(&v, (*w.buf)[:0])
			*w.buf, readable = srcs, ok
			switch {
			case !ok || len(srcs) == 0:
				// Unreadable, or empty: the record passes as it is.
			case w.mode == InPlace:
				w.counts.Envelopes++
				w.counts.Records++
				for k := range srcs {
					w.readSource(res, lr, &srcs[k], fn)
				}
				continue
			default:
				if first < 0 {
					first, out = i, plog.NewLogRecordSlice()
					out.EnsureCapacity(recs.Len() - i + len(srcs))
				}
				w.counts.Envelopes++
				for k := range srcs {
					nr := newRecord(lr, out, &srcs[k])
					w.counts.Records++
					w.readSource(res, nr, &srcs[k], fn)
				}
				continue
			}
		}
		if first >= 0 {
			moved := out.AppendEmpty()
			lr.MoveTo(moved)
			lr = moved
			if v.inMap { // a text view (a string, or bytes that moved along) stays valid
				w.r.look(moved, &w.hint, &v) // the view's map handles were into the old place
			}
		}
		w.counts.Records++
		switch {
		case v.kind == NoEnvelope:
			w.readRecord(res, lr, &v, fn)
		case w.mode != Keep && !readable: // an envelope that cannot be read whole: passed through unsplit
			w.counts.Malformed++
			fn(Item{Result: Malformed, Err: ErrEnvelope, Record: lr, Resource: res})
		}
	}
	if first >= 0 {
		i := 0
		recs.RemoveIf(func(plog.LogRecord) bool { i++; return i > first })
		out.MoveAndAppendTo(recs)
	}
}

func (w *walker) readRecord(res pcommon.Resource, lr plog.LogRecord, v *view, fn func(Item)) {
	result, err := w.r.readView(res, v, w.ev)
	result, err = finish(result, err, lr, 0, w.ev)
	w.report(res, lr, result, err, v, fn)
}

func (w *walker) readSource(res pcommon.Resource, lr plog.LogRecord, src *source, fn func(Item)) {
	var v view
	result, err := w.r.readSource(res, lr, src, w.ev, &w.hint, &v)
	w.report(res, lr, result, err, &v, fn)
}

func (w *walker) report(res pcommon.Resource, lr plog.LogRecord, result Result, err error, v *view, fn func(Item)) {
	item := Item{Result: result, Err: err, Record: lr, Resource: res}
	switch result {
	case Read:
		item.Time = w.ev.Time
	case Malformed:
		w.counts.Malformed++
	case Skip:
		if !w.times {
			return // nobody asked about it
		}
		item.Time = eventTime(v, lr)
	}
	fn(item)
}

// newRecord appends a record for one event of lr's envelope to out: lr's
// timestamps, severity, trace context and attributes (not the envelope's
// array), with the event as its body. A parsed event is moved, not copied;
// an event from a CloudWatch Logs payload gets its log event's time, group
// and stream.
func newRecord(lr plog.LogRecord, out plog.LogRecordSlice, src *source) plog.LogRecord {
	nr := out.AppendEmpty()
	nr.SetTimestamp(lr.Timestamp())
	nr.SetObservedTimestamp(lr.ObservedTimestamp())
	nr.SetSeverityNumber(lr.SeverityNumber())
	nr.SetSeverityText(lr.SeverityText())
	nr.SetFlags(lr.Flags())
	nr.SetTraceID(lr.TraceID())
	nr.SetSpanID(lr.SpanID())
	nr.SetEventName(lr.EventName())
	nr.SetDroppedAttributesCount(lr.DroppedAttributesCount())
	copyAttributes(lr.Attributes(), nr.Attributes())
	if src.isVal {
		src.val.MoveTo(nr.Body())
		src.val = nr.Body()
	} else {
		nr.Body().SetStr(src.text)
	}
	if src.tsMs > 0 {
		nr.SetTimestamp(pcommon.NewTimestampFromTime(time.UnixMilli(src.tsMs)))
	}
	if src.group != "" {
		nr.Attributes().PutEmptySlice(AttrLogGroupNames).AppendEmpty().SetStr(src.group)
	}
	if src.stream != "" {
		nr.Attributes().PutEmptySlice(AttrLogStreamNames).AppendEmpty().SetStr(src.stream)
	}
	return nr
}

// copyAttributes copies from into to, leaving out an envelope's array
// (json_parser's default puts the parsed object in the attributes).
func copyAttributes(from, to pcommon.Map) {
	_, records := from.Get(recordsKey)
	_, logEvents := from.Get(logEventsKey)
	if !records && !logEvents {
		from.CopyTo(to)
		return
	}
	to.EnsureCapacity(from.Len())
	from.Range(func(k string, v pcommon.Value) bool {
		if (k != recordsKey && k != logEventsKey) || v.Type() != pcommon.ValueTypeSlice {
			v.CopyTo(to.PutEmpty(k))
		}
		return true
	})
}

func (r *Reader) getSources() *[]source {
	if b, ok := r.sources.Get().(*[]source); ok {
		return b
	}
	return new([]source)
}

// putSources returns scratch space without keeping the batch it pointed into.
func (r *Reader) putSources(b *[]source) {
	clear((*b)[:cap(*b)])
	*b = (*b)[:0]
	r.sources.Put(b)
}
