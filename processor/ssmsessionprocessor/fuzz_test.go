package ssmsessionprocessor

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/cloudtrail-detect/ssmsession/internal/cloudtrail"
	"github.com/cloudtrail-detect/ssmsession/internal/corpus"
)

// FuzzProcessor sends one text record through the processor: nothing may
// panic, a record that does not match comes out unchanged, a match only
// gains attributes, a file object becomes exactly its events, and small
// input cannot make the processor allocate without bound.
func FuzzProcessor(f *testing.F) {
	raws := corpus.Events(f, "identities")
	for _, r := range raws {
		f.Add(string(r))
	}
	f.Add(`{"Records":[` + string(raws[0]) + `,` + string(raws[1]) + `]}`)
	f.Add(`{"Records":[{},{},{}]}`)
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
		out, err := p.processLogs(ctx, ld)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20+uint64(200*len(body)) {
			t.Fatalf("allocated %d bytes for a %d-byte record", grew, len(body))
		}
		recs := records(out)
		events, isEnvelope := cloudtrail.SplitEnvelope(body)
		switch {
		case isEnvelope && len(events) > 0:
			if len(recs) != len(events) {
				t.Fatalf("%d records for %d events", len(recs), len(events))
			}
			for i, r := range recs {
				if r.Body().Str() != events[i] {
					t.Fatalf("record %d body is not event %d", i, i)
				}
			}
		case len(recs) != 1:
			t.Fatalf("%d records out of one", len(recs))
		}
		for _, r := range recs {
			if _, tagged := r.Attributes().Get(AttrRuleID); !tagged && r.Attributes().Len() != 1 {
				t.Fatal("an untagged record gained or lost attributes")
			}
			if v, _ := r.Attributes().Get("log.file.name"); v.Str() != "x" {
				t.Fatal("an original attribute changed")
			}
		}
		if !isEnvelope && recs[0].Body().Str() != body {
			t.Fatal("the body changed")
		}
	})
}
