// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

// Package stock writes what contrib's transform processor can express of
// the rule, as a competent user would configure it for each input shape:
// the baseline ssmsession is measured against, in process and in the built
// collector. It matches provider, action and success, then sets the
// processor's static tags, the target and the ARN on matches only; it
// cannot split envelopes nor decide new terms.
package stock // import "github.com/cloudtrail-detect/ssmsession/internal/testsupport/stock"

import (
	"strconv"
	"strings"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/shapes"
)

// Rule is what the processor tags a match with: static attributes, each
// value an OTTL literal, and the keys it puts the target and ARN under.
type Rule struct {
	Static            []Tag
	Target, Principal string
}

// Tag is one static attribute.
type Tag struct{ Key, Literal string }

// Group is one statement group: conditions (ORed) gating statements.
type Group struct{ Conditions, Statements []string }

// Variant is one transform configuration.
type Variant struct {
	Name   string
	Groups []Group
}

// Config is the variant as the transform processor's configuration.
func (v Variant) Config() map[string]any {
	var groups []any
	for _, g := range v.Groups {
		group := map[string]any{"context": "log", "statements": g.Statements}
		if len(g.Conditions) > 0 {
			group["conditions"] = g.Conditions
		}
		groups = append(groups, group)
	}
	return map[string]any{"error_mode": "ignore", "log_statements": groups}
}

// fields is where a shape keeps what the rule reads.
type fields struct{ match, target, arn string }

var shapeFields = map[shapes.Shape]fields{
	shapes.ECS: {`log.attributes["event.provider"] == "ssm.amazonaws.com" and log.attributes["event.action"] == "StartSession" and log.attributes["event.outcome"] == "success"`,
		`log.attributes["aws.cloudtrail.flattened.request_parameters"]["target"]`, `log.attributes["aws.cloudtrail.user_identity.arn"]`},
	shapes.OTel: {`log.attributes["rpc.service"] == "ssm.amazonaws.com" and log.attributes["rpc.method"] == "StartSession" and log.attributes["aws.error.code"] == nil`,
		`log.attributes["aws.request.parameters"]["target"]`, `log.attributes["aws.principal.arn"]`},
	shapes.Map: {`log.body["eventSource"] == "ssm.amazonaws.com" and log.body["eventName"] == "StartSession" and log.body["errorCode"] == nil`,
		`log.body["requestParameters"]["target"]`, `log.body["userIdentity"]["arn"]`},
	shapes.Raw: {`log.cache["eventSource"] == "ssm.amazonaws.com" and log.cache["eventName"] == "StartSession" and log.cache["errorCode"] == nil`,
		`log.cache["requestParameters"]["target"]`, `log.cache["userIdentity"]["arn"]`},
}

// tags sets what the processor sets on a match, from f.
func (r Rule) tags(f fields) []string {
	set := func(key, value string) string {
		return `set(log.attributes[` + strconv.Quote(key) + `], ` + value + `)`
	}
	out := make([]string, 0, len(r.Static)+2)
	for _, t := range r.Static {
		out = append(out, set(t.Key, t.Literal))
	}
	return append(out, set(r.Target, f.target), set(r.Principal, f.arn))
}

// mergedTags sets the same with one statement: the static tags as one map
// literal merged into the attributes, then the target and ARN.
func (r Rule) mergedTags(f fields) []string {
	var literal []string
	for _, t := range r.Static {
		literal = append(literal, strconv.Quote(t.Key)+": "+t.Literal)
	}
	tags := r.tags(f)
	return append([]string{`merge_maps(log.attributes, {` + strings.Join(literal, ", ") + `}, "upsert")`}, tags[len(r.Static):]...)
}

func where(statements []string, cond string) []string {
	out := make([]string, len(statements))
	for i, s := range statements {
		out[i] = s + " where " + cond
	}
	return out
}

// parseRaw parses a raw body into the cache, where it is JSON.
const parseRaw = `merge_maps(log.cache, ParseJSON(log.body), "upsert") where IsString(log.body)`

// Variants are the configurations tried for shape, the best first (as the
// in-process benchmark measures them); "naive" repeats the rule's
// condition on every set, as the first comparison did.
func Variants(shape shapes.Shape, r Rule) []Variant {
	f, ok := shapeFields[shape]
	if !ok { // S3 objects: all OTTL can do is parse them
		return []Variant{{"parse_only", []Group{{Statements: []string{parseRaw}}}}}
	}
	tags := r.tags(f)
	if shape != shapes.Raw {
		return []Variant{
			{"grouped_merge", []Group{{Conditions: []string{f.match}, Statements: r.mergedTags(f)}}},
			{"grouped", []Group{{Conditions: []string{f.match}, Statements: tags}}},
			{"naive", []Group{{Statements: where(tags, f.match)}}},
		}
	}
	// Raw bodies: a prefilter on the text, so only candidates are parsed;
	// the success and source checks need the parsed event.
	prefilter := `IsMatch(log.body, "StartSession")`
	parsed := `log.attributes["ssm.ct"]`
	// Parse into a temporary attribute, gate the tags on it once, drop it.
	attribute := func(tags func(fields) []string) []Group {
		return []Group{
			{Conditions: []string{prefilter}, Statements: []string{`set(` + parsed + `, ParseJSON(log.body))`}},
			{Conditions: []string{parsed + `["eventSource"] == "ssm.amazonaws.com" and ` + parsed + `["eventName"] == "StartSession" and ` + parsed + `["errorCode"] == nil`},
				Statements: tags(fields{target: parsed + `["requestParameters"]["target"]`, arn: parsed + `["userIdentity"]["arn"]`})},
			{Conditions: []string{parsed + ` != nil`}, Statements: []string{`delete_key(log.attributes, "ssm.ct")`}},
		}
	}
	return []Variant{
		{"prefilter_attribute_merge", attribute(r.mergedTags)},
		{"prefilter_attribute", attribute(r.tags)},
		{"prefilter_cache", []Group{{Conditions: []string{prefilter}, Statements: append([]string{parseRaw}, where(tags, f.match)...)}}},
		{"naive", []Group{{Statements: append([]string{parseRaw}, where(tags, f.match)...)}}},
	}
}
