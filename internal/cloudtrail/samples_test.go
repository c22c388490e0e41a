// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package cloudtrail

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/samples"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/shapes"
)

// str returns an emulation value as a string, "" for null.
func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// TestSamplesDerivedFields checks outcome, user.name and cloud.account.id for
// every identity type in the real samples against Elastic's pipeline.
func TestSamplesDerivedFields(t *testing.T) {
	for _, s := range samples.Load(t) {
		var ev Event
		var sc eventScan
		require.NoError(t, sc.run(s.Raw, &ev), "line %d", s.Line)
		finishNative(&ev)
		want := s.Elastic
		assert.Equal(t, str(want, "event.outcome"), ev.OutcomeValue(), "line %d outcome", s.Line)
		assert.Equal(t, str(want, "user.name"), ev.UserName(), "line %d user.name", s.Line)
		assert.Equal(t, str(want, "cloud.account.id"), ev.AccountID(), "line %d cloud.account.id", s.Line)
		if exp := s.Expected; exp != nil {
			assert.Equal(t, str(exp, "event.outcome"), ev.OutcomeValue(), "line %d outcome vs Elastic's test", s.Line)
			assert.Equal(t, str(exp, "user.name"), ev.UserName(), "line %d user.name vs Elastic's test", s.Line)
			assert.Equal(t, str(exp, "cloud.account.id"), ev.AccountID(), "line %d account vs Elastic's test", s.Line)
		}
		if ev.Provider == ProviderSSM && ev.Action == ActionStart {
			assert.False(t, ev.Time.IsZero(), "line %d: eventTime %q not parsed", s.Line, ev.rawTime)
			assert.NotEmpty(t, ev.Principal(), "line %d principal", s.Line)
		}
	}
}

// ecsFromEmulation builds the attributes Elastic's pipeline produced for a
// sample (the emulation file), so the ECS reader is checked on its real input.
func ecsFromEmulation(s samples.Sample) plog.LogRecord {
	lr := plog.NewLogRecord()
	for k, v := range s.Elastic {
		switch k {
		case "line", "rule_query_match", "new_terms_v1_value", "new_terms_v2_values", "hunt_target_key",
			"hunt_target_instance", "user.name_pre2025_pipeline", "related.user_session_name":
			continue
		}
		if sv, ok := v.(string); ok {
			lr.Attributes().PutStr(k, sv)
		}
	}
	return lr
}

// TestSamplesEveryShape reads each real sample in every input shape and checks
// that the logical fields agree with Elastic and with the raw event.
func TestSamplesEveryShape(t *testing.T) {
	var r Reader
	matches := 0
	for _, s := range samples.Load(t) {
		raw := map[string]any{}
		if v, err := shapes.Decode([]byte(s.Raw)); err == nil {
			raw = v
		}
		isStart := raw["eventSource"] == ProviderSSM && raw["eventName"] == ActionStart
		params, _ := raw["requestParameters"].(map[string]any)
		wantTarget, _ := params["target"].(string)

		for _, shape := range shapes.All {
			ld, err := shapes.Logs(shape, [][]byte{[]byte(s.Raw)})
			require.NoError(t, err)
			rl := ld.ResourceLogs().At(0)
			var ev Event
			got, err := r.Read(rl.Resource(), rl.ScopeLogs().At(0).LogRecords().At(0), &ev)
			if !isStart {
				assert.Equal(t, Skip, got, "line %d %s: %v", s.Line, shape, err)
				continue
			}
			require.Equal(t, Read, got, "line %d %s: %v", s.Line, shape, err)
			assert.Equal(t, str(s.Elastic, "event.outcome"), ev.OutcomeValue(), "line %d %s outcome", s.Line, shape)
			assert.Equal(t, str(s.Elastic, "user.name"), ev.UserName(), "line %d %s user.name", s.Line, shape)
			assert.Equal(t, str(s.Elastic, "cloud.account.id"), ev.AccountID(), "line %d %s account", s.Line, shape)
			assert.Equal(t, wantTarget, ev.Target, "line %d %s target", s.Line, shape)
			assert.False(t, ev.Time.IsZero(), "line %d %s time", s.Line, shape)
		}

		// Elastic's own output, with only the Java-style parameter string.
		var ev Event
		got, err := r.Read(plog.NewResourceLogs().Resource(), ecsFromEmulation(s), &ev)
		if !isStart {
			assert.Equal(t, Skip, got, "line %d emulated ECS", s.Line)
			continue
		}
		matches++
		require.Equal(t, Read, got, "line %d emulated ECS: %v", s.Line, err)
		assert.Equal(t, ShapeECS, ev.Shape)
		assert.Equal(t, str(s.Elastic, "user.name"), ev.UserName(), "line %d emulated ECS user.name", s.Line)
		assert.Equal(t, wantTarget, ev.Target, "line %d emulated ECS target (hunt dissect gave %q)", s.Line, s.Elastic["hunt_target_instance"])
		rule, _ := s.Elastic["rule_query_match"].(bool)
		assert.Equal(t, rule, ev.Success(), "line %d: rule query match", s.Line)
	}
	assert.Equal(t, 6, matches, "StartSession samples")
}
