// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package cloudtrail

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/shapes"
)

func TestTargetFromKV(t *testing.T) {
	for in, want := range map[string]string{
		"{target=i-1234567890abcdef0}":                                               "i-1234567890abcdef0",
		"{documentName=SSM-sudo, target=i-02311671588e96626}":                        "i-02311671588e96626",
		"{reason=db fix, target=mi-0123456789abcdef0}":                               "mi-0123456789abcdef0",
		"{target=ecs:prod_5f1e2d_web}":                                               "ecs:prod_5f1e2d_web",
		" {target=i-0abc12345} ":                                                     "i-0abc12345",
		"{parameters={portNumber=[22], localPortNumber=[9999]}, target=i-0abc12345}": "i-0abc12345",
		// A reason may carry a fake target: the real key is the last one.
		"{reason=ok, target=i-0fake000000000000, target=i-0real00000000000}": "i-0real00000000000",
		"{reason={, target=i-0abc12345}":                                     "i-0abc12345",
		// No target, or none well formed.
		"{documentName=AWS-StartSSHSession}": "",
		"{target=}":                          "",
		"{xtarget=i-0abc12345}":              "",
		"target=i-0abc12345":                 "",
		"{}":                                 "",
		"":                                   "",
	} {
		assert.Equal(t, want, TargetFromKV(in), in)
	}
}

// TestTargetFromJavaOrder renders every parameter combination StartSession
// takes in Java's HashMap order and reads the target back.
func TestTargetFromJavaOrder(t *testing.T) {
	extras := []map[string]any{
		{},
		{"documentName": "AWS-StartPortForwardingSession"},
		{"reason": "ticket 4411, target=i-0fake000000000000"},
		{"parameters": map[string]any{"portNumber": []any{"22"}, "host": []any{"db.internal"}}},
		{"documentName": "SSM-sudo", "reason": "x", "parameters": map[string]any{"command": []any{"id"}}},
	}
	for _, extra := range extras {
		params := map[string]any{"target": "i-0123456789abcdef0"}
		for k, v := range extra {
			params[k] = v
		}
		s := shapes.JavaString(params)
		assert.Equal(t, "i-0123456789abcdef0", TargetFromKV(s), s)
	}
}
