package shapes

import (
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// ToOTel writes what contrib's awslogsencodingextension (CloudTrail format)
// makes of ev: resource attributes from the event's recipient and region, the
// record timestamp from eventTime, and its attribute names.
func ToOTel(ev map[string]any, res pcommon.Map, lr plog.LogRecord) error {
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	res.PutStr("cloud.provider", "aws")
	res.PutStr("cloud.region", str(ev, "awsRegion"))
	res.PutStr("cloud.account.id", str(ev, "recipientAccountId"))
	if t, err := time.Parse(time.RFC3339, str(ev, "eventTime")); err == nil {
		lr.SetTimestamp(pcommon.NewTimestampFromTime(t))
	}
	attrs := lr.Attributes()
	put := func(k, v string) {
		if v != "" {
			attrs.PutStr(k, v)
		}
	}
	attrs.PutStr("aws.cloudtrail.event_version", str(ev, "eventVersion"))
	attrs.PutStr("aws.cloudtrail.event_id", str(ev, "eventID"))
	put("rpc.method", str(ev, "eventName"))
	attrs.PutStr("rpc.system", str(ev, "eventType"))
	put("rpc.service", str(ev, "eventSource"))
	put("aws.request_id", str(ev, "requestID"))
	put("source.address", str(ev, "sourceIPAddress"))
	put("user_agent.original", str(ev, "userAgent"))
	ui, _ := ev["userIdentity"].(map[string]any)
	put("user.id", str(ui, "userId"))
	put("user.name", str(ui, "userName"))
	put("aws.user_identity.account_id", str(ui, "accountId"))
	put("aws.access_key.id", str(ui, "accessKeyId"))
	put("aws.user_identity.invoked_by", str(ui, "invokedBy"))
	put("aws.principal.id", str(ui, "principalId"))
	put("aws.principal.arn", str(ui, "arn"))
	put("aws.principal.type", str(ui, "type"))
	issuer := dig(ui, "sessionContext", "sessionIssuer")
	const is = "aws.user_identity.session_context.issuer."
	put(is+"type", str(issuer, "type"))
	put(is+"principal_id", str(issuer, "principalId"))
	put(is+"arn", str(issuer, "arn"))
	put(is+"account_id", str(issuer, "accountId"))
	put(is+"user_name", str(issuer, "userName"))
	put("aws.error.code", str(ev, "errorCode"))
	put("aws.error.message", str(ev, "errorMessage"))
	for _, f := range [][2]string{{"requestParameters", "aws.request.parameters"}, {"responseElements", "aws.response.elements"}} {
		if m, ok := ev[f[0]].(map[string]any); ok {
			if err := PutMap(attrs.PutEmptyMap(f[1]), doubles(plain(m)).(map[string]any)); err != nil {
				return err
			}
		}
	}
	return nil
}

// RenameGate applies the contrib feature gate that moves the principal
// attributes under aws.user_identity.
func RenameGate(attrs pcommon.Map) {
	for _, k := range []string{"aws.principal.arn", "aws.principal.type", "aws.principal.id", "aws.access_key.id"} {
		if v, ok := attrs.Get(k); ok {
			attrs.PutStr("aws.user_identity."+strings.TrimPrefix(k, "aws."), v.Str())
			attrs.Remove(k)
		}
	}
}

// doubles mirrors the encoding's generic JSON decode: numbers become doubles.
func doubles(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = doubles(x)
		}
	case []any:
		for i, x := range t {
			t[i] = doubles(x)
		}
	case int64:
		return float64(t)
	}
	return v
}
