// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package cloudtrail // import "github.com/cloudtrail-detect/ssmsession/internal/cloudtrail"

import (
	"iter"
	"strings"
)

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
	inner, ok := kvInner(s)
	if !ok {
		return ""
	}
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

// kvInner is the text between the braces of a Java map string.
func kvInner(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return "", false
	}
	return s[1 : len(s)-1], true
}

// kvAt returns the value of the key that begins at inner[i]: the text up to
// the next ", " or closing brace.
func kvAt(inner string, i int) string {
	v := inner[i:]
	if j := strings.IndexAny(v, ",}"); j >= 0 {
		v = v[:j]
	}
	return v
}

// atKey reports whether inner[i] begins a key: at the start, after ", ", or
// after the '{' of a nested map.
func atKey(inner string, i int) bool {
	return i == 0 || inner[i-1] == '{' || i >= 2 && inner[i-2:i] == ", "
}

// DocumentNameFromKV reads documentName from Elastic's request_parameters
// string. In Java's HashMap order only reason (free text) can precede it,
// so it is read only when it opens the string: after a reason, a
// "documentName=" may be the reason's own text, and nothing is read.
func DocumentNameFromKV(s string) string {
	inner, ok := kvInner(s)
	const key = "documentName="
	if !ok || !strings.HasPrefix(inner, key) {
		return ""
	}
	if v := kvAt(inner, len(key)); validDocumentName(v) {
		return v
	}
	return ""
}

// validDocumentName accepts SSM document names and ARNs
// ([a-zA-Z0-9_.:/-], 3 to 128 characters, plus an ARN's prefix).
func validDocumentName(v string) bool {
	if len(v) < 3 || len(v) > 256 {
		return false
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_' || c == '-' || c == '.' || c == ':' || c == '/':
		default:
			return false
		}
	}
	return true
}

// SessionIDFromKV reads sessionId from a response_elements string
// (StartSession's holds streamUrl, sessionId and tokenValue, none free
// text) or from the request_parameters of TerminateSession and
// ResumeSession (sessionId alone).
func SessionIDFromKV(s string) string {
	for v := range kvValues(s, "sessionId=") {
		if validSessionID(v) {
			return v
		}
		return ""
	}
	return ""
}

// validSessionID accepts what SSM names sessions: the caller's session name
// and a suffix, without spaces or separators.
func validSessionID(v string) bool {
	return v != "" && len(v) <= 512 && !strings.ContainsAny(v, " ,{}[]\t\r\n")
}

// InstancesFromKV reads every instanceId of a RunInstances response_elements
// string. Tag values are free text and could imitate the key: records that
// also carry the response as a map (aws.cloudtrail.flattened) are read from
// the map instead.
func InstancesFromKV(s string, add func(string)) {
	for v := range kvValues(s, "instanceId=") {
		add(v)
	}
}

// kvValues yields the value of each key (given with its "=") found at a key
// position of a Java map string, in order.
func kvValues(s, key string) iter.Seq[string] {
	return func(yield func(string) bool) {
		inner, ok := kvInner(s)
		if !ok {
			return
		}
		for from := 0; ; {
			i := strings.Index(inner[from:], key)
			if i < 0 {
				return
			}
			i += from
			from = i + len(key)
			if atKey(inner, i) && !yield(kvAt(inner, from)) {
				return
			}
		}
	}
}
