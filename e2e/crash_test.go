// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/collectorrun"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/corpus"
)

// tags is what the processor decided for one event.
type tags struct{ newTerm, alertID, terms string }

func tagsOf(lr plog.LogRecord) tags {
	var terms []string
	if v, ok := lr.Attributes().Get("ssmsession.terms"); ok {
		for i := 0; i < v.Slice().Len(); i++ {
			terms = append(terms, v.Slice().At(i).Str())
		}
	}
	return tags{attr(lr, "ssmsession.new_term"), attr(lr, "ssmsession.alert_id"), strings.Join(terms, "|")}
}

// TestKillDashNine runs the demo's production stream twice: once without
// interruption, once into a growing file with the collector killed
// (SIGKILL) mid-stream and restarted on the same storage. Every event must
// come out at least once; its first copy tagged as in the uninterrupted
// run, a redelivered copy likewise or, when the alert it carried had been
// delivered already, as not new (an alert is raised once per event); no
// term alerted on two different events; and the hunt counts may exceed the
// uninterrupted ones by at most the StartSession events delivered twice.
func TestKillDashNine(t *testing.T) {
	lines := corpus.DemoStream(t)

	// The uninterrupted reference.
	ref := newHuntRun(t, t.TempDir(), "ref")
	writeFile(t, filepath.Join(ref.Input, "cloudtrail.ndjson"), lines...)
	ref.start(t)
	want := map[string]tags{}
	for _, lr := range ref.waitRecords(t, len(lines)) {
		want[lr.Body().Str()] = tagsOf(lr)
	}
	require.NoError(t, ref.c.Stop(waitTimeout))
	refMetrics := lastMetrics(t, ref.Metrics)
	require.Contains(t, refMetrics, "aws.ssm.session.starts")
	wantStarts := refMetrics["aws.ssm.session.starts"]

	// A kill that lands after the first poll's offsets were saved
	// redelivers nothing, and tests nothing of redelivery: try again.
	for attempt := 1; killAndRestart(t, lines, want, wantStarts) == 0; attempt++ {
		require.Less(t, attempt, 3, "no kill caused a redelivery in %d attempts", attempt)
	}
}

// killAndRestart runs the interrupted run of TestKillDashNine, checks it
// against the reference (want, wantStarts), and says how many events it
// delivered more than once.
func killAndRestart(t *testing.T, lines [][]byte, want map[string]tags, wantStarts int64) int {
	t.Helper()
	// The interrupted run, on a file that grows as CloudTrail delivers.
	dir := t.TempDir()
	first := newHuntRun(t, dir, "first")
	input := filepath.Join(first.Input, "cloudtrail.ndjson")
	writeFile(t, input, lines[:400]...)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		f, err := os.OpenFile(input, os.O_APPEND|os.O_WRONLY, 0)
		if !assert.NoError(t, err) {
			return
		}
		defer f.Close()
		for i := 400; i < len(lines); i += 50 {
			time.Sleep(100 * time.Millisecond)
			_, err := f.Write(append(bytes.Join(lines[i:min(i+50, len(lines))], []byte("\n")), '\n'))
			assert.NoError(t, err)
		}
	}()
	first.start(t)
	// Killed within its first poll, as soon as anything comes out: the
	// offsets of that poll are never saved, so the restart reads those
	// records again.
	deadline := time.Now().Add(waitTimeout)
	for {
		if st, err := os.Stat(first.Output); err == nil && st.Size() > 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "no output from the first run")
		time.Sleep(200 * time.Microsecond)
	}
	first.c.Kill()

	second := newHuntRun(t, dir, "second")
	second.start(t)
	wg.Wait()
	var out []plog.LogRecord
	require.NoError(t, second.c.WaitFor(waitTimeout, func() (bool, error) {
		out = nil
		for _, path := range []string{first.Output, second.Output} {
			batches, err := collectorrun.ReadLogs(path)
			if err != nil {
				return false, err
			}
			out = append(out, collectorrun.Records(batches)...)
		}
		seen := map[string]bool{}
		for _, lr := range out {
			seen[lr.Body().Str()] = true
		}
		return len(seen) == len(want), nil
	}))
	require.NoError(t, second.c.Stop(waitTimeout))

	copies := map[string]int{}
	alerted := map[string]map[string]bool{} // term -> events alerted
	for _, lr := range out {
		body := lr.Body().Str()
		copies[body]++
		got := tagsOf(lr)
		if w := want[body]; copies[body] > 1 && w.newTerm == "true" && got == (tags{newTerm: "false", terms: w.terms}) {
			continue // redelivered after its alert was delivered
		}
		require.Equal(t, want[body], got, "copy %d: tags differ from the uninterrupted run", copies[body])
		if got.newTerm == "true" {
			if alerted[got.terms] == nil {
				alerted[got.terms] = map[string]bool{}
			}
			alerted[got.terms][body] = true
		}
	}
	for term, events := range alerted {
		assert.Len(t, events, 1, "term %s alerted on different events", term)
	}
	redelivered, redeliveredStarts := 0, int64(0)
	for body, n := range copies {
		if n > 1 {
			redelivered++
			if strings.Contains(body, `"eventName":"StartSession"`) {
				redeliveredStarts += int64(n - 1)
			}
		}
	}
	t.Logf("%d records, %d events delivered more than once (%d StartSession)", len(out), redelivered, redeliveredStarts)
	got := lastMetrics(t, second.Metrics)["aws.ssm.session.starts"]
	assert.GreaterOrEqual(t, got, wantStarts, "no count lost")
	assert.LessOrEqual(t, got, wantStarts+redeliveredStarts, "no count doubled beyond redelivery")
	return redelivered
}
