// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionprocessor // import "github.com/cloudtrail-detect/ssmsession/processor/ssmsessionprocessor"

import (
	"slices"
	"strings"

	"github.com/cloudtrail-detect/ssmsession/internal/cloudtrail"
)

// termField reads one new_terms field from an event. Identity fields fall
// back to ssmsession.principal under missing_field: fallback.
type termField struct {
	identity bool
	get      func(*cloudtrail.Event) string
}

// termFields are the fields new_terms may use, named as the rule names them.
var termFields = map[string]termField{
	"cloud.account.id":                           {get: (*cloudtrail.Event).AccountID},
	"cloud.region":                               {get: func(e *cloudtrail.Event) string { return e.Region }},
	"source.address":                             {get: func(e *cloudtrail.Event) string { return e.SourceAddr }},
	"aws.cloudtrail.user_identity.type":          {get: func(e *cloudtrail.Event) string { return e.Identity.Type }},
	"ssmsession.target":                          {get: func(e *cloudtrail.Event) string { return e.Target }},
	"user.name":                                  {identity: true, get: (*cloudtrail.Event).UserName},
	"ssmsession.principal":                       {identity: true, get: (*cloudtrail.Event).Principal},
	"aws.cloudtrail.user_identity.arn":           {identity: true, get: func(e *cloudtrail.Event) string { return e.Identity.ARN }},
	"aws.cloudtrail.user_identity.access_key_id": {identity: true, get: func(e *cloudtrail.Event) string { return e.Identity.AccessKeyID }},
	"aws.cloudtrail.user_identity.session_context.session_issuer.arn": {identity: true, get: func(e *cloudtrail.Event) string { return e.Identity.IssuerARN }},
}

func termFieldNames() []string {
	names := make([]string, 0, len(termFields))
	for n := range termFields {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// termSpec is the configured list of fields.
type termSpec struct {
	fields    []termField
	namespace string // the field names: a new field list starts a new history
	fallback  bool
}

func newTermSpec(cfg NewTermsConfig) termSpec {
	spec := termSpec{namespace: strings.Join(cfg.Fields, "\x00"), fallback: cfg.MissingField == MissingFallback}
	for _, name := range cfg.Fields {
		spec.fields = append(spec.fields, termFields[name])
	}
	return spec
}

// values appends the term of ev to buf in field order and returns the
// term, or ok=false when a field is missing and cannot fall back (Elastic
// never alerts on such documents).
func (s termSpec) values(ev *cloudtrail.Event, buf []string) (grown, vals []string, ok bool) {
	start := len(buf)
	for _, f := range s.fields {
		v := f.get(ev)
		if v == "" && f.identity && s.fallback {
			v = ev.Principal()
		}
		if v == "" {
			return buf[:start], nil, false
		}
		buf = append(buf, v)
	}
	return buf, buf[start:len(buf):len(buf)], true
}
