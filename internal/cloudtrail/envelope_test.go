// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package cloudtrail

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Envelopes as other writers than AWS lay them out, and payloads that
// share their form without being CloudTrail's: each as a text body and as
// the map json_parser makes of it.
func TestEnvelopeForms(t *testing.T) {
	msg, err := json.Marshal(startSession)
	require.NoError(t, err)
	for _, c := range []struct {
		name         string
		body         string
		events, read int // records after the split (1: untouched), StartSessions read
	}{
		{"CloudWatch Logs payload, keys sorted (a Go re-serialiser)", `{"logEvents":[{"id":"1","message":` + string(msg) +
			`,"timestamp":1793610005000}],"logGroup":"trail","logStream":"s","messageType":"DATA_MESSAGE","owner":"111122223333","subscriptionFilters":["f"]}`, 1, 1},
		{"CloudWatch Logs control message, keys sorted", `{"logEvents":[{"id":"1","message":"CWL CONTROL MESSAGE: Checking health of destination","timestamp":1}],` +
			`"logGroup":"","logStream":"","messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","subscriptionFilters":[]}`, 1, 0},
		{"S3 event notification", `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"eu-west-1",` +
			`"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"trail"},"object":{"key":"AWSLogs/x.json.gz"}}},` +
			`{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put"}]}`, 1, 0},
		{"SNS notification", `{"Records":[{"EventSource":"aws:sns","EventVersion":"1.0","Sns":{"Message":"x"}},{"EventSource":"aws:sns"}]}`, 1, 0},
		{"CloudTrail file", `{"Records":[` + startSession + `,` + startSession + `]}`, 2, 2},
		{"application logs back to back (NDJSON in one body)", `{"level":"info","msg":"user logged in"}` + "\n" + `{"level":"info","msg":"user logged out"}`, 1, 0},
		{"empty objects back to back", `{}{}`, 1, 0},
		{"Records that is no array", `{"Records":null}`, 1, 0},
		{"Records of another application", `{"Records":5,"page":2}`, 1, 0},
		{"DATA_MESSAGE without an array", `{"messageType":"DATA_MESSAGE","logGroup":"g","logEvents":null}`, 1, 0},
		{"DATA_MESSAGE without logEvents", `{"messageType":"DATA_MESSAGE","logGroup":"g"}`, 1, 0},
	} {
		for _, asMap := range []bool{false, true} {
			if asMap && !json.Valid([]byte(c.body)) {
				continue
			}
			ld := plog.NewLogs()
			body := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body()
			if asMap {
				var raw map[string]any
				require.NoError(t, json.Unmarshal([]byte(c.body), &raw))
				require.NoError(t, body.SetEmptyMap().FromRaw(raw))
			} else {
				body.SetStr(c.body)
			}
			before := plog.NewLogs()
			ld.CopyTo(before)
			read := 0
			var ev Event
			counts := (&Reader{}).Walk(ld, Split, false, &ev, func(it Item) {
				if it.Result == Read {
					read++
				}
			})
			label := c.name
			if asMap {
				label += ", map"
			}
			assert.Equal(t, 0, counts.Malformed, label)
			assert.Equal(t, c.events, ld.LogRecordCount(), label)
			assert.Equal(t, c.read, read, label)
			if c.events == 1 && !strings.Contains(c.name, "CloudWatch Logs payload") {
				assert.Equal(t, before, ld, "%s: passed untouched", label)
				assert.Equal(t, 0, counts.Envelopes, label)
			}
		}
	}
}

// Objects back to back split whatever whitespace stands between them.
func TestConcatenatedWithAnySpace(t *testing.T) {
	for _, sep := range []string{"", "\n", "\r\n", "\n\n", " ", "\t", "\n  "} {
		ld := plog.NewLogs()
		ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr(startSession + sep + startSession + sep + startSession)
		var ev Event
		counts := (&Reader{}).Walk(ld, Split, false, &ev, func(Item) {})
		assert.Equal(t, 3, ld.LogRecordCount(), "%q", sep)
		assert.Equal(t, 1, counts.Envelopes, "%q", sep)
		assert.Equal(t, 0, counts.Malformed, "%q", sep)
	}
}

