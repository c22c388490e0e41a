// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionprocessor

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/cloudtrail-detect/ssmsession/internal/cloudtrail"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/corpus"
)

// FuzzProcessor sends one text record through the processor: nothing may
// panic, a record that is not split comes out as one record with its body
// unchanged byte for byte, a split one becomes records whose bodies are the
// envelope's events exactly as the reader splits them (FuzzEnvelopes checks
// that split against encoding/json), a match only gains attributes, and
// small input cannot make the processor allocate without bound.
func FuzzProcessor(f *testing.F) {
	raws := corpus.Events(f, "identities")
	for _, r := range raws {
		f.Add(string(r))
	}
	f.Add(`{"Records":[` + string(raws[0]) + `,` + string(raws[1]) + `]}`)
	f.Add(`{"Records":[{},{},{}]}`)
	f.Add(string(raws[0]) + "\n" + string(raws[2])) // concatenated objects
	f.Add(strings.Replace(string(raws[0]), "alice", "\xc3\x28", 1))
	p, err := newProcessor(processortest.NewNopSettings(NewFactory().Type()), defaultConfig(), time.Now)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		ld := plog.NewLogs()
		lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.Body().SetStr(body)
		lr.Attributes().PutStr("log.file.name", "x")

		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		p.process(ctx, ld)
		runtime.ReadMemStats(&after)
		out := ld
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20+uint64(200*len(body)) {
			t.Fatalf("allocated %d bytes for a %d-byte record", grew, len(body))
		}
		recs := records(out)
		// The reference: the same input split by the reader alone, which
		// FuzzEnvelopes checks against encoding/json. The processor must
		// leave every body as the split made it: only attributes change.
		ref := plog.NewLogs()
		ref.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr(body)
		var ev cloudtrail.Event
		split := p.reader.Walk(ref, p.mode, false, &ev, func(cloudtrail.Item) {}).Envelopes > 0
		want := records(ref)
		if !split && (len(recs) != 1 || recs[0].Body().Type() != pcommon.ValueTypeStr || recs[0].Body().Str() != body) {
			t.Fatalf("not an envelope, yet %d records came out or the body changed", len(recs))
		}
		if len(recs) != len(want) {
			t.Fatalf("%d records came out, the envelope holds %d events", len(recs), len(want))
		}
		for i, r := range recs {
			if !r.Body().Equal(want[i].Body()) {
				t.Fatalf("record %d's body is %.200q, the event is %.200q", i, r.Body().AsString(), want[i].Body().AsString())
			}
			if split && !strings.Contains(body, r.Body().Str()) && !strings.Contains(body, `"messageType"`) {
				t.Fatal("a split record's body is not a part of the envelope")
			}
			added := 0
			for _, k := range []string{cloudtrail.AttrLogGroupNames, cloudtrail.AttrLogStreamNames} {
				if _, ok := r.Attributes().Get(k); ok {
					added++
				}
			}
			if _, tagged := r.Attributes().Get(AttrRuleID); !tagged && r.Attributes().Len() != 1+added {
				t.Fatal("an untagged record gained or lost attributes")
			}
			if v, _ := r.Attributes().Get("log.file.name"); v.Str() != "x" {
				t.Fatal("an original attribute changed")
			}
		}
	})
}
