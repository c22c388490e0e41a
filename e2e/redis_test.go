// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"maps"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/corpus"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/redistest"
)

// TestReplicasOnRedis: two collector processes share one Redis, each
// reading half of the demo stream (alternate lines, as a load balancer
// spreads them) at the same time. Over both outputs, each term is tagged
// new exactly once. One replica then restarts and re-reads its whole half:
// it alerts nothing again.
func TestReplicasOnRedis(t *testing.T) {
	srv := redistest.Start(t)
	replicasShare(t, func(r *run) { r.Redis = srv.Addr })
}

// TestReplicasOnRedisCluster: the same on a 3-master, 3-replica Redis
// Cluster.
func TestReplicasOnRedisCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 1)
	replicasShare(t, func(r *run) { r.RedisCluster = cl.Seeds() })
}

// TestRedisTLSSystemRoots: with `tls: {}` the built collector verifies
// Redis's certificate against the system roots (named here by
// SSL_CERT_FILE, as Go reads them on Linux) and decides every term in Redis:
// each new once, no decision taken locally.
func TestRedisTLSSystemRoots(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SSL_CERT_FILE names the system roots on Linux")
	}
	srv := redistest.StartTLS(t)
	r := newRun(t, t.TempDir(), "out")
	r.Redis, r.RedisTLS, r.Env = srv.Addr, true, []string{"SSL_CERT_FILE=" + srv.CAFile}
	lines := corpus.DemoStream(t)
	writeFile(t, filepath.Join(r.Input, "stream.ndjson"), lines...)
	r.start(t)
	alerts := alertsPerTerm(r.waitRecords(t, len(lines)))
	require.NotEmpty(t, alerts)
	for term, n := range alerts {
		assert.Equal(t, 1, n, "term %s tagged new %d times", term, n)
	}
	r.notCounted(t, "otelcol_processor_ssmsession_decisions_fallback", "otelcol_processor_ssmsession_records_matched")
	r.notCounted(t, "otelcol_processor_ssmsession_storage_errors", "otelcol_processor_ssmsession_records_matched")
	r.stop(t)
}

func replicasShare(t *testing.T, shared func(*run)) {
	lines := corpus.DemoStream(t)
	halves := [2][][]byte{}
	for i, l := range lines {
		halves[i%2] = append(halves[i%2], l)
	}

	replicas := [2]*run{}
	for i := range replicas {
		r := newRun(t, filepath.Join(t.TempDir(), "replica"), "out")
		shared(r)
		writeFile(t, filepath.Join(r.Input, "stream.ndjson"), halves[i]...)
		replicas[i] = r
	}
	for _, r := range replicas {
		r.start(t)
	}
	var union, replica1Records []plog.LogRecord
	for i, r := range replicas {
		recs := r.waitRecords(t, len(halves[i]))
		union = append(union, recs...)
		if i == 1 {
			replica1Records = recs
		}
	}
	alerts := alertsPerTerm(union)
	require.NotEmpty(t, alerts)
	for term, n := range alerts {
		assert.Equal(t, 1, n, "term %s tagged new %d times across replicas", term, n)
	}
	newTerms := 0.0
	for _, r := range replicas {
		newTerms += r.metric(t, "otelcol_processor_ssmsession_new_terms")
		r.stop(t)
	}
	assert.Equal(t, float64(len(alerts)), newTerms, "the replicas' new_terms counters add up to one alert per term")

	// Replica 1 comes back (empty cache) and its input is re-read whole.
	again := newRun(t, filepath.Join(t.TempDir(), "restarted"), "out")
	shared(again)
	writeFile(t, filepath.Join(again.Input, "replay.ndjson"), halves[1]...)
	again.start(t)
	replayed := alertsPerTerm(again.waitRecords(t, len(halves[1])))
	require.ElementsMatch(t, slices.Collect(maps.Keys(alertsPerTerm(replica1Records))), slices.Collect(maps.Keys(replayed)),
		"the replayed half decides the terms it decided before")
	for term, n := range replayed {
		assert.Zero(t, n, "term %s alerted again after the restart", term)
	}
	again.stop(t)
}

// alertsPerTerm counts, per term, the records tagged new_term=true among
// the decided ones.
func alertsPerTerm(recs []plog.LogRecord) map[string]int {
	out := map[string]int{}
	for _, lr := range recs {
		v, ok := lr.Attributes().Get("ssmsession.terms")
		if !ok {
			continue
		}
		term := v.AsString()
		if attr(lr, "ssmsession.new_term") == "true" {
			out[term]++
		} else if _, seen := out[term]; !seen {
			out[term] = 0
		}
	}
	return out
}
