// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionprocessor

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/redistest"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/storagetest"
)

// session is a StartSession by IAM user name at t, with its own event id.
func session(name string, t time.Time, id int) []byte {
	return []byte(fmt.Sprintf(`{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDA%s","arn":"arn:aws:iam::111122223333:user/%s",`+
		`"accountId":"111122223333","userName":"%s"},"eventTime":"%s","eventSource":"ssm.amazonaws.com","eventName":"StartSession",`+
		`"awsRegion":"eu-west-1","sourceIPAddress":"203.0.113.9","requestParameters":{"target":"i-0a3f5c2e91b7d4e01"},`+
		`"eventID":"00000000-0000-4000-8000-%012d","recipientAccountId":"111122223333"}`, name, name, name, t.Format(time.RFC3339), id))
}

var day0 = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

func withLearning(cfg *Config, period time.Duration) *Config {
	cfg.NewTerms.LearningPeriod = period
	return cfg
}

// startLearning starts a processor learning for period, on file_storage of
// its own (a learning period needs state that outlives a restart).
func startLearning(t *testing.T, period time.Duration) *harness {
	ext := storagetest.FileStorage(t, t.TempDir())
	return start(t, withLearning(withStorage(), period), map[component.ID]component.Component{storagetest.ID: ext}, nil)
}

// learningTags is, per record, new_term, learning and whether it has an
// alert id.
func learningTags(ld plog.Logs) []string {
	var out []string
	for _, lr := range records(ld) {
		out = append(out, fmt.Sprintf("%s/%s/%v", newTerm(lr), attrStr(lr, AttrLearning), attrStr(lr, AttrAlertID) != ""))
	}
	return out
}

func gauge(t *testing.T, h *harness, name string) int64 {
	t.Helper()
	m, err := h.tel.GetMetric(name)
	require.NoError(t, err, name)
	return m.Data.(metricdata.Gauge[int64]).DataPoints[0].Value
}

// TestLearningPeriod: matches before the end (the first match's time plus
// the period) are decided and recorded, tagged learning and not new, with
// no alert id; after it, only terms the learning period did not see alert.
func TestLearningPeriod(t *testing.T) {
	h := startLearning(t, 48*time.Hour)
	got := learningTags(process(t, h, rawLogs(t, [][]byte{
		session("alice", day0, 1),                   // begins learning: ends day0+48h
		session("bob", day0.Add(24*time.Hour), 2),   // learning
		session("alice", day0.Add(47*time.Hour), 3), // learning, known
	})))
	assert.Equal(t, []string{"false/true/false", "false/true/false", "false/true/false"}, got)
	assert.Equal(t, day0.Add(48*time.Hour).Unix(), gauge(t, h, "otelcol_processor_ssmsession_learning_end"))
	assert.Equal(t, int64(1), gauge(t, h, "otelcol_processor_ssmsession_learning"))

	got = learningTags(process(t, h, rawLogs(t, [][]byte{
		session("bob", day0.Add(49*time.Hour), 4),   // learnt: known
		session("carol", day0.Add(50*time.Hour), 5), // never seen: alerted
		session("bob", day0.Add(24*time.Hour), 2),   // a copy of a learnt event: not an alert either
	})))
	assert.Equal(t, []string{"false//false", "true//true", "false/true/false"}, got)
	assert.Equal(t, int64(0), gauge(t, h, "otelcol_processor_ssmsession_learning"))
	assertCounter(t, h, "otelcol_processor_ssmsession_learned", 4)
	assertCounter(t, h, "otelcol_processor_ssmsession_new_terms", 1)
}

// TestLearningPeriodOff: the default, 0s, is Elastic's semantics: the first
// session of each identity alerts from the start.
func TestLearningPeriodOff(t *testing.T) {
	h := start(t, defaultConfig(), nil, nil)
	got := learningTags(process(t, h, rawLogs(t, [][]byte{session("alice", day0, 1), session("bob", day0, 2)})))
	assert.Equal(t, []string{"true//true", "true//true"}, got)
}

