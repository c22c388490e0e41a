// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionprocessor

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/corpus"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/shapes"
	"github.com/cloudtrail-detect/ssmsession/processor/ssmsessionprocessor/internal/metadatatest"
)

// assertCounter checks the total of a monotonic self-telemetry counter.
func assertCounter(t *testing.T, h *harness, name string, want int64) {
	t.Helper()
	got, err := h.tel.GetMetric(name)
	require.NoError(t, err, name)
	sum, ok := got.Data.(metricdata.Sum[int64])
	require.True(t, ok, name)
	var total int64
	for _, dp := range sum.DataPoints {
		total += dp.Value
	}
	assert.Equal(t, want, total, name)
}

// assertNoCounter checks a counter was never added to.
func assertNoCounter(t *testing.T, h *harness, name string) {
	t.Helper()
	_, err := h.tel.GetMetric(name)
	assert.Error(t, err, name)
}

func TestSelfTelemetry(t *testing.T) {
	raws := identities(t)
	h := start(t, defaultConfig(), nil, nil)
	in, err := shapes.Logs(shapes.Envelope, raws)
	require.NoError(t, err)
	process(t, h, in)

	ignore := metricdatatest.IgnoreTimestamp()
	// Each series names the processor, as the collector's own item counts
	// do: two instances in one collector are told apart.
	ours := attribute.NewSet(attribute.String("processor", "ssmsession"), attribute.String("otel.signal", "logs"))
	points := func(v int64) []metricdata.DataPoint[int64] {
		return []metricdata.DataPoint[int64]{{Value: v, Attributes: ours}}
	}
	metadatatest.AssertEqualProcessorSsmsessionEnvelopesSplit(t, h.tel, points(1), ignore)
	metadatatest.AssertEqualProcessorSsmsessionRecordsInspected(t, h.tel, points(int64(len(raws))), ignore)
	metadatatest.AssertEqualProcessorSsmsessionRecordsMatched(t, h.tel, points(int64(len(corpus.Expected(t)))), ignore)
	// alice in the production account is new twice (12 days apart).
	metadatatest.AssertEqualProcessorSsmsessionNewTerms(t, h.tel, points(10), ignore)
	// 9 distinct terms in one batch: each is looked up once, and misses.
	metadatatest.AssertEqualProcessorSsmsessionCacheMisses(t, h.tel, points(9), ignore)
	metadatatest.AssertEqualProcessorSsmsessionCacheHits(t, h.tel, points(0), ignore)

	// The same events again (a replay): answered from the cache, and the
	// alerts already delivered are not raised again.
	in, err = shapes.Logs(shapes.Raw, raws)
	require.NoError(t, err)
	process(t, h, in)
	metadatatest.AssertEqualProcessorSsmsessionCacheHits(t, h.tel, points(9), ignore)
	metadatatest.AssertEqualProcessorSsmsessionNewTerms(t, h.tel, points(10), ignore)
}
