// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package shapes // import "github.com/cloudtrail-detect/ssmsession/internal/testsupport/shapes"

import (
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// OTelGates are the feature gates of contrib's awslogsencodingextension that
// change what its CloudTrail format emits.
type OTelGates struct {
	// UserIdentityPrefix: extension.awslogsencoding.cloudtrail.enable.user.identity.prefix
	// moves aws.principal.* and aws.access_key.id under aws.user_identity.
	UserIdentityPrefix bool
	// EmitV1RPC: extension.encoding.awslogsencoding.EmitV1RPCConventions
	// (beta, on by default since 2026-08) adds rpc.system.name and makes
	// rpc.method "<eventSource>/<eventName>".
	EmitV1RPC bool
	// BareMethod: EmitV1RPC as first released, before rpc.method became
	// fully qualified.
	BareMethod bool
	// DontEmitV0RPC: extension.encoding.awslogsencoding.DontEmitV0RPCConventions
	// (alpha; needs EmitV1RPC) drops rpc.service and rpc.system.
	DontEmitV0RPC bool
}

// ToOTelWith writes what the extension makes of ev under gates: resource
// attributes from the event's recipient and region, the record timestamp
// from eventTime, an empty body, and its attribute names.
func ToOTelWith(ev map[string]any, res pcommon.Map, lr plog.LogRecord, gates OTelGates) error {
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
	method := str(ev, "eventName")
	if gates.EmitV1RPC && !gates.BareMethod && method != "" {
		method = str(ev, "eventSource") + "/" + method
	}
	put("rpc.method", method)
	if !gates.DontEmitV0RPC {
		attrs.PutStr("rpc.system", str(ev, "eventType"))
		put("rpc.service", str(ev, "eventSource"))
	}
	if gates.EmitV1RPC {
		attrs.PutStr("rpc.system.name", str(ev, "eventType"))
	}
	put("aws.request_id", str(ev, "requestID"))
	attrs.PutStr("aws.event.category", str(ev, "eventCategory"))
	if b, ok := ev["readOnly"].(bool); ok {
		attrs.PutBool("aws.event.read_only", b)
	}
	if b, ok := ev["managementEvent"].(bool); ok {
		attrs.PutBool("aws.event.management", b)
	}
	put("source.address", str(ev, "sourceIPAddress"))
	put("user_agent.original", str(ev, "userAgent"))
	ui, _ := ev["userIdentity"].(map[string]any)
	put("user.id", str(ui, "userId"))
	put("user.name", str(ui, "userName"))
	put("aws.user_identity.account_id", str(ui, "accountId"))
	put("aws.user_identity.invoked_by", str(ui, "invokedBy"))
	principal, accessKey := "aws.principal.", "aws.access_key.id"
	if gates.UserIdentityPrefix {
		principal, accessKey = "aws.user_identity.principal.", "aws.user_identity.access_key.id"
	}
	put(accessKey, str(ui, "accessKeyId"))
	put(principal+"id", str(ui, "principalId"))
	put(principal+"arn", str(ui, "arn"))
	put(principal+"type", str(ui, "type"))
	issuer := dig(ui, "sessionContext", "sessionIssuer")
	const is = "aws.user_identity.session_context.issuer."
	put(is+"type", str(issuer, "type"))
	put(is+"principal_id", str(issuer, "principalId"))
	put(is+"arn", str(issuer, "arn"))
	put(is+"account_id", str(issuer, "accountId"))
	put(is+"user_name", str(issuer, "userName"))
	tls, _ := ev["tlsDetails"].(map[string]any)
	put("tls.protocol.version", strings.TrimPrefix(str(tls, "tlsVersion"), "TLSv"))
	put("tls.cipher", str(tls, "cipherSuite"))
	put("server.address", str(tls, "clientProvidedHostHeader"))
	put("aws.error.code", str(ev, "errorCode"))
	put("aws.error.message", str(ev, "errorMessage"))
	for _, f := range [][2]string{
		{"requestParameters", "aws.request.parameters"},
		{"responseElements", "aws.response.elements"},
		{"additionalEventData", "aws.cloudtrail.additional_event_data"},
	} {
		if m, ok := ev[f[0]].(map[string]any); ok {
			if err := PutMap(attrs.PutEmptyMap(f[1]), doubles(plain(m)).(map[string]any)); err != nil {
				return err
			}
		}
	}
	return nil
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
