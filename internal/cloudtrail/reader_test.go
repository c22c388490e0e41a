// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package cloudtrail

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/corpus"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/samples"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/traffic"
)

const startSession = `{"eventVersion":"1.08","eventTime":"2026-11-02T09:15:04Z","eventSource":"ssm.amazonaws.com",` +
	`"eventName":"StartSession","awsRegion":"eu-west-1","sourceIPAddress":"198.51.100.7","eventID":"0b5b3c52-7f1e-4b43-9d1a-2f0d7a1c9e01",` +
	`"recipientAccountId":"210987654321","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLEID:i-0a1b2c3d4e5f60718",` +
	`"arn":"arn:aws:sts::210987654321:assumed-role/web-tier/i-0a1b2c3d4e5f60718","accountId":"210987654321",` +
	`"sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::210987654321:role/app/web-tier","userName":"web-tier"}}},` +
	`"requestParameters":{"target":"i-0fedcba9876543210","documentName":"AWS-StartPortForwardingSession"}}`

func readRaw(t *testing.T, body string) (Result, Event, error) {
	t.Helper()
	lr := plog.NewLogRecord()
	lr.Body().SetStr(body)
	var r Reader
	var ev Event
	got, err := r.Read(pcommon.NewResource(), lr, &ev)
	return got, ev, err
}

func readRawResult(body string) (Result, error) {
	lr := plog.NewLogRecord()
	lr.Body().SetStr(body)
	var r Reader
	var ev Event
	return r.Read(pcommon.NewResource(), lr, &ev)
}

func TestReadRawStartSession(t *testing.T) {
	got, ev, err := readRaw(t, startSession)
	require.NoError(t, err)
	require.Equal(t, Read, got)
	assert.Equal(t, "web-tier", ev.UserName())
	assert.Equal(t, "arn:aws:iam::210987654321:role/app/web-tier", ev.Principal())
	assert.Equal(t, "210987654321", ev.AccountID())
	assert.Equal(t, "i-0fedcba9876543210", ev.Target)
	assert.Equal(t, "AWS-StartPortForwardingSession", ev.DocumentName)
	assert.Equal(t, "i-0a1b2c3d4e5f60718", ev.SourceInstance())
	assert.Equal(t, time.Date(2026, 11, 2, 9, 15, 4, 0, time.UTC), ev.Time)
	assert.True(t, ev.Success())
}

func TestReadBytesBody(t *testing.T) {
	lr := plog.NewLogRecord()
	lr.Body().SetEmptyBytes().FromRaw([]byte(startSession))
	var r Reader
	var ev Event
	got, err := r.Read(pcommon.NewResource(), lr, &ev)
	require.NoError(t, err)
	assert.Equal(t, Read, got)
}

// The prefilter must not be a way to hide a StartSession: JSON may spell the
// names with \u escapes, which CloudTrail consumers decode.
func TestReadEscapedNamesAreNotHidden(t *testing.T) {
	body := strings.Replace(startSession, `"StartSession"`, `"Start\u0053ession"`, 1)
	body = strings.Replace(body, `"ssm.amazonaws.com"`, `"ssm\u002eamazonaws.com"`, 1)
	got, ev, err := readRaw(t, body)
	require.NoError(t, err)
	require.Equal(t, Read, got)
	assert.Equal(t, "i-0fedcba9876543210", ev.Target)
}

func TestReadSkipsOtherEvents(t *testing.T) {
	for name, body := range map[string]string{
		"other action":   strings.Replace(startSession, "StartSession", "TerminateSession", 1),
		"other provider": strings.Replace(startSession, `"ssm.amazonaws.com"`, `"ec2.amazonaws.com"`, 1),
		"not json":       "2026-11-02 09:15:04 INFO StartSession ssm.amazonaws.com happened",
		"other json":     `{"msg":"StartSession via ssm.amazonaws.com","level":"info"}`,
		"a json array":   `["StartSession","ssm.amazonaws.com"]`,
		"empty":          "",
	} {
		got, _, err := readRaw(t, body)
		assert.NoError(t, err, name)
		assert.Equal(t, Skip, got, name)
	}
}

