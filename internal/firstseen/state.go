// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package firstseen // import "github.com/cloudtrail-detect/ssmsession/internal/firstseen"

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
)

// Key identifies a term: one combination of new_terms field values. It is a
// truncated SHA-256, so state per term has a fixed size and a crafted
// identity cannot collide with (and so silence) a known one.
type Key [16]byte

// KeyOf hashes the field values of a term under a namespace (the field
// names), length-prefixing each so that no two value lists share a key.
func KeyOf(namespace string, values []string) Key {
	var buf [512]byte
	b := appendLengthPrefixed(buf[:0], namespace)
	for _, v := range values {
		b = appendLengthPrefixed(b, v)
	}
	sum := sha256.Sum256(b)
	var k Key
	copy(k[:], sum[:])
	return k
}

func appendLengthPrefixed(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

const (
	// TermPrefix begins the storage keys of terms, the default KeyPrefix.
	TermPrefix   = "t:"
	valueVersion = 1
	valueLen     = 1 + 8 + 8 + 8 + 1
)

var errBadValue = errors.New("stored term state has an unknown format")

func (s *Store) storageKey(k Key) string { return s.set.KeyPrefix + hex.EncodeToString(k[:]) }

func encode(s State) []byte {
	b := make([]byte, valueLen)
	b[0] = valueVersion
	binary.BigEndian.PutUint64(b[1:], uint64(s.Latest))
	binary.BigEndian.PutUint64(b[9:], uint64(s.AlertAt))
	binary.BigEndian.PutUint64(b[17:], s.AlertEv)
	b[25] = byte(s.Status)
	return b
}

// decode reads a stored state. An alert still in flight when the state was
// written is read as needing a retry: the process that wrote it is gone and
// never learnt whether the alert was delivered.
func decode(b []byte) (State, error) {
	if len(b) != valueLen || b[0] != valueVersion {
		return State{}, errBadValue
	}
	s := State{
		Latest:  int64(binary.BigEndian.Uint64(b[1:])),
		AlertAt: int64(binary.BigEndian.Uint64(b[9:])),
		AlertEv: binary.BigEndian.Uint64(b[17:]),
		Status:  Status(b[25]),
	}
	if s.Status == StatusInFlight {
		s.Status = StatusRetry
	}
	if s.Status > StatusRetry {
		return State{}, errBadValue
	}
	return s, nil
}
