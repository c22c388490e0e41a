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
	b.Reached(Whole, clock.Now())
	assert.False(t, b.Recovered(), "no failure, nothing to report")
	b.Trip(Whole)
	assert.True(t, b.Down(Whole))
	clock.Advance(4 * time.Second)
	assert.True(t, b.Down(Whole), "calls while down do not try Redis")
	clock.Advance(time.Second)
	assert.False(t, b.Down(Whole), "tried again after the interval")
	assert.False(t, b.Recovered(), "not answered yet")
	b.Reached(Whole, clock.Now())
	assert.True(t, b.Recovered())
	assert.False(t, b.Recovered(), "reported once")
}

// A Cluster master that failed is left alone without the others; the
// recovery is reported once every failed node has answered.
func TestBackoffPerNode(t *testing.T) {
	clock := testclock.At(t0)
	b := NewBackoff(nil, 5*time.Second, clock.Now)
	b.Trip("10.0.0.1:6379")
	assert.True(t, b.Down("10.0.0.1:6379"))
	assert.False(t, b.Down("10.0.0.2:6379"), "another master is asked")
	assert.False(t, b.Down(Whole), "the client as a whole is asked")
	b.Trip(Whole)
	assert.True(t, b.Down("10.0.0.2:6379"), "the whole client down: every master")
	clock.Advance(5 * time.Second)
	b.Reached(Whole, clock.Now())
	assert.False(t, b.Recovered(), "a master has not answered yet")
	b.Reached("10.0.0.1:6379", clock.Now())
	assert.True(t, b.Recovered())
}

// A recovery not yet reported when another node fails is not reported:
// the status would say OK while that node is left alone.
func TestBackoffFailureCancelsAnUnreportedRecovery(t *testing.T) {
	clock := testclock.At(t0)
	b := NewBackoff(nil, 5*time.Second, clock.Now)
	b.Trip("a")
	b.Reached("a", clock.Now()) // by a store with no stats to report it
	b.Trip("b")
	assert.False(t, b.Recovered(), "b is down")
}

// A round trip that began before a node failed does not clear that
// failure with the answer it had from the node earlier.
func TestBackoffStaleAnswerKeepsANewerFailure(t *testing.T) {
	clock := testclock.At(t0)
	b := NewBackoff(nil, 5*time.Second, clock.Now)
	begun := clock.Now()
	clock.Advance(time.Millisecond)
	b.Trip("a") // another round trip met the failure meanwhile
	b.Reached("a", begun)
	assert.True(t, b.Down("a"))
	clock.Advance(5 * time.Second)
	b.Reached("a", clock.Now())
	assert.False(t, b.Down("a"))
	assert.True(t, b.Recovered())
}