func TestReadMalformed(t *testing.T) {
	for name, body := range map[string]string{
		"truncated":         startSession[:len(startSession)-20],
		"eventSource int":   strings.Replace(startSession, `"eventSource":"ssm.amazonaws.com"`, `"eventSource":7`, 1) + ` ` + `"ssm.amazonaws.com"`,
		"invalid utf8 arn":  strings.Replace(startSession, "web-tier/i-0a1b", "web-tier/\xff\xfe-0a1b", 1),
		"huge principal id": strings.Replace(startSession, "AROAEXAMPLEID", strings.Repeat("A", MaxFieldLen+1), 1),
		"too deep":          `{"eventVersion":"1.09","a":` + strings.Repeat(`{"a":`, 400) + `"StartSession ssm.amazonaws.com"` + strings.Repeat(`}`, 401),
		"deeper than ours":  `{"eventSource":"ssm.amazonaws.com","eventName":"StartSession","x":` + strings.Repeat(`[`, MaxDepth) + strings.Repeat(`]`, MaxDepth) + `}`,
	} {
		got, _, err := readRaw(t, body)
		assert.Equal(t, Malformed, got, name)
		assert.Error(t, err, name)
	}
}

// Text that cannot be parsed and names no CloudTrail key is another log,
// not a CloudTrail record gone bad: skipped, not counted as malformed.
func TestUnreadableOtherLogsAreSkipped(t *testing.T) {
	for _, body := range []string{
		`{"level":"info","msg":"caf\u00e9 StartSession"} trailing`,
		`{"msg":"caf\u00e9","trunc`,
		strings.Repeat(`{"a":`, 400) + `"StartSession ssm.amazonaws.com"` + strings.Repeat(`}`, 400),
	} {
		got, _, err := readRaw(t, body)
		assert.Equal(t, Skip, got, body[:20])
		assert.NoError(t, err)
	}
}

func TestReadWrongTypesInMaps(t *testing.T) {
	lr := plog.NewLogRecord()
	lr.Attributes().PutInt("event.provider", 3)
	lr.Attributes().PutStr("event.action", "StartSession")
	var r Reader
	var ev Event
	got, err := r.Read(pcommon.NewResource(), lr, &ev)
	assert.Equal(t, Malformed, got)
	assert.Error(t, err)

	// Naming another call, it is skipped unread, as the same text body is.
	lr.Attributes().PutStr("event.action", "DescribeInstances")
	got, err = r.Read(pcommon.NewResource(), lr, &ev)
	assert.Equal(t, Skip, got)
	assert.NoError(t, err)
	got, err = readRawResult(`{"eventSource":3,"eventName":"DescribeInstances"}`)
	assert.Equal(t, Skip, got)
	assert.NoError(t, err)

	// A userIdentity of the wrong type is simply absent, not a crash.
	lr = plog.NewLogRecord()
	m := lr.Body().SetEmptyMap()
	m.PutStr("eventSource", ProviderSSM)
	m.PutStr("eventName", ActionStart)
	m.PutStr("userIdentity", "not a map")
	m.PutEmptySlice("requestParameters")
	got, err = r.Read(pcommon.NewResource(), lr, &ev)
	require.NoError(t, err)
	assert.Equal(t, Read, got)
	assert.Empty(t, ev.Principal())
	assert.Empty(t, ev.Target)
}

// TestOtherAttributesDoNotHideTheBody: attributes that share a shape's key
// names but are not a CloudTrail event (a gRPC call's rpc.service, a
// receiver's eventSource "aws:sqs") leave a text body to be read.
func TestOtherAttributesDoNotHideTheBody(t *testing.T) {
	for _, attrs := range []map[string]string{
		{"rpc.service": "grpc.health.v1.Health"},
		{"rpc.method": "grpc.health.v1.Health/Check"},
		{"rpc.service": "grpc.health.v1.Health", "rpc.method": "Check"},
		{"event.provider": "kinesis"},
		{"eventSource": "aws:sqs"},
		{"eventSource": "aws:sqs", "eventName": "ReceiveMessage"},
	} {
		for _, hinted := range []bool{false, true} {
			lr := plog.NewLogRecord()
			lr.Body().SetStr(startSession)
			for k, v := range attrs {
				lr.Attributes().PutStr(k, v)
			}
			var v view
			h := hint{}
			if hinted { // the batch's records so far had the attributes' shape
				for i, s := range mapShapes {
					if _, ok := attrs[s.provider]; ok {
						h.index = i + 1
					}
				}
			}
			var r Reader
			r.look(lr, &h, &v)
			var ev Event
			got, err := r.readView(pcommon.NewResource(), &v, &ev)
			require.NoError(t, err)
			assert.Equal(t, Read, got, "%v (hinted %v)", attrs, hinted)
		}
	}
}

