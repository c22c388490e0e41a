// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package redisterms

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Redirections name the master as Redis writes it; it is matched as
// go-redis names masters (an IPv6 address in brackets).
func TestRedirection(t *testing.T) {
	for _, c := range []struct {
		err    string
		addr   string
		asking bool
	}{
		{"MOVED 3999 127.0.0.1:6381", "127.0.0.1:6381", false},
		{"ASK 3999 127.0.0.1:6381", "127.0.0.1:6381", true},
		{"MOVED 12182 ::1:17102", "[::1]:17102", false},
		{"MOVED 12182 [::1]:17102", "[::1]:17102", false},
		{"ASK 1 redis-2.internal:6379", "redis-2.internal:6379", true},
		{"ERR MOVED 3999 10.0.0.7:6379", "10.0.0.7:6379", false},
		{"MOVED 3999", "", false},
		{"NOSCRIPT No matching script", "", false},
	} {
		addr, asking := redirection(errors.New(c.err))
		assert.Equal(t, c.addr, addr, c.err)
		assert.Equal(t, c.asking, asking, c.err)
	}
}
