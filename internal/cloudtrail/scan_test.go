// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package cloudtrail

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tokenMember is one member of an object, its value as written.
type tokenMember struct {
	key string
	val json.RawMessage
}

// tokenMembers lists the members of the object raw in order, duplicates kept.
func tokenMembers(raw []byte) []tokenMember {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	var out []tokenMember
	for d.More() {
		k, _ := d.Token()
		var v json.RawMessage
		if d.Decode(&v) != nil {
			return nil
		}
		out = append(out, tokenMember{k.(string), v})
	}
	return out
}

func first(ms []tokenMember, key string) json.RawMessage {
	for _, m := range ms {
		if m.key == key {
			return m.val
		}
	}
	return nil
}

// tokenEvent is an independent reading of a valid raw event: encoding/json
// lists its members (an EventBridge event's detail is looked into), and
// its tokens are walked against the same key table. src and act are the
// event's own eventSource and eventName as first written, nil when absent.
func tokenEvent(raw string) (ev Event, src, act json.RawMessage) {
	ms := tokenMembers([]byte(raw))
	if first(ms, "eventSource") == nil {
		if d := first(ms, detailKey); bytes.HasPrefix(d, []byte("{")) && first(ms, detailTypeKey) != nil {
			raw, ms = string(d), tokenMembers(d)
		}
	}
	d := json.NewDecoder(strings.NewReader(raw))
	d.UseNumber()
	_, _ = d.Token()
	tokenWalk(d, &native, &ev)
	return ev, first(ms, "eventSource"), first(ms, "eventName")
}

// tokenWalk reads the members of an object whose '{' has been read, and
// its '}'.
func tokenWalk(d *json.Decoder, t *keyTable[nativeNode], ev *Event) {
	for d.More() {
		k, _ := d.Token()
		n, ok := get(t, k.(string))
		switch v, _ := d.Token(); {
		case v == json.Delim('{') && ok && n.sub != nil && !n.items:
			tokenWalk(d, n.sub, ev)
		case v == json.Delim('[') && ok && n.items:
			for d.More() {
				if v, _ := d.Token(); v == json.Delim('{') {
					tokenWalk(d, n.sub, ev)
				} else {
					tokenSkip(d, v)
				}
			}
			_, _ = d.Token()
		default:
			s, isStr := v.(string)
			switch {
			case !ok || n.sub != nil || !isStr:
				tokenSkip(d, v)
			case n.add != nil:
				n.add(ev, s)
			default:
				store(n.field(ev), s)
			}
		}
	}
	_, _ = d.Token()
}