// TestECSDataset: an Elastic document is read when its dataset, on the
// record or its resource, is aws.cloudtrail or not named; another dataset's
// documents are not CloudTrail's.
func TestECSDataset(t *testing.T) {
	for _, c := range []struct {
		record, resource map[string]string
		want             Result
	}{
		{nil, nil, Read},
		{map[string]string{"data_stream.dataset": "aws.cloudtrail"}, nil, Read},
		{map[string]string{"event.dataset": "aws.cloudtrail"}, nil, Read},
		{nil, map[string]string{"data_stream.dataset": "aws.cloudtrail"}, Read},
		{map[string]string{"data_stream.dataset": "aws.guardduty"}, nil, Skip},
		{map[string]string{"event.dataset": "aws.guardduty"}, nil, Skip},
		{nil, map[string]string{"data_stream.dataset": "aws.guardduty"}, Skip},
		{map[string]string{"data_stream.dataset": "aws.cloudtrail", "event.dataset": "aws.vpcflow"}, nil, Skip},
	} {
		lr := plog.NewLogRecord()
		lr.Attributes().PutStr("event.provider", ProviderSSM)
		lr.Attributes().PutStr("event.action", ActionStart)
		for k, v := range c.record {
			lr.Attributes().PutStr(k, v)
		}
		res := pcommon.NewResource()
		for k, v := range c.resource {
			res.Attributes().PutStr(k, v)
		}
		var r Reader
		var ev Event
		got, err := r.Read(res, lr, &ev)
		require.NoError(t, err)
		assert.Equal(t, c.want, got, "record %v, resource %v", c.record, c.resource)
	}
}

func TestReadECSNested(t *testing.T) {
	lr := plog.NewLogRecord()
	require.NoError(t, lr.Attributes().FromRaw(map[string]any{
		"event": map[string]any{"provider": ProviderSSM, "action": ActionStart, "outcome": "success"},
		"user":  map[string]any{"name": "ops-admin"},
		"cloud": map[string]any{"account": map[string]any{"id": "123456789012"}},
		"aws": map[string]any{"cloudtrail": map[string]any{
			"request_parameters": "{reason=x, target=i-0123456789abcdef0}",
			"user_identity":      map[string]any{"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/ops-admin"},
		}},
	}))
	var r Reader
	var ev Event
	got, err := r.Read(pcommon.NewResource(), lr, &ev)
	require.NoError(t, err)
	require.Equal(t, Read, got)
	assert.Equal(t, "ops-admin", ev.UserName())
	assert.Equal(t, "123456789012", ev.AccountID())
	assert.Equal(t, "i-0123456789abcdef0", ev.Target)
	assert.Equal(t, "arn:aws:iam::123456789012:user/ops-admin", ev.Principal())
}

func TestTimeFallbacks(t *testing.T) {
	noTime := strings.Replace(startSession, `"eventTime":"2026-11-02T09:15:04Z",`, "", 1)
	lr := plog.NewLogRecord()
	lr.Body().SetStr(noTime)
	ts := time.Date(2026, 11, 2, 9, 16, 0, 0, time.UTC)
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(ts.Add(time.Minute)))
	var r Reader
	var ev Event
	_, err := r.Read(pcommon.NewResource(), lr, &ev)
	require.NoError(t, err)
	assert.Equal(t, ts.Add(time.Minute), ev.Time)

	lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	_, err = r.Read(pcommon.NewResource(), lr, &ev)
	require.NoError(t, err)
	assert.Equal(t, ts, ev.Time)
}

func TestParseTime(t *testing.T) {
	want := time.Date(2025, 2, 19, 20, 13, 49, 0, time.UTC)
	for _, s := range []string{"2025-02-19T20:13:49Z", "2025-02-19 20:13:49", "2025-02-19 20:13:49.000000000", "2025-02-19T20:13:49", "2025-02-19T21:13:49+01:00"} {
		got, ok := ParseTime(s)
		assert.True(t, ok, s)
		assert.Equal(t, want, got, s)
	}
	for _, s := range []string{"", "yesterday", "2025-02-19", "1739996029"} {
		_, ok := ParseTime(s)
		assert.False(t, ok, s)
	}
}

