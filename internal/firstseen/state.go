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

// alertStatus tracks the event that last made a term new, so that the same
// event seen again gets the same answer: re-alerted when its first alert may
// not have reached the next consumer, not alerted when it did.
type alertStatus uint8

const (
	alertNone      alertStatus = iota
	alertInFlight              // tagged and passed on; delivery not confirmed yet
	alertDelivered             // the next consumer accepted the batch
	alertRetry                 // delivery failed, or the process stopped before knowing
)

// state is what the store keeps per term (32 bytes).
type state struct {
	latest  int64  // newest occurrence, event time in Unix nanoseconds
	alertAt int64  // event time of the occurrence that raised the alert
	alertEv uint64 // fingerprint of that event
	status  alertStatus
}

const (
	keyPrefix    = "t:"
	valueVersion = 1
	valueLen     = 1 + 8 + 8 + 8 + 1
)

var errBadValue = errors.New("stored term state has an unknown format")

func storageKey(k Key) string { return keyPrefix + hex.EncodeToString(k[:]) }

func encode(s state) []byte {
	b := make([]byte, valueLen)
	b[0] = valueVersion
	binary.BigEndian.PutUint64(b[1:], uint64(s.latest))
	binary.BigEndian.PutUint64(b[9:], uint64(s.alertAt))
	binary.BigEndian.PutUint64(b[17:], s.alertEv)
	b[25] = byte(s.status)
	return b
}

// decode reads a stored state. An alert still in flight when the state was
// written is read as needing a retry: the process that wrote it is gone and
// never learnt whether the alert was delivered.
func decode(b []byte) (state, error) {
	if len(b) != valueLen || b[0] != valueVersion {
		return state{}, errBadValue
	}
	s := state{
		latest:  int64(binary.BigEndian.Uint64(b[1:])),
		alertAt: int64(binary.BigEndian.Uint64(b[9:])),
		alertEv: binary.BigEndian.Uint64(b[17:]),
		status:  alertStatus(b[25]),
	}
	if s.status == alertInFlight {
		s.status = alertRetry
	}
	if s.status > alertRetry {
		return state{}, errBadValue
	}
	return s, nil
}
