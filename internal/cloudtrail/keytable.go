// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package cloudtrail // import "github.com/cloudtrail-detect/ssmsession/internal/cloudtrail"

// keyTable maps the keys a reader wants to what it does with them,
// dispatching by key length first: most keys of a record are not wanted,
// and an index into byLen rejects them without hashing.
type keyTable[T any] struct {
	byLen [][]keyEntry[T]
}

type keyEntry[T any] struct {
	key string
	val T
}

func newKeyTable[T any](entries map[string]T) keyTable[T] {
	var t keyTable[T]
	for k, v := range entries {
		for len(t.byLen) <= len(k) {
			t.byLen = append(t.byLen, nil)
		}
		t.byLen[len(k)] = append(t.byLen[len(k)], keyEntry[T]{k, v})
	}
	return t
}

// get finds k, a string or a key held as bytes (fastjson's, not copied).
func get[T any, K string | []byte](t *keyTable[T], k K) (T, bool) {
	if len(k) < len(t.byLen) {
		for _, e := range t.byLen[len(k)] {
			if e.key == string(k) {
				return e.val, true
			}
		}
	}
	var zero T
	return zero, false
}

// each calls fn for every entry.
func (t *keyTable[T]) each(fn func(key string, val T)) {
	for _, entries := range t.byLen {
		for _, e := range entries {
			fn(e.key, e.val)
		}
	}
}