func TestIdentityNormalisation(t *testing.T) {
	for name, tc := range map[string]struct {
		id                  Identity
		userName, principal string
	}{
		"iam user":    {Identity{Type: "IAMUser", UserName: "alice", ARN: "arn:aws:iam::1:user/alice"}, "alice", "arn:aws:iam::1:user/alice"},
		"root":        {Identity{Type: "Root", ARN: "arn:aws:iam::1:root", PrincipalID: "1"}, "", "arn:aws:iam::1:root"},
		"assumed":     {Identity{Type: "AssumedRole", ARN: "arn:aws:sts::1:assumed-role/Admin/bob", IssuerARN: "arn:aws:iam::1:role/Admin", IssuerUserName: "Admin"}, "Admin", "arn:aws:iam::1:role/Admin"},
		"no issuer":   {Identity{Type: "AssumedRole", ARN: "arn:aws-us-gov:sts::1:assumed-role/Admin/bob"}, "", "arn:aws-us-gov:iam::1:role/Admin"},
		"linked role": {Identity{Type: "AssumedRole", ARN: "arn:aws:sts::1:assumed-role/AWSServiceRoleForSSM/x", IssuerARN: "arn:aws:iam::1:role/aws-service-role/ssm.amazonaws.com/AWSServiceRoleForSSM", IssuerUserName: "AWSServiceRoleForSSM"}, "", "arn:aws:iam::1:role/aws-service-role/ssm.amazonaws.com/AWSServiceRoleForSSM"},
		"federated":   {Identity{Type: "FederatedUser", ARN: "arn:aws:sts::1:federated-user/x", IssuerARN: "arn:aws:iam::1:user/feduser", IssuerUserName: "feduser"}, "feduser", "arn:aws:iam::1:user/feduser"},
		"idc":         {Identity{Type: "IdentityCenterUser", OnBehalfOfUserID: "9067-abcd", LoginUserName: "carol@example.com"}, "carol@example.com", "9067-abcd"},
		"service":     {Identity{Type: "AWSService", InvokedBy: "ec2.amazonaws.com"}, "", "ec2.amazonaws.com"},
		"unknown":     {Identity{Type: "SAMLUser", UserName: "dave", PrincipalID: "SAML:dave"}, "dave", "SAML:dave"},
	} {
		ev := Event{Identity: tc.id}
		assert.Equal(t, tc.userName, ev.UserName(), name)
		assert.Equal(t, tc.principal, ev.Principal(), name)
	}
}

func TestIsInstanceID(t *testing.T) {
	for s, want := range map[string]bool{
		"i-0a1b2c3d4e5f60718": true, "i-0a1b2c3d": true, "i-eA1d1296c1dE3Aa1f": true,
		"i-": false, "mi-0a1b2c3d4e5f60718": false, "i-0a1b2c3d4e5f6071z": false, "bob": false,
	} {
		assert.Equal(t, want, IsInstanceID(s), s)
	}
}

// plainlyOther decides from the event's own eventName, and leaves every
// event it cannot be sure of to the parser.
func TestPlainlyOther(t *testing.T) {
	other := strings.Replace(startSession, `"StartSession"`, `"DescribeInstances"`, 1)
	eventBridge := func(detail string) string {
		return `{"version":"0","id":"6a7e8feb-b491-4cf7-a9f1-bf3703467718","detail-type":"AWS API Call via CloudTrail",` +
			`"source":"aws.ssm","detail":` + detail + `}`
	}
	r := Reader{Calls: []Call{StartSession}}
	for name, tc := range map[string]struct {
		raw  string
		want bool
	}{
		"another call":                {other, true},
		"the call read":               {startSession, false},
		"another call, EventBridge":   {eventBridge(other), true},
		"the call read, EventBridge":  {eventBridge(startSession), false},
		"spaced as a pretty printer":  {strings.Replace(other, `"eventName":"`, `"eventName": "`, 1), true},
		"an escape in its name":       {strings.Replace(startSession, `"StartSession"`, `"Start\u0053ession"`, 1), false},
		"an escape before it":         {strings.Replace(other, `"eventSource"`, `"event\u0053ource"`, 1), false},
		"no eventName":                {`{"eventSource":"ssm.amazonaws.com","detail":"StartSession"}`, false},
		"eventName not a string":      {`{"eventName":7,"x":"StartSession"}`, false},
		"nested, not the event's":     {`{"a":{"eventName":"DescribeInstances"},"eventName":"StartSession"}`, false},
		"depth 2 outside EventBridge": {`{"wrap":` + other + `}`, false},
		"depth 3 inside EventBridge":  {eventBridge(`{"inner":` + other + `}`), false},
		"unterminated name":           {`{"eventName":"Describe`, false},
		"not JSON, mentions the key":  {`eventName": "x"`, false},
	} {
		assert.Equal(t, tc.want, r.plainlyOther(tc.raw), name)
	}
}

