// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package main

import (
	"bytes"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/collectorrun"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/repo"
)

// TestDemo runs what `make run` runs and checks the story it tells: the
// seven identities' first sessions, the web server that had run for days
// and the instance launched half an hour before the pivot, the sessions'
// durations and the one left open; and no alert again on replay.
func TestDemo(t *testing.T) {
	root, err := repo.Root()
	require.NoError(t, err)
	binary, err := collectorrun.Build(root)
	require.NoError(t, err)
	runDir := t.TempDir()
	var out bytes.Buffer
	require.NoError(t, run(&out, binary, filepath.Join(root, "testdata", "demo"), runDir, false))
	alerts := regexp.MustCompile(`(?m)^(2026-11-\d\d \d\d:\d\d:\d\d)  (\d{12})  (\S+) +(i-[0-9a-f]+)`).FindAllStringSubmatch(out.String(), -1)
	var got []string
	for _, a := range alerts {
		got = append(got, a[1]+" "+a[2]+" "+a[3]+" "+a[4])
	}
	assert.Equal(t, []string{
		"2026-11-16 09:37:13 111122223333 AWSReservedSSO_OpsEngineer_7c1f0a9b2e3d4c5f i-0a3f5c2e91b7d4e02",
		"2026-11-16 10:30:00 111122223333 github-deploy i-0db5e7a1c3f9b2d40",
		"2026-11-17 21:40:00 111122223333 arn:aws:iam::111122223333:root i-0b4571a2c3d4e5f60",
		"2026-11-18 02:05:10 111122223333 svc-reporting i-0a3f5c2e91b7d4e01",
		"2026-11-18 02:15:02 111122223333 web-tier i-0db5e7a1c3f9b2d40",
		"2026-11-19 09:12:00 444455556666 erin i-0de7b0c5a1f2e3d49",
		"2026-11-19 10:03:00 444455556666 AWSReservedSSO_Developer_2b8e4d6f0a1c3e5a i-0de7b0c5a1f2e3d49",
	}, got, out.String())
	assert.Contains(t, out.String(), "847 events processed")
	assert.Contains(t, out.String(), "instance-to-instance: role credentials of i-0a3f5c2e91b7d4e01")
	assert.Regexp(t, `svc-reporting +i-0a3f5c2e91b7d4e01 +no: running > 24h`, out.String(), "the foothold: a web server running for days")
	assert.Regexp(t, `(?m)^2026-11-16 09:37:13 .* unknown yet `, out.String(), "the first session: nothing watched yet")
	assert.Contains(t, out.String(), "2026-11-18 02:24:30  assumed-role/web-tier/i-0a3f5c2e91b7d4e01 -> i-0a3f5c2e91b7d4e03, recently, at 01:28:12",
		"the instance the Auto Scaling group launched half an hour before")
	assert.Regexp(t, `i-0a3f5c2e91b7d4e03 +1 +7 min +7 min +0`, out.String(), "the pivot's 6-minute session there, ended")
	assert.Regexp(t, `i-0b4571a2c3d4e5f60 +12 +\d+ min +\d+ min +1`, out.String(), "carol's resumed session on the bastion, open")
	hunt := regexp.MustCompile(`HUNT: 42 StartSession calls counted`)
	assert.Regexp(t, hunt, out.String())
	assert.Regexp(t, `assumed-role/web-tier/i-0a3f5c2e91b7d4e01 +AssumedRole +4`, out.String(), "the pivot's fan-out")
	assert.Contains(t, out.String(), "assumed-role/web-tier/i-0a3f5c2e91b7d4e01 -> i-0c8e2f4a6b1d3e5f7 (failure)")
	assert.Regexp(t, `aws_ssm_session_targets_distinct\{`, out.String(), "served by the prometheus exporter")

	out.Reset()
	require.NoError(t, run(&out, binary, filepath.Join(root, "testdata", "demo"), runDir, true))
	assert.Contains(t, out.String(), "(none: every identity was already known")
	assert.Regexp(t, hunt, out.String(), "a replay on the same state counts nothing twice")
}