// tokenSkip reads the rest of the value whose first token is v.
func tokenSkip(d *json.Decoder, v json.Token) {
	if v != json.Delim('{') && v != json.Delim('[') {
		return
	}
	for depth := 1; depth > 0; {
		switch v, _ := d.Token(); v {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

// checkScan holds the scan to encoding/json's reading: valid where it says
// so (and nested no deeper than MaxDepth; fastjson's validator would miss a
// control character before an escape), the same fields, the same source
// and action as first written. encoding/json replaces invalid UTF-8, which
// the scan keeps for the reader to refuse: such text is checked for
// validity only.
func checkScan(t *testing.T, raw string) {
	t.Helper()
	assert.Equal(t, json.Valid([]byte(raw)) && !tooDeep(raw), validJSON(raw), "validity of %q", raw)
	var got Event
	var sc eventScan
	err := sc.run(raw, &got)
	if i := skipSpace(raw, 0); i == len(raw) || raw[i] != '{' {
		require.ErrorIs(t, err, errNotObject, "%q", raw)
		return
	}
	if !json.Valid([]byte(raw)) || tooDeep(raw) {
		if err == nil {
			t.Fatalf("scan accepts %q, which is not valid JSON or nests too deep", raw)
		}
		return
	}
	require.NoError(t, err, "valid JSON %q", raw)
	if !utf8.ValidString(raw) {
		return
	}
	want, src, act := tokenEvent(raw)
	if sc.srcKind == 0 && sc.detailKind == 'o' && sc.detailType {
		require.NoError(t, sc.run(sc.detail, &got))
	}
	assert.Equal(t, want, got, "fields of %q", raw)
	for _, f := range []struct {
		raw  json.RawMessage
		kind byte
		val  string
	}{{src, sc.srcKind, sc.src}, {act, sc.actKind, sc.act}} {
		var s string
		switch {
		case f.raw == nil:
			assert.Zero(t, f.kind, "absent in %q", raw)
		case f.raw[0] == '"' && json.Unmarshal(f.raw, &s) == nil:
			assert.Equal(t, byte('s'), f.kind, "kind in %q", raw)
			assert.Equal(t, s, f.val, "value in %q", raw)
		default:
			assert.Equal(t, byte('v'), f.kind, "kind in %q", raw)
		}
	}
}

var scanCases = []string{
	startSession,
	`{"eventSource":"ssm.amazonaws.com","eventName":"Start\u0053ession","userIdentity":{"arn":"arn:aws:iam::1:user/\u00e9l\ud83d\ude00\"q\\\/\b\f\n\r\t"}}`,
	`{"eventSource":"","eventSource":"ssm.amazonaws.com","eventName":"StartSession"}`,
	`{"event\u0053ource":"ssm.amazonaws.com","eventName":"StartSession","requestParameters":{"target":"i-0123456789abcdef0"}}`,
	`{"eventSource":"ssm.amazonaws.com","eventName":"StartSession","userIdentity":{"arn":"\ud800x\udc00\ud800\ud800"}}`,
	`{"version":"0","detail-type":"AWS API Call via CloudTrail","detail":{"eventSource":"ssm.amazonaws.com","eventName":"StartSession","eventTime":"2026-11-30T10:00:00Z"}}`,
	`{"version":"0","detail":{"eventSource":"ssm.amazonaws.com"}}`,
	`{"detail":[1],"detail":{"eventSource":"x"},"detail-type":null}`,
	`{"eventSource":7,"eventName":"StartSession"}`,
	`{"eventSource":"ec2.amazonaws.com","eventName":"RunInstances","responseElements":{"instancesSet":{"items":[{"instanceId":"i-0123456789abcdef0"},1,{"instanceId":"i-0fedcba9876543210"},[]]}}}`,
	`{"a":[-0,1.5e+3,-2E-7,0.25,true,false,null,{},[]],"eventName":"x"}`,
	` { "eventSource" : "s" , "requestParameters" : { "target" : "t" } } `,
	"{\"eventSource\":\"a\tb\"}",
	`{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":-}`, `{"a":tru}`, `{"a":nul}`, `{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"\u00g0"}`, "{\"a\":\"\\u\x11000\"}",
	`{"a":1,}`, `{"a":[1,]}`, `{"a" 1}`, `{"a":1} x`, `{"a":1}{}`, `{"a":"b`, `{"a":[`, `{"a":{`, `{`, `{"a":1`, `{"a":"\`,
	`""`, `[{"eventSource":"s"}]`, ` `, `{1:2}`, `{"a":[1 2]}`, `{"a":{"b":1 "c":2}}`,
	strings.Repeat(`{"a":`, MaxDepth-1) + `1` + strings.Repeat(`}`, MaxDepth-1),
	strings.Repeat(`{"a":`, MaxDepth) + `[1]` + strings.Repeat(`}`, MaxDepth),
	`{"requestParameters":` + strings.Repeat(`[`, MaxDepth) + strings.Repeat(`]`, MaxDepth) + `}`,
}

func TestScanAsTheTreeReadsIt(t *testing.T) {
	for _, raw := range scanCases {
		checkScan(t, raw)
	}
}

func TestScanKeepsPlainValuesInPlace(t *testing.T) {
	var ev Event
	var sc eventScan
	require.NoError(t, sc.run(startSession, &ev))
	i := strings.Index(startSession, ev.Identity.ARN)
	require.GreaterOrEqual(t, i, 0)
	assert.Equal(t, unsafe.StringData(startSession[i:]), unsafe.StringData(ev.Identity.ARN), "a value without escapes is not copied")
}

func FuzzScan(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(string(s))
	}
	for _, s := range scanCases {
		f.Add(s)
	}
	f.Fuzz(checkScan)
}