// On every event AWS and our generator write, plainlyOther agrees with the
// parser: it never rejects a call the reader reads; plainlyAlone, which
// spares the search for objects back to back, is stricter still.
func TestPlainlyOtherAgreesWithTheParser(t *testing.T) {
	raws := append(corpus.Events(t, "identities"), corpus.Events(t, "lifecycle")...)
	for _, s := range samples.Load(t) {
		raws = append(raws, []byte(s.Raw))
	}
	for _, raw := range traffic.Mix(3, 2000, 0.05, 50) {
		raws = append(raws, raw, []byte(`{"version":"0","detail-type":"AWS API Call via CloudTrail","detail":`+string(raw)+`}`))
	}
	r := Reader{Calls: knownCalls}
	rejected, alone := 0, 0
	for _, raw := range raws {
		if r.plainlyAlone(string(raw)) {
			alone++
			require.True(t, r.plainlyOther(string(raw)), "%s", raw)
		}
		if !r.plainlyOther(string(raw)) {
			continue
		}
		rejected++
		var v map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(raw, &v))
		if d, ok := v["detail"]; ok {
			require.NoError(t, json.Unmarshal(d, &v))
		}
		var name string
		_ = json.Unmarshal(v["eventName"], &name)
		for _, c := range knownCalls {
			require.NotEqual(t, c.Action, name, "%s", raw)
		}
	}
	assert.Greater(t, rejected, len(raws)/2, "most events are rejected without parsing")
	assert.Greater(t, alone, rejected*9/10, "and nearly all without a search for objects back to back")
}

// TestIndexRareIsIndex: hopping between a key's rare byte finds what
// strings.Index finds, at the edges of the text too.
func TestIndexRareIsIndex(t *testing.T) {
	for _, s := range []string{
		"", `"eventNam`, `"eventName":`, `x"eventName":`, `"eventNameN"eventName":`, `NNN"eventName"`,
		`{"a":"N","eventName":"X","eventName":"Y"}`, startSession, startSession[:len(startSession)/3],
	} {
		for _, key := range []string{`"eventName":`, `"eventTime"`, `"eventSource"`} {
			assert.Equal(t, strings.Index(s, key), indexRare(s, key, len(`"event`)), "%q in %q", key, s)
		}
	}
}

// An errorCode or errorMessage that is present is a failure whatever its
// value, as Elastic's pipeline has it once null, "", "-", "none", {} and []
// are removed: the same in text and in a parsed map.
func TestErrorOfAnyValueIsAFailure(t *testing.T) {
	for value, success := range map[string]bool{
		`403`: false, `true`: false, `["User is not authorized"]`: false, `{"code":"AccessDenied"}`: false, `"AccessDenied"`: false,
		`null`: true, `{}`: true, `[ ]`: true, `""`: true, `"-"`: true, `"none"`: true,
	} {
		for _, key := range []string{"errorCode", "errorMessage"} {
			body := strings.Replace(startSession, `"awsRegion"`, `"`+key+`":`+value+`,"awsRegion"`, 1)
			got, ev, err := readRaw(t, body)
			require.NoError(t, err, body)
			require.Equal(t, Read, got, body)
			assert.Equal(t, success, ev.Success(), "%s %s, text", key, value)

			var raw map[string]any
			require.NoError(t, json.Unmarshal([]byte(body), &raw))
			lr := plog.NewLogRecord()
			require.NoError(t, lr.Body().SetEmptyMap().FromRaw(raw))
			var r Reader
			got, err = r.Read(pcommon.NewResource(), lr, &ev)
			require.NoError(t, err)
			require.Equal(t, Read, got)
			assert.Equal(t, success, ev.Success(), "%s %s, map", key, value)
		}
	}
}
