package cloudtrail

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/cloudtrail-detect/ssmsession/internal/corpus"
	"github.com/cloudtrail-detect/ssmsession/internal/shapes"
)

// seeds are the project's own events plus hostile variants of them.
func seeds(f *testing.F) [][]byte {
	f.Helper()
	raws := corpus.Events(f, "identities")
	out := append([][]byte{}, raws...)
	out = append(out,
		[]byte(startSession[:len(startSession)/2]),
		[]byte(strings.Replace(startSession, `"StartSession"`, `"Start\u0053ession"`, 1)),
		[]byte(strings.Replace(startSession, "web-tier", "\xff\xfeweb", 1)),
		[]byte(`{"Records":[`+string(raws[0])+`,`+string(raws[2])+`]}`),
		[]byte(`{"Records":[{"eventSource":"ssm.amazonaws.com","eventName":"StartSession"},1,"x",[]]}`),
		[]byte(strings.Repeat(`{"a":`, 320)+`1`+strings.Repeat(`}`, 320)),
		[]byte(`{"eventSource":7,"eventName":"StartSession"}`),
		[]byte(`{"eventSource":"ssm.amazonaws.com","eventName":"StartSession","userIdentity":"x","requestParameters":[1]}`),
	)
	return out
}

// checkEvent holds for every event reported as StartSession.
func checkEvent(t *testing.T, ev *Event) {
	t.Helper()
	if !ev.IsStartSession() {
		t.Fatalf("StartSession result for %s/%s", ev.Provider, ev.Action)
	}
	for _, s := range []string{ev.Target, ev.Principal(), ev.UserName(), ev.AccountID(), ev.SourceInstance()} {
		if !utf8.ValidString(s) || len(s) > MaxFieldLen {
			t.Fatalf("kept an invalid or oversized value %q", s)
		}
	}
}

func FuzzReadJSON(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(string(s))
	}
	var r Reader
	f.Fuzz(func(t *testing.T, raw string) {
		var ev Event
		lr := plog.NewLogRecord()
		lr.Body().SetStr(raw)
		switch result, err := r.Read(pcommon.NewResource(), lr, &ev); result {
		case StartSession:
			checkEvent(t, &ev)
		case Malformed:
			if err == nil {
				t.Fatal("malformed without a reason")
			}
		}
		if lr.Body().Str() != raw {
			t.Fatal("the record was modified")
		}
	})
}

// FuzzReadMaps decodes the input as JSON and reads it in every map shape.
func FuzzReadMaps(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	var r Reader
	f.Fuzz(func(t *testing.T, raw []byte) {
		if _, err := shapes.Decode(raw); err != nil {
			return
		}
		for _, shape := range []shapes.Shape{shapes.Map, shapes.Attrs, shapes.ECS, shapes.OTel} {
			ld, err := shapes.Logs(shape, [][]byte{raw})
			if err != nil {
				continue
			}
			rl := ld.ResourceLogs().At(0)
			before := plog.NewLogs()
			ld.CopyTo(before)
			var ev Event
			r.Each(rl.Resource(), rl.ScopeLogs().At(0).LogRecords().At(0), &ev, func(result Result, _ time.Time, _ error) {
				if result == StartSession {
					checkEvent(t, &ev)
				}
			})
			if !equalLogs(before, ld) {
				t.Fatalf("%s: the record was modified", shape)
			}
		}
	})
}

func equalLogs(a, b plog.Logs) bool {
	ra, _ := (&plog.ProtoMarshaler{}).MarshalLogs(a)
	rb, _ := (&plog.ProtoMarshaler{}).MarshalLogs(b)
	return bytes.Equal(ra, rb)
}

func FuzzTargetFromKV(f *testing.F) {
	for _, s := range []string{
		"{target=i-1234567890abcdef0}", "{documentName=SSM-sudo, target=i-02311671588e96626}",
		"{reason=a, target=i-0fake, target=i-0real}", "{parameters={x=[1, 2]}, target=mi-0abc}", "{target=", "}{", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := TargetFromKV(s)
		if got == "" {
			return
		}
		if !strings.Contains(s, "target="+got) || !validTarget(got) {
			t.Fatalf("target %q not read from a key in %q", got, s)
		}
	})
}

// FuzzSplitEnvelope checks the scanner against encoding/json: for a valid
// file object both must find the same events, byte for byte.
func FuzzSplitEnvelope(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(`{"Records":[` + string(s) + `]}`)
	}
	f.Add(`{"Records":[{"a":"] } \" \\"}, 1, "x", [[]], {}]}`)
	f.Add(" {\n \"Records\" : [ ] } ")
	f.Fuzz(func(t *testing.T, body string) {
		events, ok := SplitEnvelope(body)
		if !ok {
			return
		}
		var oracle struct {
			Records []json.RawMessage `json:"Records"`
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal([]byte(body), &top); err != nil {
			t.Fatalf("split an object encoding/json rejects: %v", err)
		}
		if err := json.Unmarshal(top["Records"], &oracle.Records); err != nil {
			t.Fatalf("split a Records value that is not an array: %v", err)
		}
		if len(events) != len(oracle.Records) {
			t.Fatalf("%d events, encoding/json finds %d", len(events), len(oracle.Records))
		}
		for i, ev := range events {
			if ev != string(oracle.Records[i]) {
				t.Fatalf("event %d is %q, encoding/json has %q", i, ev, oracle.Records[i])
			}
		}
	})
}
