// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package cloudtrail // import "github.com/cloudtrail-detect/ssmsession/internal/cloudtrail"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// nativeNode is one key of CloudTrail's own event structure: a string leaf
// stored in the event (field) or added to a list (add), a nested object, or
// an array of objects (items) each read against sub. An anyValue leaf
// takes any value that is present (in JSON text: as written).
type nativeNode struct {
	field    func(*Event) *string
	add      func(*Event, string)
	sub      *keyTable[nativeNode]
	items    bool
	anyValue bool
}

func leaf(field func(*Event) *string) nativeNode { return nativeNode{field: field} }

// presence is a leaf whose presence counts whatever its value: Elastic
// takes any errorCode or errorMessage for a failure, once null, "", "-",
// "none", {} and [] are removed.
func presence(field func(*Event) *string) nativeNode { return nativeNode{field: field, anyValue: true} }

func object(fields map[string]nativeNode) nativeNode {
	t := newKeyTable(fields)
	return nativeNode{sub: &t}
}

func items(fields map[string]nativeNode) nativeNode {
	n := object(fields)
	n.items = true
	return n
}

// requestParameters are the parameters read, by key: StartSession's target
// and document, the session TerminateSession and ResumeSession name.
var requestParameters = newKeyTable(map[string]nativeNode{
	"target":       leaf(func(e *Event) *string { return &e.Target }),
	"documentName": leaf(func(e *Event) *string { return &e.DocumentName }),
	"sessionId":    leaf(func(e *Event) *string { return &e.SessionID }),
})

// responseElements are the response fields read: the session StartSession
// opened, the instances RunInstances launched.
var responseElements = newKeyTable(map[string]nativeNode{
	"sessionId": leaf(func(e *Event) *string { return &e.SessionID }),
	"instancesSet": object(map[string]nativeNode{
		"items": items(map[string]nativeNode{
			"instanceId": {add: (*Event).addInstance},
		}),
	}),
})

// native is the part of a CloudTrail event that is read, written once for
// raw JSON and parsed maps alike; each object level is read in one pass.
var native = newKeyTable(map[string]nativeNode{
	"eventSource":        leaf(func(e *Event) *string { return &e.Provider }),
	"eventName":          leaf(func(e *Event) *string { return &e.Action }),
	"errorCode":          presence(func(e *Event) *string { return &e.ErrorCode }),
	"errorMessage":       presence(func(e *Event) *string { return &e.ErrorMessage }),
	"eventTime":          leaf(func(e *Event) *string { return &e.rawTime }),
	"eventID":            leaf(func(e *Event) *string { return &e.ID }),
	"awsRegion":          leaf(func(e *Event) *string { return &e.Region }),
	"sourceIPAddress":    leaf(func(e *Event) *string { return &e.SourceAddr }),
	"recipientAccountId": leaf(func(e *Event) *string { return &e.RecipientAccountID }),
	"requestParameters":  {sub: &requestParameters},
	"responseElements":   {sub: &responseElements},
	"additionalEventData": object(map[string]nativeNode{
		"UserName": leaf(func(e *Event) *string { return &e.Identity.LoginUserName }),
	}),
	"userIdentity": object(map[string]nativeNode{
		"type":        leaf(func(e *Event) *string { return &e.Identity.Type }),
		"arn":         leaf(func(e *Event) *string { return &e.Identity.ARN }),
		"principalId": leaf(func(e *Event) *string { return &e.Identity.PrincipalID }),
		"accountId":   leaf(func(e *Event) *string { return &e.Identity.AccountID }),
		"userName":    leaf(func(e *Event) *string { return &e.Identity.UserName }),
		"accessKeyId": leaf(func(e *Event) *string { return &e.Identity.AccessKeyID }),
		"invokedBy":   leaf(func(e *Event) *string { return &e.Identity.InvokedBy }),
		"userId":      leaf(func(e *Event) *string { return &e.Identity.UserID }),
		"onBehalfOf": object(map[string]nativeNode{
			"userId": leaf(func(e *Event) *string { return &e.Identity.OnBehalfOfUserID }),
		}),
		"sessionContext": object(map[string]nativeNode{
			"sessionIssuer": object(map[string]nativeNode{
				"type":     leaf(func(e *Event) *string { return &e.Identity.IssuerType }),
				"arn":      leaf(func(e *Event) *string { return &e.Identity.IssuerARN }),
				"userName": leaf(func(e *Event) *string { return &e.Identity.IssuerUserName }),
			}),
		}),
	}),
})

// store keeps the first value of a key, as lookups by key would find it.
func store(p *string, s string) {
	if *p == "" {
		*p = clean(s)
	}
}

// walkMap reads a parsed event (a pdata map) against t.
func walkMap(m pcommon.Map, t *keyTable[nativeNode], ev *Event) {
	m.Range(func(k string, v pcommon.Value) bool {
		n, ok := get(t, k)
		switch {
		case !ok:
		case n.items:
			if v.Type() == pcommon.ValueTypeSlice {
				for i, list := 0, v.Slice(); i < list.Len(); i++ {
					if item := list.At(i); item.Type() == pcommon.ValueTypeMap {
						walkMap(item.Map(), n.sub, ev)
					}
				}
			}
		case n.sub != nil:
			if v.Type() == pcommon.ValueTypeMap {
				walkMap(v.Map(), n.sub, ev)
			}
		case v.Type() != pcommon.ValueTypeStr:
			if n.anyValue && present(v) {
				store(n.field(ev), v.AsString())
			}
		case n.add != nil:
			n.add(ev, v.Str())
		default:
			store(n.field(ev), v.Str())
		}
		return true
	})
}

// present reports whether a value that is not a string is one Elastic's
// pipeline keeps: not null, not an empty object or array.
func present(v pcommon.Value) bool {
	switch v.Type() {
	case pcommon.ValueTypeEmpty:
		return false
	case pcommon.ValueTypeMap:
		return v.Map().Len() > 0
	case pcommon.ValueTypeSlice:
		return v.Slice().Len() > 0
	}
	return true
}

// presentJSON is present for the JSON text v, validated.
func presentJSON(v string) bool {
	switch v[0] {
	case 'n':
		return false
	case '{', '[':
		return skipSpace(v, 1) < len(v)-1
	}
	return true
}

// finishNative parses what the walk kept as text.
func finishNative(ev *Event) {
	if t, ok := ParseTime(ev.rawTime); ok {
		ev.Time = t
	}
}
