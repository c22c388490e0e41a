package cloudtrail

import (
	"strings"

	"github.com/valyala/fastjson"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// fields reads strings by CloudTrail's own key path from a parsed JSON object
// or a pdata map, so one fillNative serves both the raw and the map shape.
type fields interface {
	str(path ...string) string
}

type jsonFields struct{ v *fastjson.Value }

// str copies the value: the parser's memory goes back to its pool.
func (f jsonFields) str(path ...string) string {
	return clean(string(f.v.GetStringBytes(path...)))
}

type mapFields struct{ m pcommon.Map }

func (f mapFields) str(path ...string) string {
	m := f.m
	for i, key := range path {
		v, ok := m.Get(key)
		if !ok {
			return ""
		}
		if i == len(path)-1 {
			if v.Type() != pcommon.ValueTypeStr {
				return ""
			}
			return clean(v.Str())
		}
		if v.Type() != pcommon.ValueTypeMap {
			return ""
		}
		m = v.Map()
	}
	return ""
}

// fillNative reads CloudTrail's own field names (raw JSON or a parsed map).
func fillNative(f fields, ev *Event) {
	ev.Provider = f.str("eventSource")
	ev.Action = f.str("eventName")
	ev.ErrorCode = f.str("errorCode")
	ev.ErrorMessage = f.str("errorMessage")
	if t, ok := ParseTime(f.str("eventTime")); ok {
		ev.Time, ev.TimeSource = t, "eventTime"
	}
	ev.ID = f.str("eventID")
	ev.Region = f.str("awsRegion")
	ev.SourceAddr = f.str("sourceIPAddress")
	ev.RecipientAccountID = f.str("recipientAccountId")
	ev.Target = f.str("requestParameters", "target")
	ev.DocumentName = f.str("requestParameters", "documentName")
	ev.Identity = Identity{
		Type:             f.str("userIdentity", "type"),
		ARN:              f.str("userIdentity", "arn"),
		PrincipalID:      f.str("userIdentity", "principalId"),
		AccountID:        f.str("userIdentity", "accountId"),
		UserName:         f.str("userIdentity", "userName"),
		AccessKeyID:      f.str("userIdentity", "accessKeyId"),
		InvokedBy:        f.str("userIdentity", "invokedBy"),
		IssuerType:       f.str("userIdentity", "sessionContext", "sessionIssuer", "type"),
		IssuerARN:        f.str("userIdentity", "sessionContext", "sessionIssuer", "arn"),
		IssuerUserName:   f.str("userIdentity", "sessionContext", "sessionIssuer", "userName"),
		OnBehalfOfUserID: f.str("userIdentity", "onBehalfOf", "userId"),
		UserID:           f.str("userIdentity", "userId"),
		LoginUserName:    f.str("additionalEventData", "UserName"),
	}
}

// fillECS reads the fields Elastic's CloudTrail pipeline writes. Values it
// derived (event.outcome, user.name, cloud.account.id) are taken as given.
func fillECS(m, res pcommon.Map, ev *Event) {
	ev.Provider = lookupStr(m, "event.provider")
	ev.Action = lookupStr(m, "event.action")
	ev.Outcome = lookupStr(m, "event.outcome")
	ev.ErrorCode = lookupStr(m, "aws.cloudtrail.error_code")
	ev.ErrorMessage = lookupStr(m, "aws.cloudtrail.error_message")
	if t, ok := ParseTime(lookupStr(m, "@timestamp")); ok {
		ev.Time, ev.TimeSource = t, "@timestamp"
	}
	ev.ID = lookupStr(m, "event.id")
	ev.Region = firstNonEmpty(lookupStr(m, "cloud.region"), lookupStr(res, "cloud.region"))
	ev.SourceAddr = lookupStr(m, "source.address")
	ev.RecipientAccountID = lookupStr(m, "aws.cloudtrail.recipient_account_id")
	ev.AccountIDOverride = firstNonEmpty(lookupStr(m, "cloud.account.id"), lookupStr(res, "cloud.account.id"))
	ev.UserNameOverride = lookupStr(m, "user.name")
	if !readParams(m, "aws.cloudtrail.flattened.request_parameters", ev) {
		ev.Target = TargetFromKV(lookupStr(m, "aws.cloudtrail.request_parameters"))
	}
	ev.Identity = Identity{
		Type:        lookupStr(m, "aws.cloudtrail.user_identity.type"),
		ARN:         lookupStr(m, "aws.cloudtrail.user_identity.arn"),
		PrincipalID: lookupStr(m, "user.id"),
		AccessKeyID: lookupStr(m, "aws.cloudtrail.user_identity.access_key_id"),
		InvokedBy:   lookupStr(m, "aws.cloudtrail.user_identity.invoked_by"),
		IssuerType:  lookupStr(m, "aws.cloudtrail.user_identity.session_context.session_issuer.type"),
		IssuerARN:   lookupStr(m, "aws.cloudtrail.user_identity.session_context.session_issuer.arn"),
	}
}

// fillOTel reads the attributes of contrib's awslogsencodingextension, with
// or without its feature gate that renames the principal attributes.
func fillOTel(m, res pcommon.Map, ev *Event) {
	ev.Provider = lookupStr(m, "rpc.service")
	ev.Action = lookupStr(m, "rpc.method")
	ev.ErrorCode = lookupStr(m, "aws.error.code")
	ev.ErrorMessage = lookupStr(m, "aws.error.message")
	ev.ID = lookupStr(m, "aws.cloudtrail.event_id")
	ev.Region = firstNonEmpty(lookupStr(m, "cloud.region"), lookupStr(res, "cloud.region"))
	ev.SourceAddr = lookupStr(m, "source.address")
	ev.RecipientAccountID = firstNonEmpty(lookupStr(res, "cloud.account.id"), lookupStr(m, "cloud.account.id"))
	readParams(m, "aws.request.parameters", ev)
	ev.Identity = Identity{
		Type:           firstNonEmpty(lookupStr(m, "aws.principal.type"), lookupStr(m, "aws.user_identity.principal.type")),
		ARN:            firstNonEmpty(lookupStr(m, "aws.principal.arn"), lookupStr(m, "aws.user_identity.principal.arn")),
		PrincipalID:    firstNonEmpty(lookupStr(m, "aws.principal.id"), lookupStr(m, "aws.user_identity.principal.id")),
		AccountID:      lookupStr(m, "aws.user_identity.account_id"),
		UserName:       lookupStr(m, "user.name"),
		UserID:         lookupStr(m, "user.id"),
		AccessKeyID:    firstNonEmpty(lookupStr(m, "aws.access_key.id"), lookupStr(m, "aws.user_identity.access_key.id")),
		InvokedBy:      lookupStr(m, "aws.user_identity.invoked_by"),
		IssuerType:     lookupStr(m, "aws.user_identity.session_context.issuer.type"),
		IssuerARN:      lookupStr(m, "aws.user_identity.session_context.issuer.arn"),
		IssuerUserName: lookupStr(m, "aws.user_identity.session_context.issuer.user_name"),
	}
}

// readParams reads the session target from a request-parameters map at key;
// false when there is none.
func readParams(m pcommon.Map, key string, ev *Event) bool {
	params, ok := lookup(m, key)
	if !ok || params.Type() != pcommon.ValueTypeMap {
		return false
	}
	p := mapFields{params.Map()}
	ev.Target, ev.DocumentName = p.str("target"), p.str("documentName")
	return true
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
