// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

// Package testclock is a settable wall clock for tests: components take a
// func() time.Time, tests pass Clock.Now and move it with Advance.
package testclock // import "github.com/cloudtrail-detect/ssmsession/internal/testsupport/testclock"

import (
	"sync"
	"time"
)

// Clock is safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// At returns a clock that reads t until advanced.
func At(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
