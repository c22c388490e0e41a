// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionprocessor

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/corpus"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/shapes"
)

const (
	prod = "111122223333"
	sso  = "AWSReservedSSO_AdministratorAccess_4f2a9c1e7b3d5a60"
)

func identities(t testing.TB) [][]byte { return corpus.Events(t, "identities") }

func process(t *testing.T, h *harness, ld plog.Logs) plog.Logs {
	t.Helper()
	before := h.sink.LogRecordCount()
	require.NoError(t, h.logs.ConsumeLogs(ctx, ld))
	all := h.sink.AllLogs()
	require.Greater(t, h.sink.LogRecordCount(), before)
	return all[len(all)-1]
}

// TestIdentitiesEveryShape runs the identity corpus in each input shape and
// checks each record's tags; the answers must not depend on the shape.
func TestIdentitiesEveryShape(t *testing.T) {
	raws := identities(t)
	expected := corpus.Expected(t)
	for _, shape := range shapes.Every {
		t.Run(string(shape), func(t *testing.T) {
			h := start(t, defaultConfig(), nil, nil)
			in, err := shapes.Logs(shape, raws)
			require.NoError(t, err)
			orig := plog.NewLogs()
			in.CopyTo(orig)
			out := records(process(t, h, in))
			require.Len(t, out, len(raws))
			var inRecs []plog.LogRecord
			if !shape.IsEnvelope() {
				inRecs = records(orig)
			}
			for i, lr := range out {
				w, match := expected[i]
				wantNew := strconv.FormatBool(w.NewTerm)
				if slices.Contains(shapes.OTelVariants, shape) && i == 8 {
					// contrib's CloudTrail mapping drops userIdentity.onBehalfOf,
					// so an Identity Center user cannot be identified there.
					w, wantNew = corpus.Match{Target: w.Target}, ""
				}
				if !match {
					assert.Empty(t, attrStr(lr, AttrRuleID), "record %d must not match", i)
					if inRecs != nil {
						assert.Equal(t, inRecs[i], lr, "record %d must pass through unchanged", i)
					}
					continue
				}
				assert.Equal(t, RuleID, attrStr(lr, AttrRuleID), "record %d", i)
				assert.Equal(t, wantNew, newTerm(lr), "record %d new_term (%s)", i, w.Note)
				assert.Equal(t, w.Terms, terms(lr), "record %d terms", i)
				assert.Equal(t, w.Principal, attrStr(lr, AttrPrincipal), "record %d principal", i)
				assert.Equal(t, w.Target, attrStr(lr, AttrTarget), "record %d target", i)
				assert.Equal(t, w.SourceInstance, attrStr(lr, AttrSourceInstance), "record %d source instance", i)
				assert.Equal(t, wantNew == "true", attrStr(lr, AttrAlertID) != "", "record %d alert id only on new terms", i)
				if inRecs != nil {
					assert.Equal(t, inRecs[i].Body(), lr.Body(), "record %d body unchanged", i)
					assert.Equal(t, inRecs[i].Attributes().AsRaw(), withoutTags(lr).AsRaw(), "record %d: only tags added", i)
				}
			}
		})
	}
}

// TestMissingFieldSkip reproduces Elastic: no decision for identities
// without user.name (root, Identity Center, service-linked roles).
func TestMissingFieldSkip(t *testing.T) {
	cfg := defaultConfig()
	cfg.NewTerms.MissingField = MissingSkip
	h := start(t, cfg, nil, nil)
	in, err := shapes.Logs(shapes.Raw, identities(t))
	require.NoError(t, err)
	out := records(process(t, h, in))
	for _, i := range []int{7, 8, 9} {
		assert.Equal(t, RuleID, attrStr(out[i], AttrRuleID), "record %d is still a rule match", i)
		assert.Empty(t, newTerm(out[i]), "record %d has no decision", i)
		assert.Nil(t, terms(out[i]))
	}
	assert.Equal(t, "true", newTerm(out[0]))
}

// TestRuleV1Fields uses the rule's first version (the identity ARN): every
// assumed-role session is a new term, the noise the retune removed.
func TestRuleV1Fields(t *testing.T) {
	cfg := defaultConfig()
	cfg.NewTerms.Fields = []string{"aws.cloudtrail.user_identity.arn"}
	h := start(t, cfg, nil, nil)
	in, err := shapes.Logs(shapes.ECS, identities(t))
	require.NoError(t, err)
	out := records(process(t, h, in))
	assert.Equal(t, "true", newTerm(out[3]))
	assert.Equal(t, "true", newTerm(out[4]), "carol's session ARN differs from bob's")
	assert.Equal(t, []string{"arn:aws:sts::" + prod + ":assumed-role/" + sso + "/carol@example.com"}, terms(out[4]))
	assert.Equal(t, []string{"94a8f4d8-5091-70a1-2e3f-5b6c7d8e9f01"}, terms(out[8]), "Identity Center has no ARN: principal fallback")
}