// TestLearningBeginsAtAPlausibleTime: a first match whose time is before
// 1970 or over an hour ahead of the clock does not begin the learning
// period (it would end it at once, or only in decades): it is alerted, and
// the first match with a plausible time begins it.
func TestLearningBeginsAtAPlausibleTime(t *testing.T) {
	for _, bad := range []time.Time{time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)} {
		t.Run(bad.Format("2006"), func(t *testing.T) {
			h := startLearning(t, 24*time.Hour)
			got := learningTags(process(t, h, rawLogs(t, [][]byte{session("mallory", bad, 1)})))
			assert.Equal(t, []string{"true//true"}, got, "no learning period yet: alerted")
			got = learningTags(process(t, h, rawLogs(t, [][]byte{
				session("alice", day0, 2),                   // begins learning: ends day0+24h
				session("carol", day0.Add(48*time.Hour), 3), // after it
			})))
			assert.Equal(t, []string{"false/true/false", "true//true"}, got)
			assert.Equal(t, day0.Add(24*time.Hour).Unix(), gauge(t, h, "otelcol_processor_ssmsession_learning_end"))
		})
	}
}

// TestLearningEndSurvivesRestart: the end is stored with the terms; a
// restarted processor (here a second process on the same file) keeps it,
// however late its own first match.
func TestLearningEndSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := withLearning(withStorage(), 48*time.Hour)
	ext := storagetest.FileStorage(t, dir)
	h1 := start(t, cfg, map[component.ID]component.Component{storagetest.ID: ext}, nil)
	process(t, h1, rawLogs(t, [][]byte{session("alice", day0, 1)}))
	require.NoError(t, h1.logs.Shutdown(ctx))
	require.NoError(t, ext.Shutdown(ctx))

	h2 := start(t, cfg, map[component.ID]component.Component{storagetest.ID: storagetest.FileStorage(t, dir)}, nil)
	assert.Equal(t, day0.Add(48*time.Hour).Unix(), gauge(t, h2, "otelcol_processor_ssmsession_learning_end"), "known at start")
	got := learningTags(process(t, h2, rawLogs(t, [][]byte{
		session("bob", day0.Add(30*time.Hour), 2),   // still learning: the end did not move
		session("carol", day0.Add(49*time.Hour), 3), // after it
	})))
	assert.Equal(t, []string{"false/true/false", "true//true"}, got)
}

// TestLearningEndSharedInRedis: replicas agree on one end, the first
// proposed; a replica whose first match comes later does not start its own.
func TestLearningEndSharedInRedis(t *testing.T) {
	srv := redistest.Start(t)
	a := start(t, withLearning(withRedis(srv.Addr), 48*time.Hour), nil, nil)
	process(t, a, rawLogs(t, [][]byte{session("alice", day0, 1)}))
	b := start(t, withLearning(withRedis(srv.Addr), 48*time.Hour), nil, nil)
	got := learningTags(process(t, b, rawLogs(t, [][]byte{
		session("bob", day0.Add(47*time.Hour), 2),   // before the shared end
		session("carol", day0.Add(49*time.Hour), 3), // after it (b's own end would be day0+95h)
	})))
	assert.Equal(t, []string{"false/true/false", "true//true"}, got)
	assert.Equal(t, day0.Add(48*time.Hour).Unix(), gauge(t, b, "otelcol_processor_ssmsession_learning_end"))
}

// TestRuleVersions: the severity and risk score are configured, so the
// tags follow the rule's version (7: high, 73).
func TestRuleVersions(t *testing.T) {
	cfg := defaultConfig()
	cfg.Rule = RuleConfig{Severity: "high", RiskScore: 73}
	h := start(t, cfg, nil, nil)
	lr := records(process(t, h, rawLogs(t, [][]byte{session("alice", day0, 1)})))[0]
	assert.Equal(t, "high", attrStr(lr, AttrSeverity))
	assert.Equal(t, "73", attrStr(lr, AttrRiskScore))
}
