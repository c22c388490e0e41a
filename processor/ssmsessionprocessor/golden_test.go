// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionprocessor

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/corpus"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/golden"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/samples"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/shapes"
)

// TestGolden pins the full output, every attribute of every record, for
// each input shape: testdata/shapes/<shape>.json (at the repository root,
// shared with the connector) in, testdata/golden/<shape>.json out. Review a
// diff before accepting it with -update.
func TestGolden(t *testing.T) {
	raws := identities(t)[:13] // every identity type and both failures
	for _, shape := range shapes.Every {
		t.Run(string(shape), func(t *testing.T) {
			in := golden.Input(t, corpus.Path(t, "testdata", "shapes", string(shape)+".json"),
				func() (plog.Logs, error) { return shapes.Logs(shape, raws) })
			h := start(t, defaultConfig(), nil, nil)
			golden.CompareLogs(t, filepath.Join("testdata", "golden", string(shape)+".json"), process(t, h, in))
		})
	}
}

func TestEnvelopeEdgeCases(t *testing.T) {
	ld := plog.NewLogs()
	recs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	recs.AppendEmpty().Body().SetStr(`{"Records":[]}`)                         // empty file: kept as is
	recs.AppendEmpty().Body().SetStr(`{"Records":[{"eventSource":"ssm.amazon`) // cut off by max_log_size
	recs.AppendEmpty().Body().SetStr(`{"Records":[{"eventName":"DescribeInstances","eventSource":"ec2.amazonaws.com"}],"extra":1}`)
	orig := plog.NewLogs()
	ld.CopyTo(orig)

	h := start(t, defaultConfig(), nil, nil)
	out := records(process(t, h, ld))
	in := records(orig)
	require.Len(t, out, 3)
	assert.Equal(t, in[0], out[0])
	assert.Equal(t, in[1], out[1])
	assert.Equal(t, `{"eventName":"DescribeInstances","eventSource":"ec2.amazonaws.com"}`, out[2].Body().Str())
	assertCounter(t, h, "otelcol_processor_ssmsession_records_malformed", 1)
	assertCounter(t, h, "otelcol_processor_ssmsession_envelopes_split", 1)

	cfg := defaultConfig()
	cfg.Envelope = EnvelopeKeep
	keep := start(t, cfg, nil, nil)
	for _, shape := range shapes.Envelopes {
		env, err := shapes.Logs(shape, identities(t))
		require.NoError(t, err)
		out = records(process(t, keep, env))
		require.Len(t, out, 1, "keep passes the %s envelope through", shape)
		assert.Empty(t, attrStr(out[0], AttrRuleID))
	}
}

// TestSharedSamples runs the 45 real records: exactly the rule's matches are
// tagged, with the terms Elastic's rule would use (v2 and v1 fields).
func TestSharedSamples(t *testing.T) {
	all := samples.Load(t)
	for _, v1 := range []bool{false, true} {
		cfg := defaultConfig()
		if v1 {
			cfg.NewTerms.Fields = []string{"aws.cloudtrail.user_identity.arn"}
		}
		h := start(t, cfg, nil, nil)
		ld := plog.NewLogs()
		recs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
		for _, s := range all {
			recs.AppendEmpty().Body().SetStr(s.Raw)
		}
		out := records(process(t, h, ld))
		require.Len(t, out, len(all))
		for i, s := range all {
			match, _ := s.Elastic["rule_query_match"].(bool)
			assert.Equal(t, match, attrStr(out[i], AttrRuleID) == RuleID, "line %d", s.Line)
			if !match {
				continue
			}
			var want []string
			if v1 {
				want = []string{s.Elastic["new_terms_v1_value"].(string)}
			} else {
				for _, v := range s.Elastic["new_terms_v2_values"].([]any) {
					want = append(want, v.(string))
				}
			}
			assert.Equal(t, want, terms(out[i]), "line %d terms", s.Line)
		}
		// Line 45 carries documentName: the hunt's dissect gets the target
		// wrong, the processor reads the key.
		assert.Equal(t, "SSM-sudo, target=i-02311671588e96626", all[44].Elastic["hunt_target_instance"])
		assert.Equal(t, "i-02311671588e96626", attrStr(out[44], AttrTarget))
	}
}
