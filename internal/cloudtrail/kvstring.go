// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package cloudtrail // import "github.com/cloudtrail-detect/ssmsession/internal/cloudtrail"

import "strings"

// TargetFromKV reads the `target` key from Elastic's request_parameters
// string, a Java Map.toString() such as
// "{documentName=SSM-sudo, reason=x, target=i-0abc}". Values are neither
// quoted nor escaped and keys come in hash order, so splitting by position
// (the hunt's dissect) is wrong: we look for the key itself.
//
// A free-text value (reason) may contain ", target=i-fake". Java's HashMap
// files "target" in the last of its 16 buckets, after every other key
// StartSession takes (documentName, reason, parameters), so the real key is
// the last one at a key position; earlier candidates are ignored.
func TargetFromKV(s string) string {
	s = strings.TrimSpace(s)
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return ""
	}
	inner := s[1 : len(s)-1]
	const key = "target="
	for end := len(inner); end > 0; {
		i := strings.LastIndex(inner[:end], key)
		if i < 0 {
			return ""
		}
		end = i
		if i != 0 && (i < 2 || inner[i-2:i] != ", ") {
			continue
		}
		v := inner[i+len(key):]
		if j := strings.Index(v, ", "); j >= 0 {
			v = v[:j]
		}
		if validTarget(v) {
			return v
		}
	}
	return ""
}

// validTarget accepts what StartSession takes as target: an instance id, a
// managed node id or an ecs:cluster_task_container string; none of these
// contain separators or whitespace.
func validTarget(v string) bool {
	if v == "" || len(v) > 512 {
		return false
	}
	return !strings.ContainsAny(v, " ,{}[]=\t\r\n")
}
