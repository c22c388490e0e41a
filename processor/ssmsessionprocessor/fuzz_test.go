// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionprocessor

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/cloudtrail-detect/ssmsession/internal/cloudtrail"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/corpus"
)

// FuzzProcessor sends one text record through the processor: nothing may
// panic, a record that is not split comes out with its body unchanged, a
// split one becomes records of its parts (FuzzEnvelopes checks which), a
// match only gains attributes, and small input cannot make the processor
// allocate without bound.
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
		p.process(ctx, ld)
		runtime.ReadMemStats(&after)
		out := ld
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20+uint64(200*len(body)) {
			t.Fatalf("allocated %d bytes for a %d-byte record", grew, len(body))
		}
		recs := records(out)
		split := len(recs) != 1 || recs[0].Body().Str() != body
		for _, r := range recs {
			if !split && r.Body().Str() != body {
				t.Fatal("the body changed")
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
