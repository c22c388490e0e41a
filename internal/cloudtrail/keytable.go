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

// get finds k.
func get[T any](t *keyTable[T], k string) (T, bool) {
	if len(k) < len(t.byLen) {
		for _, e := range t.byLen[len(k)] {
			if e.key == k {
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