// A body whose event plainly is of no interest is searched for objects back
// to back only when one may follow its eventName; objects before it hold
// no event, and such a body passes untouched.
func TestPlainlyAloneBodies(t *testing.T) {
	other := strings.Replace(startSession, `"StartSession"`, `"DescribeInstances"`, 1)
	spaced := strings.Replace(startSession, `"eventName":`, `"eventName" : `, 1) // as Jackson's pretty printer writes it
	eventBridge := func(detail string) string {
		return `{"version":"0","detail-type":"AWS API Call via CloudTrail","source":"aws.ssm","detail":` + detail + `}`
	}
	for _, c := range []struct {
		name    string
		body    string
		records int
		read    int
	}{
		{"one event of no interest", other, 1, 0},
		{"then the call read", other + startSession, 2, 1},
		{"then the call read, a newline between", other + "\n" + startSession, 2, 1},
		{"then another of no interest", other + other, 2, 0},
		{"then the call read in a CloudWatch Logs payload", other + cwPayload(startSession), 2, 1},
		{"then the call read in an S3 object", other + `{"Records":[` + startSession + `]}`, 2, 1},
		{"then the call's name spelt with escapes", other + strings.Replace(startSession, `"eventName"`, `"\u0065ventName"`, 1), 2, 1},
		{"then an object naming no event", other + `{"note":"x"}`, 2, 0},
		{"after an object naming no event", `{"note":"x"}` + other, 1, 0},
		{"the call read, spaced before its colon, then another", spaced + "\n" + other, 2, 1},
		{"the call read in EventBridge, spaced, then another", eventBridge(spaced) + other, 2, 1},
	} {
		ld := plog.NewLogs()
		ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr(c.body)
		before := plog.NewLogs()
		ld.CopyTo(before)
		var ev Event
		read := 0
		counts := (&Reader{Calls: knownCalls}).Walk(ld, Split, false, &ev, func(it Item) {
			if it.Result == Read {
				read++
			}
		})
		assert.Equal(t, c.records, ld.LogRecordCount(), c.name)
		assert.Equal(t, c.read, read, c.name)
		assert.Equal(t, 0, counts.Malformed, c.name)
		if c.records == 1 {
			assert.Equal(t, before, ld, "%s: passed untouched", c.name)
		}
	}
	for _, body := range []string{other + "\n" + startSession[:80], other + `{"a":`} {
		ld := plog.NewLogs()
		ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr(body)
		var ev Event
		counts := (&Reader{Calls: knownCalls}).Walk(ld, Split, false, &ev, func(Item) {})
		assert.Equal(t, 1, counts.Malformed, "an object cut short after it: %q", body[len(other):])
	}
}

// TestFileWithOtherElementsIsLeftAlone: a Records array holding something
// other than events (objects) is not a CloudTrail file: the record passes
// untouched and is counted malformed once, as text and as a map.
func TestFileWithOtherElementsIsLeftAlone(t *testing.T) {
	for _, body := range []string{
		`{"Records":[` + startSession + `,1,"x",null,[]]}`,
		`{"Records":["` + strings.ReplaceAll(startSession, `"`, `\"`) + `"]}`,
	} {
		for _, asMap := range []bool{false, true} {
			ld := plog.NewLogs()
			b := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body()
			if asMap {
				var raw map[string]any
				require.NoError(t, json.Unmarshal([]byte(body), &raw))
				require.NoError(t, b.SetEmptyMap().FromRaw(raw))
			} else {
				b.SetStr(body)
			}
			before := plog.NewLogs()
			ld.CopyTo(before)
			var ev Event
			read := 0
			counts := (&Reader{}).Walk(ld, Split, false, &ev, func(it Item) {
				if it.Result == Read {
					read++
				}
			})
			assert.Equal(t, before, ld, "map %v: passed untouched", asMap)
			assert.Equal(t, 0, read, "map %v", asMap)
			assert.Equal(t, 1, counts.Malformed, "map %v: counted once", asMap)
		}
	}
}
