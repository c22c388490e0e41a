// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package shapes // import "github.com/cloudtrail-detect/ssmsession/internal/testsupport/shapes"

import (
	"encoding/json"
	"strings"
	"unicode/utf16"
)

// JavaString renders v as Java's Map.toString() does for a HashMap built by
// inserting keys in document order: "{k=v, k2=v2}", lists as "[a, b]",
// nothing quoted or escaped, keys in hash-bucket order. Document order is not
// kept by Go maps, so keys are inserted sorted; that only changes the order of
// keys that share a bucket.
func JavaString(v any) string {
	var b strings.Builder
	writeJava(&b, v)
	return b.String()
}

func writeJava(b *strings.Builder, v any) {
	switch t := v.(type) {
	case map[string]any:
		b.WriteByte('{')
		for i, k := range hashOrder(keys(t)) {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(k)
			b.WriteByte('=')
			writeJava(b, t[k])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, x := range t {
			if i > 0 {
				b.WriteString(", ")
			}
			writeJava(b, x)
		}
		b.WriteByte(']')
	case string:
		b.WriteString(t)
	case json.Number:
		b.WriteString(t.String())
	case bool:
		if t {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case nil:
		b.WriteString("null")
	default:
		b.WriteString("?")
	}
}

// hashOrder sorts keys as java.util.HashMap iterates them: by bucket index of
// the spread hash, insertion order within a bucket, with the table doubled
// from 16 whenever it is more than three quarters full.
func hashOrder(ks []string) []string {
	capacity := 16
	for len(ks)*4 > capacity*3 {
		capacity *= 2
	}
	buckets := make([][]string, capacity)
	for _, k := range ks {
		h := javaHash(k)
		i := (h ^ (h >> 16)) & uint32(capacity-1)
		buckets[i] = append(buckets[i], k)
	}
	out := make([]string, 0, len(ks))
	for _, bucket := range buckets {
		out = append(out, bucket...)
	}
	return out
}

// javaHash is String.hashCode over UTF-16 code units.
func javaHash(s string) uint32 {
	var h uint32
	for _, u := range utf16.Encode([]rune(s)) {
		h = 31*h + uint32(u)
	}
	return h
}
