// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionprocessor

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"

	"github.com/cloudtrail-detect/ssmsession/internal/sharedcomponent"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/collectorrun"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/corpus"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/storagetest"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/testclock"
	"github.com/cloudtrail-detect/ssmsession/processor/ssmsessionprocessor/internal/metadatatest"
)

var ctx = context.Background()

func newClock() *testclock.Clock { return testclock.At(time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)) }

type harness struct {
	logs  processor.Logs
	sink  *consumertest.LogsSink
	tel   *componenttest.Telemetry
	host  *storagetest.Host
	clock *testclock.Clock
}

// start builds, starts and (at test end) shuts down a processor whose next
// consumer is next, or a sink when next is nil.
func start(t *testing.T, cfg *Config, exts map[component.ID]component.Component, next consumer.Logs) *harness {
	t.Helper()
	h := &harness{sink: &consumertest.LogsSink{}, tel: componenttest.NewTelemetry(), clock: newClock()}
	h.host = storagetest.NewHost(exts)
	if next == nil {
		next = h.sink
	}
	var err error
	h.logs, err = newLogs(sharedcomponent.NewMap[*ssmProcessor](), metadatatest.NewSettings(h.tel), cfg, next, h.clock.Now)
	require.NoError(t, err)
	require.NoError(t, h.logs.Start(ctx, h.host))
	t.Cleanup(func() {
		require.NoError(t, h.logs.Shutdown(ctx))
		require.NoError(t, h.tel.Shutdown(ctx))
	})
	return h
}

func defaultConfig() *Config { return createDefaultConfig().(*Config) }

// records flattens the log records of ld in order.
func records(ld plog.Logs) []plog.LogRecord { return collectorrun.Records([]plog.Logs{ld}) }

func attrStr(lr plog.LogRecord, k string) string {
	v, ok := lr.Attributes().Get(k)
	if !ok {
		return ""
	}
	return v.AsString()
}

func terms(lr plog.LogRecord) []string {
	v, ok := lr.Attributes().Get(AttrTerms)
	if !ok {
		return nil
	}
	var out []string
	for i := 0; i < v.Slice().Len(); i++ {
		out = append(out, v.Slice().At(i).Str())
	}
	return out
}

// newTerm is "true", "false" or "" (no decision).
func newTerm(lr plog.LogRecord) string { return attrStr(lr, AttrNewTerm) }

// withoutTags copies lr's attributes minus what the processor adds.
func withoutTags(lr plog.LogRecord) pcommon.Map {
	m := pcommon.NewMap()
	lr.Attributes().CopyTo(m)
	m.RemoveIf(func(k string, _ pcommon.Value) bool { return slices.Contains(AddedAttributes, k) })
	return m
}

// assertExpected checks got[i], a new_term tag, against the corpus answer
// for record from+i, got holding the new_term tags of the corpus's records
// from there to its end: a record the corpus does not list as a match must
// have none.
func assertExpected(t *testing.T, from int, got []string) {
	t.Helper()
	require.Len(t, got, len(identities(t))-from, "records from %d to the corpus's end", from)
	expected := corpus.Expected(t)
	for i, v := range got {
		if w, ok := expected[from+i]; ok {
			assert.Equal(t, strconv.FormatBool(w.NewTerm), v, "record %d", from+i)
		} else {
			assert.Empty(t, v, "record %d is not a match", from+i)
		}
	}
}

// assertReplayQuiet checks the new_term tags of records processed again
// after a restart: what alerted the first time is now "false", the rest
// is as it was.
func assertReplayQuiet(t *testing.T, first, replayed []string) {
	t.Helper()
	require.Len(t, replayed, len(first))
	for i, v := range first {
		if v == "true" {
			assert.Equal(t, "false", replayed[i], "record %d alerted again after restart", i)
		} else {
			assert.Equal(t, v, replayed[i], "record %d", i)
		}
	}
}
