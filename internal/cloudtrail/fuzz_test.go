// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package cloudtrail

import (
	"bytes"
	"encoding/json"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/corpus"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/shapes"
)

// seeds are the project's own events plus hostile variants of them.
func seeds(f *testing.F) [][]byte {
	f.Helper()
	raws := corpus.Events(f, "identities")
	out := append(append([][]byte{}, raws...), corpus.Events(f, "lifecycle")...)
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

// checkEvent holds for every event reported as read: one of the calls
// asked for, every value that can leave the reader valid and bounded.
func checkEvent(t *testing.T, ev *Event) {
	t.Helper()
	known := false
	for _, c := range knownCalls {
		known = known || ev.Is(c)
	}
	if !known {
		t.Fatalf("read result for %s/%s", ev.Provider, ev.Action)
	}
	for _, s := range []string{ev.Target, ev.Principal(), ev.UserName(), ev.AccountID(), ev.SourceInstance(), ev.SessionID, ev.DocumentName} {
		if !utf8.ValidString(s) || len(s) > MaxFieldLen {
			t.Fatalf("kept an invalid or oversized value %q", s)
		}
	}
	if len(ev.Instances) > MaxInstances {
		t.Fatalf("kept %d instances", len(ev.Instances))
	}
	for _, id := range ev.Instances {
		if !IsInstanceID(id) {
			t.Fatalf("kept %q as an instance", id)
		}
	}
}

func FuzzReadJSON(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(string(s))
	}
	r := Reader{Calls: knownCalls}
	f.Fuzz(func(t *testing.T, raw string) {
		var ev Event
		lr := plog.NewLogRecord()
		lr.Body().SetStr(raw)
		switch result, err := r.Read(pcommon.NewResource(), lr, &ev); result {
		case Read:
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
	r := Reader{Calls: knownCalls}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if _, err := shapes.Decode(raw); err != nil {
			return
		}
		for _, shape := range []shapes.Shape{shapes.Map, shapes.Attrs, shapes.ECS, shapes.OTel} {
			ld, err := shapes.Logs(shape, [][]byte{raw})
			if err != nil {
				continue
			}
			before := plog.NewLogs()
			ld.CopyTo(before)
			var ev Event
			r.Walk(ld, InPlace, true, &ev, func(it Item) {
				if it.Result == Read {
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

// FuzzTargetFromKV reads every key of Elastic's {k=v} strings from
// arbitrary text: what is read was written after its key, and is valid.
func FuzzTargetFromKV(f *testing.F) {
	for _, s := range []string{
		"{target=i-1234567890abcdef0}", "{documentName=SSM-sudo, target=i-02311671588e96626}",
		"{reason=a, target=i-0fake, target=i-0real}", "{parameters={x=[1, 2]}, target=mi-0abc}", "{target=", "}{", "",
		"{streamUrl=wss://x/y, sessionId=alice-0a1b, tokenValue=v}", "{instancesSet={items=[{instanceId=i-0f5a1e2d3c4b5a697}]}}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got := TargetFromKV(s); got != "" && (!strings.Contains(s, "target="+got) || !validTarget(got)) {
			t.Fatalf("target %q not read from a key in %q", got, s)
		}
		if got := DocumentNameFromKV(s); got != "" && (!strings.Contains(s, "{documentName="+got) || !validDocumentName(got)) {
			t.Fatalf("document %q not read from its key in %q", got, s)
		}
		if got := SessionIDFromKV(s); got != "" && (!strings.Contains(s, "sessionId="+got) || !validSessionID(got)) {
			t.Fatalf("session %q not read from a key in %q", got, s)
		}
		InstancesFromKV(s, func(id string) {
			if !strings.Contains(s, "instanceId="+id) {
				t.Fatalf("instance %q not read from a key in %q", id, s)
			}
		})
	})
}

// FuzzEnvelopes splits text bodies and checks the events found against
// encoding/json: S3 objects, CloudWatch Logs payloads and concatenated
// objects (also nested) become exactly their events, byte for byte (a
// CloudWatch message as encoding/json unescapes it), and anything else
// passes as one record with its body unchanged.
func FuzzEnvelopes(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(`{"Records":[` + string(s) + `]}`)
		f.Add(string(s) + string(s))
		f.Add(cwPayload(string(s)))
	}
	f.Add(`{"Records":[{"a":"] } \" \\"}, 1, "x", [[]], {}]}`)
	f.Add(" {\n \"Records\" : [ ] } ")
	f.Add(`{"Records":[` + strings.Repeat(`{"a":`, MaxDepth) + `1` + strings.Repeat(`}`, MaxDepth) + `]}`) // nested too deep
	f.Add(`{"a":1}{"b":"}{"}` + "\n" + `{"Records":[{"c":2}]}`)
	f.Add(`{"Records":[{"":,"\u"0`) // keys are read before the text is validated
	f.Add(`{"owner":"1","\u":1}`)
	f.Add(`{"messageType":"CONTROL_MESSAGE","logEvents":[{"message":"CWL CONTROL MESSAGE: Checking health of destination"}]}`)
	f.Add(`{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put"}]}`) // an S3 notification
	s := string(seeds(f)[0])
	f.Add(s + "\r\n" + s + " \n\t" + s)
	cw := cwPayload(s) // keys sorted, as a Go re-serialiser writes them
	f.Add(`{"logEvents":` + cw[strings.Index(cw, "[{"):len(cw)-1] + `,"logGroup":"g","messageType":"DATA_MESSAGE","owner":"1"}`)
	r := Reader{Calls: knownCalls}
	f.Fuzz(func(t *testing.T, body string) {
		ld := plog.NewLogs()
		ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr(body)
		var ev Event
		counts := r.Walk(ld, Split, false, &ev, func(Item) {})
		var got []string
		for _, lr := range ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().All() {
			got = append(got, lr.Body().Str())
		}
		want, ok := oracleEvents(body, 0)
		if !ok || len(want) == 0 {
			if len(got) != 1 || got[0] != body || counts.Envelopes != 0 {
				t.Fatalf("not an envelope (or an empty one), yet split into %d records", len(got))
			}
			return
		}
		if counts.Envelopes != 1 || len(got) != len(want) {
			t.Fatalf("%d records, encoding/json finds %d events in %q", len(got), len(want), body)
		}
		for i := range want {
			if perByte(got[i]) != perByte(want[i]) { // a CloudWatch message keeps its bytes; encoding/json replaces invalid ones
				t.Fatalf("event %d is %q, encoding/json has %q", i, got[i], want[i])
			}
		}
	})
}

// eventKeysNamed finds a CloudTrail event's own keys, written plainly.
var eventKeysNamed = regexp.MustCompile(`"event(Version|Source|Name)"`)

// oracleEvents is an independent reading of the envelope rules: the first
// key says S3 object (unless the first record names an "aws:" notification
// source) or CloudWatch Logs payload (any of its keys, with messageType
// DATA_MESSAGE anywhere), a '}' and a '{' with only spaces between hint at
// concatenated objects when the body names an event's keys; encoding/json
// does the parsing. Keys and the values
// tested are read as written (up to the next quote), not unescaped.
func oracleEvents(body string, depth int) ([]string, bool) {
	trimmed := strings.TrimLeft(body, " \t\r\n")
	if !strings.HasPrefix(trimmed, "{") || tooDeep(body) {
		return nil, false // envelopes nest no deeper than events may
	}
	if depth == 0 && concatHint.MatchString(body) && eventKeysNamed.MatchString(body) && !oraclePlainlyAlone(body) {
		if out, ok := oracleConcatenated(body); ok {
			return out, true
		}
	}
	members, ok := oracleMembers(body)
	if !ok || len(members) == 0 || !json.Valid([]byte(body)) {
		return nil, false
	}
	switch first := members[0].key; {
	case first == "Records":
		var records []json.RawMessage
		if json.Unmarshal(members[0].value, &records) != nil {
			return nil, false
		}
		if len(records) > 0 {
			inner, _ := oracleMembers(string(records[0]))
			raw := oracleValue(inner, "eventSource")
			if raw == nil {
				raw = oracleValue(inner, "EventSource")
			}
			if src, _ := oracleString(raw); strings.HasPrefix(src, "aws:") {
				return nil, false // not CloudTrail's: S3 notifications and the like
			}
		}
		out := make([]string, len(records))
		for i, r := range records {
			if !strings.HasPrefix(string(r), "{") {
				return nil, false // a file of CloudTrail's holds only events
			}
			out[i] = string(r)
		}
		return out, true
	case slices.Contains(oracleCWKeys, first):
		if mt, _ := oracleString(oracleValue(members, "messageType")); mt != "DATA_MESSAGE" {
			return nil, false
		}
		var logEvents []map[string]json.RawMessage
		raw := oracleValue(members, "logEvents")
		if raw == nil || json.Unmarshal(raw, &logEvents) != nil || logEvents == nil {
			return nil, false
		}
		var out []string
		for _, e := range logEvents {
			var msg string
			if e == nil || json.Unmarshal(e["message"], &msg) != nil || !bytes.HasPrefix(bytes.TrimSpace(e["message"]), []byte(`"`)) {
				return nil, false
			}
			out = append(out, msg)
		}
		return out, true
	}
	return nil, false
}

var concatHint = regexp.MustCompile(`\}[ \t\r\n]*\{`)

var oracleCWKeys = []string{"messageType", "owner", "logGroup", "logStream", "subscriptionFilters", "logEvents", "policyLevel"}

// oraclePlainlyAlone is the rule that spares most bodies the search for
// objects back to back: the first key is no envelope's, the first
// "eventName" written, with no backslash before it and one deep by a count
// of the braces written (two only in an EventBridge event), is a key naming
// a call not read, and no '}' and '{' with only spaces between follow that
// name. Such a body is read as one event.
func oraclePlainlyAlone(body string) bool {
	if m := firstKey.FindStringSubmatch(body); m != nil && (m[1] == "Records" || slices.Contains(oracleCWKeys, m[1])) {
		return false
	}
	i := strings.Index(body, `"eventName"`)
	if i < 0 || strings.Contains(body[:i], `\`) {
		return false
	}
	depth := strings.Count(body[:i], "{") - strings.Count(body[:i], "}")
	if depth != 1 && (depth != 2 || !strings.HasPrefix(body, `{"version":"0"`)) {
		return false
	}
	m := plainName.FindStringSubmatchIndex(body[i:])
	if m == nil {
		return false
	}
	name, rest := body[i+m[2]:i+m[3]], body[i+m[1]:]
	for _, c := range knownCalls {
		if c.Action == name {
			return false
		}
	}
	return !concatHint.MatchString(rest)
}

var firstKey = regexp.MustCompile(`^[ \t\r\n]*\{[ \t\r\n]*"((?:[^"\\]|\\.)*)"`)

var plainName = regexp.MustCompile(`^"eventName"[ \t\r\n]*:[ \t\r\n]*"([^"\\]*)"`)

// oracleMember is one top-level member of an object: its key as written
// (escapes kept) and its value.
type oracleMember struct {
	key   string
	value json.RawMessage
}

// oracleMembers lists the top-level members of the object raw, in order.
func oracleMembers(raw string) ([]oracleMember, bool) {
	d := json.NewDecoder(strings.NewReader(raw))
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	var out []oracleMember
	for d.More() {
		before := d.InputOffset()
		if _, err := d.Token(); err != nil {
			return nil, false
		}
		key := strings.TrimLeft(raw[before:d.InputOffset()], ", \t\r\n")
		var v json.RawMessage
		if d.Decode(&v) != nil {
			return nil, false
		}
		out = append(out, oracleMember{strings.TrimSuffix(strings.TrimPrefix(key, `"`), `"`), v})
	}
	return out, true
}

// oracleValue is the value of the first member named key.
func oracleValue(members []oracleMember, key string) json.RawMessage {
	for _, m := range members {
		if m.key == key {
			return m.value
		}
	}
	return nil
}

// oracleString is a string value as written, up to its next quote.
func oracleString(raw json.RawMessage) (string, bool) {
	s := string(raw)
	if !strings.HasPrefix(s, `"`) {
		return "", false
	}
	end := strings.IndexByte(s[1:], '"')
	return s[1 : 1+end], true
}

// oracleConcatenated reads back-to-back objects with encoding/json's stream
// decoder; ok only for two or more objects.
func oracleConcatenated(body string) ([]string, bool) {
	d := json.NewDecoder(strings.NewReader(body))
	var out []string
	pieces := 0
	for {
		var piece json.RawMessage
		err := d.Decode(&piece)
		if err == io.EOF {
			break
		}
		if err != nil || !bytes.HasPrefix(piece, []byte("{")) {
			return nil, false
		}
		pieces++
		if badRecords(piece) {
			return nil, false // a bad file among them: none is split
		}
		if nested, ok := oracleEvents(string(piece), 1); ok {
			out = append(out, nested...)
		} else {
			out = append(out, string(piece))
		}
	}
	return out, pieces > 1
}

// badRecords reports whether piece is an object whose first key is
// Records, an array holding something other than objects.
func badRecords(piece []byte) bool {
	members, ok := oracleMembers(string(piece))
	if !ok || len(members) == 0 || members[0].key != "Records" {
		return false
	}
	var records []json.RawMessage
	if json.Unmarshal(members[0].value, &records) != nil {
		return false
	}
	return slices.ContainsFunc(records, func(r json.RawMessage) bool { return !bytes.HasPrefix(r, []byte("{")) })
}

// perByte replaces each byte of invalid UTF-8 with U+FFFD, as encoding/json
// decodes it.
func perByte(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r) // RuneError for an invalid byte
		i += n
	}
	return b.String()
}

// cwPayload wraps an event as a CloudWatch Logs subscription delivers it.
func cwPayload(event string) string {
	msg, _ := json.Marshal(event)
	return `{"messageType":"DATA_MESSAGE","owner":"111122223333","logGroup":"aws-cloudtrail-logs",` +
		`"logStream":"111122223333_CloudTrail_eu-west-1","subscriptionFilters":["to-firehose"],` +
		`"logEvents":[{"id":"1","timestamp":1793610005000,"message":` + string(msg) + `}]}`
}

// tooDeep reports whether raw nests brackets deeper than MaxDepth, outside
// strings: an independent reading of the bound validJSON keeps.
func tooDeep(raw string) bool {
	if strings.Count(raw, "{")+strings.Count(raw, "[") <= MaxDepth {
		return false
	}
	depth := 0
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '"':
			i = skipString(raw, i)
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
