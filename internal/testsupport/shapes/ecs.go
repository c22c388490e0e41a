// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package shapes // import "github.com/cloudtrail-detect/ssmsession/internal/testsupport/shapes"

import (
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// ToECS writes the fields Elastic's newest CloudTrail pipeline produces for
// ev as flat attributes. flattened adds aws.cloudtrail.flattened.* maps; without
// them only the Java-style request_parameters and response_elements strings
// carry the parameters and the response.
func ToECS(ev map[string]any, attrs pcommon.Map, flattened bool) error {
	ev, _ = dropEmpty(ev).(map[string]any) // nil when everything was empty
	if ev == nil {
		ev = map[string]any{}
	}
	ui, _ := ev["userIdentity"].(map[string]any)
	issuer := dig(ui, "sessionContext", "sessionIssuer")
	put := func(k string, v any) {
		if s, ok := v.(string); ok && s != "" {
			attrs.PutStr(k, s)
		}
	}
	attrs.PutStr("data_stream.dataset", "aws.cloudtrail")
	attrs.PutStr("event.dataset", "aws.cloudtrail")
	attrs.PutStr("event.kind", "event")
	attrs.PutStr("cloud.provider", "aws")
	if t, ok := ev["eventTime"].(string); ok {
		for _, layout := range []string{time.RFC3339, "2006-01-02 15:04:05.999999999"} {
			if ts, err := time.Parse(layout, t); err == nil {
				attrs.PutStr("@timestamp", ts.UTC().Format("2006-01-02T15:04:05.000Z"))
				break
			}
		}
	}
	put("event.provider", ev["eventSource"])
	put("event.action", ev["eventName"])
	put("event.id", ev["eventID"])
	put("cloud.region", ev["awsRegion"])
	put("source.address", ev["sourceIPAddress"])
	put("user_agent.original", ev["userAgent"])
	put("aws.cloudtrail.error_code", ev["errorCode"])
	put("aws.cloudtrail.error_message", ev["errorMessage"])
	put("aws.cloudtrail.recipient_account_id", ev["recipientAccountId"])
	if ev["errorCode"] != nil || ev["errorMessage"] != nil {
		attrs.PutStr("event.outcome", "failure")
	} else {
		attrs.PutStr("event.outcome", "success")
	}
	if acct, ok := ui["accountId"].(string); ok {
		attrs.PutStr("cloud.account.id", acct)
	} else {
		put("cloud.account.id", ev["recipientAccountId"])
	}
	put("user.name", elasticUserName(ui, ev))
	put("user.id", elasticUserID(ui))
	put("aws.cloudtrail.user_identity.type", ui["type"])
	put("aws.cloudtrail.user_identity.arn", ui["arn"])
	put("aws.cloudtrail.user_identity.access_key_id", ui["accessKeyId"])
	put("aws.cloudtrail.user_identity.invoked_by", ui["invokedBy"])
	const si = "aws.cloudtrail.user_identity.session_context.session_issuer."
	put(si+"type", issuer["type"])
	put(si+"arn", issuer["arn"])
	put(si+"principal_id", issuer["principalId"])
	put(si+"account_id", issuer["accountId"])
	if params, ok := ev["requestParameters"].(map[string]any); ok {
		attrs.PutStr("aws.cloudtrail.request_parameters", JavaString(params))
		if flattened {
			if err := PutMap(attrs.PutEmptyMap("aws.cloudtrail.flattened.request_parameters"), plain(params).(map[string]any)); err != nil {
				return err
			}
		}
	}
	if resp, ok := ev["responseElements"].(map[string]any); ok {
		attrs.PutStr("aws.cloudtrail.response_elements", JavaString(resp))
		if flattened {
			if err := PutMap(attrs.PutEmptyMap("aws.cloudtrail.flattened.response_elements"), plain(resp).(map[string]any)); err != nil {
				return err
			}
		}
	}
	return nil
}

// elasticUserName is the pipeline's user.name by identity type.
func elasticUserName(ui, ev map[string]any) any {
	issuer := dig(ui, "sessionContext", "sessionIssuer")
	switch ui["type"] {
	case "IAMUser":
		return ui["userName"]
	case "AssumedRole":
		if arn, _ := issuer["arn"].(string); strings.Contains(arn, ":role/aws-service-role/") {
			return nil
		}
		return issuer["userName"]
	case "FederatedUser":
		return issuer["userName"]
	case "IdentityCenterUser":
		return dig(ev, "additionalEventData")["UserName"]
	case "Root", "AWSService":
		return nil
	}
	return ui["userName"]
}

// elasticUserID is the pipeline's user.id by identity type.
func elasticUserID(ui map[string]any) any {
	switch ui["type"] {
	case "Root":
		return ui["accountId"]
	case "IdentityCenterUser":
		if id := dig(ui, "onBehalfOf")["userId"]; id != nil {
			return id
		}
		return ui["userId"]
	}
	return ui["principalId"]
}

// dropEmpty removes what the pipeline removes first: null, "", "-", "none",
// empty objects and empty lists.
func dropEmpty(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range t {
			if x = dropEmpty(x); x != nil {
				out[k] = x
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		var out []any
		for _, x := range t {
			if x = dropEmpty(x); x != nil {
				out = append(out, x)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case string:
		if t == "" || t == "-" || t == "none" {
			return nil
		}
	}
	return v
}

func dig(m map[string]any, path ...string) map[string]any {
	for _, k := range path {
		next, ok := m[k].(map[string]any)
		if !ok {
			return map[string]any{}
		}
		m = next
	}
	return m
}
