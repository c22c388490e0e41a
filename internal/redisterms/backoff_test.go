// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package redisterms

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/testclock"
)

// One failure leaves Redis alone for the retry interval; the first round
// trip after it clears the wait, and the recovery is reported once, by
// whichever store asks first.
func TestBackoff(t *testing.T) {
	clock := testclock.At(t0)
	b := NewBackoff(nil, 5*time.Second, clock.Now)
	b.Reached()
	assert.False(t, b.Recovered(), "no failure, nothing to report")
	b.Trip()
	assert.True(t, b.Down())
	clock.Advance(4 * time.Second)
	assert.True(t, b.Down(), "calls while down do not try Redis")
	clock.Advance(time.Second)
	assert.False(t, b.Down(), "tried again after the interval")
	assert.False(t, b.Recovered(), "not answered yet")
	b.Reached()
	assert.True(t, b.Recovered())
	assert.False(t, b.Recovered(), "reported once")
}