// TestReplayGivesSameTags: the same input through a fresh processor twice
// yields identical output, whatever the batching.
func TestReplayGivesSameTags(t *testing.T) {
	raws := identities(t)
	run := func(batch int) []plog.LogRecord {
		h := start(t, defaultConfig(), nil, nil)
		var out []plog.LogRecord
		for i := 0; i < len(raws); i += batch {
			in, err := shapes.Logs(shapes.Raw, raws[i:min(i+batch, len(raws))])
			require.NoError(t, err)
			out = append(out, records(process(t, h, in))...)
		}
		return out
	}
	whole := run(len(raws))
	var decided []string
	for _, lr := range whole {
		decided = append(decided, newTerm(lr))
	}
	assertExpected(t, 0, decided) // the run compared with is the right one
	for _, batch := range []int{1, 3, 7} {
		got := run(batch)
		require.Len(t, got, len(whole))
		for i := range whole {
			assert.Equal(t, whole[i].Attributes().AsRaw(), got[i].Attributes().AsRaw(), "batch %d record %d", batch, i)
		}
	}
}

// TestBadInputPassesThrough: malformed and hostile records reach the next
// consumer byte-for-byte, are counted, and do not stop good records.
func TestBadInputPassesThrough(t *testing.T) {
	good := string(identities(t)[0])
	bad := []string{
		good[:len(good)/2], // truncated
		strings.Replace(good, `"eventSource":"ssm.amazonaws.com"`, `"eventSource":["ssm.amazonaws.com"]`, 1),
		strings.Replace(good, "user/alice", "user/\xc3\x28alice", 1),                                       // invalid UTF-8
		`{"eventVersion":"1.09","a":` + strings.Repeat(`{"a":`, 5000) + `"StartSession ssm.amazonaws.com"`, // nested too deep
		`{"eventSource":"ssm.amazonaws.com","eventName":"StartSession","userIdentity":{"arn":"` + strings.Repeat("x", 1<<20) + `"}}`,
	}
	ld := plog.NewLogs()
	recs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for _, b := range bad {
		recs.AppendEmpty().Body().SetStr(b)
	}
	recs.AppendEmpty().Body().SetStr(good)
	lr := recs.AppendEmpty()
	lr.Attributes().PutDouble("event.provider", 1.5) // wrong type
	lr.Attributes().PutStr("event.action", "StartSession")
	orig := plog.NewLogs()
	ld.CopyTo(orig)

	h := start(t, defaultConfig(), nil, nil)
	out := records(process(t, h, ld))
	in := records(orig)
	require.Len(t, out, len(in))
	for i := range out {
		if i == len(bad) {
			assert.Equal(t, "true", newTerm(out[i]), "the good record is still decided")
			continue
		}
		assert.Equal(t, in[i], out[i], "record %d unchanged", i)
	}
	assertCounter(t, h, "otelcol_processor_ssmsession_records_malformed", int64(len(bad)+1))
	assertCounter(t, h, "otelcol_processor_ssmsession_records_inspected", int64(len(in)))
	assertCounter(t, h, "otelcol_processor_ssmsession_records_matched", 1)
}

// sessionWith is a StartSession whose ARN, IAM user name and target are v,
// or, when v is absent, are left out of the event.
func sessionWith(v string, absent bool) []byte {
	field := func(k string) string {
		if absent {
			return ""
		}
		return strconv.Quote(k) + ":" + strconv.Quote(v) + ","
	}
	params := `{}`
	if !absent {
		params = `{"target":` + strconv.Quote(v) + `}`
	}
	return []byte(`{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDANONEEXAMPLE",` + field("arn") +
		`"accountId":"111122223333",` + field("userName") + `"accessKeyId":"AKIANONEEXAMPLE"},"eventTime":"2026-11-01T09:00:00Z",` +
		`"eventSource":"ssm.amazonaws.com","eventName":"StartSession","awsRegion":"eu-west-1","sourceIPAddress":"203.0.113.9",` +
		`"requestParameters":` + params + `,"eventID":"00000000-0000-4000-8000-00000000a0a0","recipientAccountId":"111122223333"}`)
}

// added is what the processor added to lr.
func added(lr plog.LogRecord) map[string]any {
	out := map[string]any{}
	for k, v := range lr.Attributes().All() {
		if slices.Contains(AddedAttributes, k) {
			out[k] = v.AsRaw()
		}
	}
	return out
}

// TestNoneIsAbsent: "", "-" and "none" in the target and the identity
// fields count as absent, as in Elastic's pipeline: a session whose ARN,
// user name and target say "none" is tagged exactly as one without them:
// no target, the principal id as principal and, user.name missing, the
// principal in its place in the term.
func TestNoneIsAbsent(t *testing.T) {
	for _, v := range []string{"none", "-", ""} {
		for _, shape := range shapes.PerEvent {
			t.Run(strconv.Quote(v)+"/"+string(shape), func(t *testing.T) {
				tags := func(raw []byte) map[string]any {
					ld, err := shapes.Logs(shape, [][]byte{raw})
					require.NoError(t, err)
					out := records(process(t, start(t, defaultConfig(), nil, nil), ld))
					require.Len(t, out, 1)
					return added(out[0])
				}
				got, want := tags(sessionWith(v, false)), tags(sessionWith("", true))
				assert.Equal(t, RuleID, got[AttrRuleID])
				assert.NotContains(t, got, AttrTarget)
				assert.Equal(t, "AIDANONEEXAMPLE", got[AttrPrincipal])
				assert.Equal(t, []any{prod, "AIDANONEEXAMPLE"}, got[AttrTerms])
				assert.Equal(t, true, got[AttrNewTerm])
				assert.Equal(t, want, got, "tagged as the same session without those fields")
			})
		}
	}
}
