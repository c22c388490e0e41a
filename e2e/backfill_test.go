// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/shapes"
)

var archiveStart = time.Date(2026, 11, 6, 0, 0, 0, 0, time.UTC)

// startSession is a StartSession by IAM user name at t.
func startSession(name string, t time.Time, id int) []byte {
	return []byte(fmt.Sprintf(`{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDA%s","arn":"arn:aws:iam::111122223333:user/%s",`+
		`"accountId":"111122223333","userName":"%s"},"eventTime":"%s","eventSource":"ssm.amazonaws.com","eventName":"StartSession",`+
		`"awsRegion":"eu-west-1","sourceIPAddress":"203.0.113.9","requestParameters":{"target":"i-0a3f5c2e91b7d4e01"},`+
		`"eventID":"00000000-0000-4000-8000-%012d","recipientAccountId":"111122223333"}`, name, name, name, t.Format(time.RFC3339), id))
}

// describe is an everyday call around the sessions.
func describe(t time.Time, id int) []byte {
	return []byte(fmt.Sprintf(`{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/DatadogIntegrationRole/DatadogAWSIntegration","accountId":"111122223333"},`+
		`"eventTime":"%s","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"eu-west-1","sourceIPAddress":"192.0.2.77",`+
		`"eventID":"00000000-0000-4000-9000-%012d","recipientAccountId":"111122223333"}`, t.Format(time.RFC3339), id))
}

// archiveObjects is ten days of a trail, an object an hour, perObject
// events each: every fourth a StartSession by one of identities users, the
// rest everyday calls. It returns the objects and the number of events.
func archiveObjects(perObject, users int) ([][]byte, int) {
	var objects [][]byte
	id := 0
	for hour := 0; hour < 240; hour++ {
		var raws [][]byte
		at := archiveStart.Add(time.Duration(hour) * time.Hour)
		for i := 0; i < perObject; i++ {
			id++
			ts := at.Add(time.Duration(i) * time.Hour / time.Duration(perObject))
			if i%4 == 0 {
				raws = append(raws, startSession(fmt.Sprintf("user-%03d", (hour*perObject/4+i/4)%users), ts, id))
			} else {
				raws = append(raws, describe(ts, id))
			}
		}
		objects = append(objects, shapes.S3Object(raws))
	}
	return objects, id
}

// backfill writes objects gzip'ed into a new folder and runs the backfill
// collector on it until every event is out: one object at a time, oldest
// first, so the first match begins the learning period.
func backfill(t testing.TB, dir string, objects [][]byte, events int) (*run, []plog.LogRecord, time.Duration) {
	t.Helper()
	r := newRun(t, dir, "backfill")
	r.Input, r.LearningPeriod, r.OneByOne = filepath.Join(dir, "archive"), "240h", true
	require.NoError(t, os.MkdirAll(r.Input, 0o755))
	for i, o := range objects {
		writeRaw(t, filepath.Join(r.Input, fmt.Sprintf("111122223333_CloudTrail_eu-west-1_%03d.json.gz", i)), gzipped(t, o))
	}
	begin := time.Now()
	r.start(t)
	out := r.waitRecords(t, events)
	return r, out, time.Since(begin)
}

// BenchmarkBackfill: ten days of a busy trail, 96,000 events in 240 gzip'ed
// objects, through file_log, the processor (file_storage, learning) and the
// file exporter, from start to the last record written.
func BenchmarkBackfill(b *testing.B) {
	objects, events := archiveObjects(400, 2000)
	for range b.N {
		r, _, took := backfill(b, b.TempDir(), objects, events)
		r.stop(b)
		b.ReportMetric(float64(events)/took.Seconds(), "events/s")
		b.ReportMetric(took.Seconds(), "s")
	}
}

// TestBackfillThenLive is the README's first deployment: ten days of
// archived CloudTrail (gzip'ed S3 objects on disk) go through the collector
// and its state with learning_period covering the archive, then the
// collector goes live on the same state. The archive is learnt, not
// alerted; live, only identities absent from the archive alert.
func TestBackfillThenLive(t *testing.T) {
	const archived, fresh = 150, 10
	dir := t.TempDir()
	objects, events := archiveObjects(40, archived)
	r, out, took := backfill(t, dir, objects, events)
	t.Logf("backfill: %d events in %d objects, %s (%.0f events/s, file_log, processor with file_storage, file exporter)",
		events, len(objects), took.Round(time.Millisecond), float64(events)/took.Seconds())
	learnt := 0
	for _, lr := range out {
		if attr(lr, "rule.id") == "" {
			continue
		}
		assert.Equal(t, "false", attr(lr, "ssmsession.new_term"))
		assert.Empty(t, attr(lr, "ssmsession.alert_id"), "nothing in the archive is alerted")
		if attr(lr, "ssmsession.learning") == "true" {
			learnt++
		}
	}
	assert.Equal(t, events/4, learnt)
	r.stop(t)

	live := newRun(t, dir, "live")
	live.LearningPeriod = "240h"
	live.start(t)
	liveStart := archiveStart.Add(10*24*time.Hour + time.Hour) // after the end
	var raws [][]byte
	for i := 0; i < archived+fresh; i++ {
		raws = append(raws, startSession(fmt.Sprintf("user-%03d", i), liveStart.Add(time.Duration(i)*time.Minute), events+i+1))
	}
	writeFile(t, filepath.Join(live.Input, "cloudtrail.ndjson"), raws...)
	var alerted []string
	for _, lr := range live.waitRecords(t, len(raws)) {
		assert.Empty(t, attr(lr, "ssmsession.learning"), "live events are past the learning period")
		if attr(lr, "ssmsession.new_term") == "true" {
			alerted = append(alerted, attr(lr, "ssmsession.principal"))
		}
	}
	var want []string
	for i := archived; i < archived+fresh; i++ {
		want = append(want, fmt.Sprintf("arn:aws:iam::111122223333:user/user-%03d", i))
	}
	assert.Equal(t, want, alerted, "only identities absent from the archive")
	live.stop(t)
}
