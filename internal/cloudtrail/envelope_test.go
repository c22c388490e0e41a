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
