package ssmsessionprocessor

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/cloudtrail-detect/ssmsession/internal/cloudtrail"
)

// splitEnvelopes replaces every record that carries a CloudTrail file object
// ({"Records":[...]}, as filelog reads an S3 object) with one record per
// event, in place. Each new record keeps the original's resource, scope,
// attributes and timestamps; its body is the event (the exact JSON text, or
// the map). A file object that cannot be parsed, or holds no events, is left
// as it is. It returns the number split and the number that failed to parse.
func splitEnvelopes(ld plog.Logs) (split, bad int) {
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			s, b := splitScope(sls.At(j).LogRecords())
			split += s
			bad += b
		}
	}
	return split, bad
}

func splitScope(recs plog.LogRecordSlice) (split, bad int) {
	first := -1
	for i := 0; i < recs.Len(); i++ {
		if isEnvelope(recs.At(i)) {
			first = i
			break
		}
	}
	if first < 0 {
		return 0, 0
	}
	out := plog.NewLogRecordSlice()
	out.EnsureCapacity(recs.Len())
	for i := 0; i < recs.Len(); i++ {
		lr := recs.At(i)
		if i < first || !isEnvelope(lr) {
			lr.MoveTo(out.AppendEmpty())
			continue
		}
		switch n := expand(lr, out); {
		case n > 0:
			split++
		case n < 0:
			bad++
			fallthrough
		default:
			lr.MoveTo(out.AppendEmpty())
		}
	}
	recs.RemoveIf(func(plog.LogRecord) bool { return true })
	out.MoveAndAppendTo(recs)
	return split, bad
}

// isEnvelope is the cheap check made on every record.
func isEnvelope(lr plog.LogRecord) bool {
	if cloudtrail.BodyEnvelope(lr.Body()) {
		return true
	}
	_, ok := cloudtrail.EnvelopeRecords(lr.Attributes())
	return ok
}

// expand appends one record per event of lr's file object to out and returns
// how many; -1 when the object cannot be parsed. The file object may be the
// body (text or map) or, with json_parser's default target, the attributes;
// there the Records array is dropped from each new record, whose body holds
// its one event.
func expand(lr plog.LogRecord, out plog.LogRecordSlice) int {
	attrRecords, inAttrs := cloudtrail.EnvelopeRecords(lr.Attributes())
	emit := func(setBody func(pcommon.Value)) {
		nr := out.AppendEmpty()
		lr.CopyTo(nr)
		if inAttrs {
			nr.Attributes().Remove("Records")
		}
		setBody(nr.Body())
	}
	if text, ok := cloudtrail.BodyText(lr.Body()); ok && cloudtrail.MaybeEnvelope(text) {
		events, ok := cloudtrail.SplitEnvelope(text)
		if !ok {
			return -1
		}
		for _, ev := range events {
			emit(func(b pcommon.Value) { b.SetStr(ev) })
		}
		return len(events)
	}
	records, ok := attrRecords, inAttrs
	if lr.Body().Type() == pcommon.ValueTypeMap {
		if r, found := cloudtrail.EnvelopeRecords(lr.Body().Map()); found {
			records, ok = r, true
		}
	}
	if !ok {
		return 0
	}
	for k := 0; k < records.Len(); k++ {
		emit(records.At(k).CopyTo)
	}
	return records.Len()
}
