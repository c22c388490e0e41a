// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package redistest // import "github.com/cloudtrail-detect/ssmsession/internal/testsupport/redistest"

import (
	"context"
	"errors"
	"net"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// Outage is a client hook that, while Down is set, fails every command
// before it leaves the client, as an unreachable network does: the
// server's data stays as it was. (A paused server would run the commands
// queued on its socket once resumed.)
type Outage struct{ Down atomic.Bool }

var errUnreachable = &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused (redistest.Outage)")}

func (o *Outage) DialHook(next redis.DialHook) redis.DialHook { return next }

func (o *Outage) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if o.Down.Load() {
			cmd.SetErr(errUnreachable)
			return errUnreachable
		}
		return next(ctx, cmd)
	}
}

func (o *Outage) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if o.Down.Load() {
			for _, c := range cmds {
				c.SetErr(errUnreachable)
			}
			return errUnreachable
		}
		return next(ctx, cmds)
	}
}
