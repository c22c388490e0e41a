// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package cloudtrail // import "github.com/cloudtrail-detect/ssmsession/internal/cloudtrail"

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// setter stores one attribute in the event; first non-empty value wins.
type setter func(ev *Event, v pcommon.Value)

func text(field func(*Event) *string) setter {
	return func(ev *Event, v pcommon.Value) {
		if p := field(ev); *p == "" && v.Type() == pcommon.ValueTypeStr {
			*p = clean(v.Str())
		}
	}
}

// timestamp reads an event time given as text.
func timestamp(ev *Event, v pcommon.Value) {
	if v.Type() != pcommon.ValueTypeStr {
		return
	}
	if t, ok := ParseTime(v.Str()); ok {
		ev.Time = t
	}
}

// rpcMethod reads contrib's rpc.method: the eventName, or with its
// EmitV1RPCConventions gate "<eventSource>/<eventName>".
func rpcMethod(ev *Event, v pcommon.Value) {
	if service, method, ok := splitMethod(v); ok {
		if ev.Provider == "" {
			ev.Provider = service
		}
		if ev.Action == "" {
			ev.Action = method
		}
		return
	}
	text(func(e *Event) *string { return &e.Action })(ev, v)
}

// additionalEventData reads the Identity Center sign-in name kept in
// contrib's aws.cloudtrail.additional_event_data map.
func additionalEventData(ev *Event, v pcommon.Value) {
	if v.Type() != pcommon.ValueTypeMap {
		return
	}
	if name, ok := v.Map().Get("UserName"); ok && name.Type() == pcommon.ValueTypeStr {
		store(&ev.Identity.LoginUserName, name.Str())
	}
}

// params reads a request-parameters map; it wins over the text form.
func params(ev *Event, v pcommon.Value) {
	if v.Type() == pcommon.ValueTypeMap {
		ev.Target = ""
		walkMap(v.Map(), &requestParameters, ev)
	}
}

// response reads a response-elements map; it wins over the text form.
func response(ev *Event, v pcommon.Value) {
	if v.Type() == pcommon.ValueTypeMap {
		ev.rawResponse = ""
		walkMap(v.Map(), &responseElements, ev)
	}
}

// ecsFields are the fields Elastic's CloudTrail pipeline writes. Values it
// derived (event.outcome, user.name, cloud.account.id) are taken as given.
var ecsFields = newKeyTable(map[string]setter{
	"event.provider":                             text(func(e *Event) *string { return &e.Provider }),
	"event.action":                               text(func(e *Event) *string { return &e.Action }),
	"event.outcome":                              text(func(e *Event) *string { return &e.Outcome }),
	"event.id":                                   text(func(e *Event) *string { return &e.ID }),
	"@timestamp":                                 timestamp,
	"aws.cloudtrail.error_code":                  text(func(e *Event) *string { return &e.ErrorCode }),
	"aws.cloudtrail.error_message":               text(func(e *Event) *string { return &e.ErrorMessage }),
	"aws.cloudtrail.recipient_account_id":        text(func(e *Event) *string { return &e.RecipientAccountID }),
	"cloud.region":                               text(func(e *Event) *string { return &e.Region }),
	"cloud.account.id":                           text(func(e *Event) *string { return &e.AccountIDOverride }),
	"source.address":                             text(func(e *Event) *string { return &e.SourceAddr }),
	"user.name":                                  text(func(e *Event) *string { return &e.UserNameOverride }),
	"user.id":                                    text(func(e *Event) *string { return &e.Identity.PrincipalID }),
	"aws.cloudtrail.user_identity.type":          text(func(e *Event) *string { return &e.Identity.Type }),
	"aws.cloudtrail.user_identity.arn":           text(func(e *Event) *string { return &e.Identity.ARN }),
	"aws.cloudtrail.user_identity.invoked_by":    text(func(e *Event) *string { return &e.Identity.InvokedBy }),
	"aws.cloudtrail.user_identity.access_key_id": text(func(e *Event) *string { return &e.Identity.AccessKeyID }),
	"aws.cloudtrail.user_identity.session_context.session_issuer.type": text(func(e *Event) *string { return &e.Identity.IssuerType }),
	"aws.cloudtrail.user_identity.session_context.session_issuer.arn":  text(func(e *Event) *string { return &e.Identity.IssuerARN }),
	"aws.cloudtrail.flattened.request_parameters":                      params,
	"aws.cloudtrail.flattened.response_elements":                       response,
	// Parsed after the pass, where no map gave the fields.
	"aws.cloudtrail.request_parameters": text(func(e *Event) *string { return &e.rawParams }),
	"aws.cloudtrail.response_elements":  rawResponse,
})

// rawResponse keeps the response_elements string unless a map came first.
func rawResponse(ev *Event, v pcommon.Value) {
	if ev.SessionID == "" && len(ev.Instances) == 0 {
		keepRawResponse(ev, v)
	}
}

var keepRawResponse = text(func(e *Event) *string { return &e.rawResponse })

