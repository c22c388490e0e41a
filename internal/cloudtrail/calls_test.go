// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package cloudtrail

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/corpus"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/shapes"
)

// lifecycleWant is what the reader must find in an event of the lifecycle
// corpus, read from its JSON with encoding/json: a second opinion.
type lifecycleWant struct {
	Action, SessionID, DocumentName string
	Instances                       []string
}

func wantOf(t *testing.T, raw []byte) lifecycleWant {
	var ev struct {
		EventName         string `json:"eventName"`
		RequestParameters struct {
			DocumentName string `json:"documentName"`
			SessionID    string `json:"sessionId"`
		} `json:"requestParameters"`
		ResponseElements *struct {
			SessionID    string `json:"sessionId"`
			InstancesSet struct {
				Items []struct {
					InstanceID string `json:"instanceId"`
				} `json:"items"`
			} `json:"instancesSet"`
		} `json:"responseElements"`
	}
	require.NoError(t, json.Unmarshal(raw, &ev))
	w := lifecycleWant{Action: ev.EventName, DocumentName: ev.RequestParameters.DocumentName, SessionID: ev.RequestParameters.SessionID}
	if r := ev.ResponseElements; r != nil {
		if w.SessionID == "" {
			w.SessionID = r.SessionID
		}
		for _, it := range r.InstancesSet.Items {
			w.Instances = append(w.Instances, it.InstanceID)
		}
	}
	return w
}

// TestLifecycleCallsEveryShape reads StartSession, ResumeSession,
// TerminateSession and RunInstances in every input shape and envelope: the
// session id, document name and launched instances come out as the event
// holds them.
func TestLifecycleCallsEveryShape(t *testing.T) {
	raws := corpus.Events(t, "lifecycle")
	var want []lifecycleWant
	for _, raw := range raws {
		want = append(want, wantOf(t, raw))
	}
	r := &Reader{Calls: knownCalls}
	for _, shape := range shapes.Every {
		ld, err := shapes.Logs(shape, raws)
		require.NoError(t, err)
		var got []lifecycleWant
		var ev Event
		r.Walk(ld, Split, true, &ev, func(it Item) {
			require.NotEqual(t, Malformed, it.Result, "%s: %v", shape, it.Err)
			if it.Result == Read {
				got = append(got, lifecycleWant{ev.Action, ev.SessionID, ev.DocumentName, ev.Instances})
			}
		})
		assert.Equal(t, want, got, "%s", shape)
	}
}

// TestLifecycleFromElasticStrings: Elastic records that carry only the
// {k=v} strings (no aws.cloudtrail.flattened maps) still give the session
// id, the document name and the instances.
func TestLifecycleFromElasticStrings(t *testing.T) {
	r := &Reader{Calls: knownCalls}
	for i, raw := range corpus.Events(t, "lifecycle") {
		ev, err := shapes.Decode(raw)
		require.NoError(t, err)
		lr := plog.NewLogRecord()
		require.NoError(t, shapes.ToECS(ev, lr.Attributes(), false))
		var got Event
		res, err := r.Read(pcommon.NewResource(), lr, &got)
		require.NoError(t, err)
		require.Equal(t, Read, res, "record %d", i)
		w := wantOf(t, raw)
		assert.Equal(t, w, lifecycleWant{got.Action, got.SessionID, got.DocumentName, got.Instances}, "record %d", i)
	}
}

// TestLifecycleKVImitations: free text in a {k=v} string cannot plant a
// session id, a document name or an instance where the real keys are.
func TestLifecycleKVImitations(t *testing.T) {
	for in, want := range map[string]string{
		"{documentName=AWS-StartSSHSession, parameters={portNumber=[22]}, target=i-0a11111111111111a}": "AWS-StartSSHSession",
		"{reason=ops, documentName=AWS-StartPortForwardingSession, target=i-0a11111111111111a}":        "", // a reason first: ambiguous
		"{target=i-0a11111111111111a}":                                                            "",
		"{documentName=x y, target=i-0a11111111111111a}":                                          "",
		"{documentName=arn:aws:ssm:eu-west-1:111122223333:document/Ops-Shell, target=i-0a1b2c3d}": "arn:aws:ssm:eu-west-1:111122223333:document/Ops-Shell",
	} {
		assert.Equal(t, want, DocumentNameFromKV(in), in)
	}
	for in, want := range map[string]string{
		"{streamUrl=wss://ssmmessages.eu-west-1.amazonaws.com/v1/data-channel/alice-0a1b?role=publish_subscribe, sessionId=alice-0a1b, tokenValue=Value hidden due to security reasons.}": "alice-0a1b",
		"{sessionId=bob@example.com-0a1b}": "bob@example.com-0a1b",
		"{xsessionId=alice-0a1b}":          "",
		"{sessionId=}":                     "",
	} {
		assert.Equal(t, want, SessionIDFromKV(in), in)
	}
	var ids []string
	InstancesFromKV("{instancesSet={items=[{instanceId=i-0f5a1e2d3c4b5a697, tagSet={items=[{value=web, key=Name}]}}, {instanceId=i-0f5a1e2d3c4b5a698}]}, xinstanceId=i-0bad000000000000e}",
		func(id string) { ids = append(ids, id) })
	assert.Equal(t, []string{"i-0f5a1e2d3c4b5a697", "i-0f5a1e2d3c4b5a698"}, ids)
}

// TestInstancesBounded: a RunInstances response listing more instances than
// MaxInstances, or values that are no instance ids, keeps the bound.
func TestInstancesBounded(t *testing.T) {
	var ev Event
	for i := 0; i < MaxInstances+10; i++ {
		ev.addInstance("i-0123456789abcdef0")
	}
	ev.addInstance("not-an-instance")
	assert.Len(t, ev.Instances, MaxInstances)
}