// otelFields are the attributes of contrib's awslogsencodingextension
// (CloudTrail format) under every combination of its feature gates: the
// principal attributes with or without the aws.user_identity prefix
// (cloudtrail.enable.user.identity.prefix), rpc.method bare or qualified
// (EmitV1RPCConventions), rpc.service present or not
// (DontEmitV0RPCConventions). rpc.system and rpc.system.name are not read.
var otelFields = newKeyTable(map[string]setter{
	"rpc.service":                                        text(func(e *Event) *string { return &e.Provider }),
	"rpc.method":                                         rpcMethod,
	"aws.error.code":                                     text(func(e *Event) *string { return &e.ErrorCode }),
	"aws.error.message":                                  text(func(e *Event) *string { return &e.ErrorMessage }),
	"aws.cloudtrail.event_id":                            text(func(e *Event) *string { return &e.ID }),
	"cloud.region":                                       text(func(e *Event) *string { return &e.Region }),
	"cloud.account.id":                                   text(func(e *Event) *string { return &e.RecipientAccountID }),
	"source.address":                                     text(func(e *Event) *string { return &e.SourceAddr }),
	"aws.request.parameters":                             params,
	"aws.response.elements":                              response,
	"aws.principal.type":                                 text(func(e *Event) *string { return &e.Identity.Type }),
	"aws.principal.arn":                                  text(func(e *Event) *string { return &e.Identity.ARN }),
	"aws.principal.id":                                   text(func(e *Event) *string { return &e.Identity.PrincipalID }),
	"aws.access_key.id":                                  text(func(e *Event) *string { return &e.Identity.AccessKeyID }),
	"aws.user_identity.account_id":                       text(func(e *Event) *string { return &e.Identity.AccountID }),
	"user.name":                                          text(func(e *Event) *string { return &e.Identity.UserName }),
	"user.id":                                            text(func(e *Event) *string { return &e.Identity.UserID }),
	"aws.user_identity.invoked_by":                       text(func(e *Event) *string { return &e.Identity.InvokedBy }),
	"aws.user_identity.principal.type":                   text(func(e *Event) *string { return &e.Identity.Type }),
	"aws.user_identity.principal.arn":                    text(func(e *Event) *string { return &e.Identity.ARN }),
	"aws.user_identity.principal.id":                     text(func(e *Event) *string { return &e.Identity.PrincipalID }),
	"aws.user_identity.access_key.id":                    text(func(e *Event) *string { return &e.Identity.AccessKeyID }),
	"aws.user_identity.session_context.issuer.type":      text(func(e *Event) *string { return &e.Identity.IssuerType }),
	"aws.user_identity.session_context.issuer.arn":       text(func(e *Event) *string { return &e.Identity.IssuerARN }),
	"aws.user_identity.session_context.issuer.user_name": text(func(e *Event) *string { return &e.Identity.IssuerUserName }),
	"aws.cloudtrail.additional_event_data":               additionalEventData,
})

// fillTable reads the fields of table from m in one pass over its keys;
// nested maps (Elastic's {"event":{"provider":...}} form) are looked up by
// path instead.
func fillTable(m pcommon.Map, table *keyTable[setter], nested bool, ev *Event) {
	if nested {
		table.each(func(k string, set setter) {
			if v, ok := lookup(m, k); ok {
				set(ev, v)
			}
		})
		return
	}
	m.Range(func(k string, v pcommon.Value) bool {
		if set, ok := get(table, k); ok {
			set(ev, v)
		}
		return true
	})
}

func fillECS(m, res pcommon.Map, nested bool, ev *Event) {
	fillTable(m, &ecsFields, nested, ev)
	fromKV(ev)
	fromResource(res, "cloud.region", &ev.Region)
	fromResource(res, "cloud.account.id", &ev.AccountIDOverride)
}

func fillOTel(m, res pcommon.Map, _ bool, ev *Event) {
	fillTable(m, &otelFields, false, ev) // contrib writes flat attributes only
	fromResource(res, "cloud.region", &ev.Region)
	// The resource carries the recipient account in this mapping.
	if acct := lookupStr(res, "cloud.account.id"); acct != "" {
		ev.RecipientAccountID = acct
	}
}

// fromKV fills what no map gave from Elastic's {k=v} strings. A
// StartSession's session id is read from its response only: its request
// holds free text (reason) that could imitate the key.
func fromKV(ev *Event) {
	if p := ev.rawParams; p != "" {
		if ev.Target == "" {
			ev.Target = TargetFromKV(p)
		}
		if ev.DocumentName == "" {
			ev.DocumentName = DocumentNameFromKV(p)
		}
		if ev.SessionID == "" && !ev.Is(StartSession) {
			ev.SessionID = SessionIDFromKV(p)
		}
	}
	if r := ev.rawResponse; r != "" {
		if ev.SessionID == "" {
			ev.SessionID = SessionIDFromKV(r)
		}
		if ev.Is(RunInstances) {
			InstancesFromKV(r, ev.addInstance)
		}
	}
}

// fromResource fills an empty field from a resource attribute.
func fromResource(res pcommon.Map, key string, field *string) {
	if *field == "" {
		*field = lookupStr(res, key)
	}
}

// lookup finds a dotted field either flat ("event.provider") or nested
// ({"event":{"provider":...}}): both forms reach collectors from Elastic.
func lookup(m pcommon.Map, key string) (pcommon.Value, bool) {
	if v, ok := m.Get(key); ok {
		return v, true
	}
	for i := strings.IndexByte(key, '.'); i > 0; {
		if v, ok := m.Get(key[:i]); ok && v.Type() == pcommon.ValueTypeMap {
			if found, ok := lookup(v.Map(), key[i+1:]); ok {
				return found, true
			}
		}
		next := strings.IndexByte(key[i+1:], '.')
		if next < 0 {
			break
		}
		i += next + 1
	}
	return pcommon.Value{}, false
}

func lookupStr(m pcommon.Map, key string) string {
	v, ok := lookup(m, key)
	if !ok || v.Type() != pcommon.ValueTypeStr {
		return ""
	}
	return clean(v.Str())
}
