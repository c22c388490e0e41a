// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package redisterms // import "github.com/cloudtrail-detect/ssmsession/internal/redisterms"

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Batch is one round trip of single-key commands, each with the node it
// goes to, so that a node left alone is not asked and the outcome is told
// node by node: in a Cluster, one master down fails only its keys.
type Batch struct {
	b       *Backoff
	parent  context.Context
	timeout time.Duration
	ctx     context.Context // the parent's, bounded by timeout
	cancel  context.CancelFunc
	queue   redis.Pipeliner // makes the commands; never sent
	nodes   []string
	keys    []string
	cmds    []redis.Cmder
	// A Cluster master's own client, by node: a batch's share for one
	// master is sent on its own pipeline.
	clients map[string]*redis.Client
}

// Begin starts a round trip within ctx, bounded by timeout; End ends it.
func (b *Backoff) Begin(ctx context.Context, timeout time.Duration) *Batch {
	tctx, cancel := context.WithTimeout(ctx, timeout)
	b.Ready(tctx)
	return &Batch{b: b, parent: ctx, timeout: timeout, ctx: tctx, cancel: cancel, queue: b.client.Pipeline(),
		clients: map[string]*redis.Client{}}
}

// End releases the round trip's context.
func (bt *Batch) End() { bt.cancel() }

// Queue queues the command queue makes for key, unless key's node is left
// alone now: then it returns false and queues nothing.
func Queue[C redis.Cmder](bt *Batch, key string, queue func(context.Context, redis.Pipeliner) C) (C, bool) {
	node, client := bt.b.route(bt.ctx, key)
	if bt.b.Down(node) {
		var none C
		return none, false
	}
	if client != nil {
		bt.clients[node] = client
	}
	n := bt.queue.Len()
	c := queue(bt.ctx, bt.queue)
	for _, made := range bt.queue.Cmds()[n:] { // all it made: SetOnce makes two
		bt.nodes, bt.keys, bt.cmds = append(bt.nodes, node), append(bt.keys, key), append(bt.cmds, made)
	}
	return c, true
}

// Exec sends the queued commands, one pipeline per node at once, and
// returns the first failure: a node with a failed command is left alone
// for the retry interval, one whose commands answered is reached (a key's
// absence is an answer). Each node has its own pipeline so that a node
// that does not answer costs only its own commands (go-redis's Cluster
// pipeline, retrying it, would fail the others' answers with the
// deadline).
//
// What a node refused is sent again, only that, with a timeout of its
// own, through the client (which follows a Cluster's redirections): a key
// moved to another master (MOVED, ASK), and scripts a node does not have
// (restarted, or a replica just promoted: scripts are not replicated),
// loaded there first. Only that: a decision that ran must not run twice,
// or it would meet its own alert and say "not new".
func (bt *Batch) Exec() error {
	if len(bt.cmds) == 0 {
		return nil
	}
	bt.send()
	bt.again()
	down := map[string]bool{}
	var first error
	for i, c := range bt.cmds {
		if err := Failure(c); err != nil {
			down[bt.nodes[i]] = true
			if first == nil {
				first = err
			}
		}
	}
	for n := range down {
		bt.b.Trip(n)
	}
	for _, n := range bt.nodes {
		if !down[n] {
			bt.b.Reached(n)
		}
	}
	if first == nil {
		bt.b.Reached(Whole)
	}
	return first
}

// send executes the commands, grouped by node, the groups at once.
func (bt *Batch) send() {
	pipes := map[string]redis.Pipeliner{}
	for i, c := range bt.cmds {
		node := bt.nodes[i]
		pipe, ok := pipes[node]
		if !ok {
			if client := bt.clients[node]; client != nil {
				pipe = client.Pipeline()
			} else {
				pipe = bt.b.client.Pipeline()
			}
			pipes[node] = pipe
		}
		_ = pipe.Process(bt.ctx, c)
	}
	var wg sync.WaitGroup
	for _, pipe := range pipes {
		wg.Go(func() { _, _ = pipe.Exec(bt.ctx) }) // each command's own error tells
	}
	wg.Wait()
}

// again sends what a node refused to take (see Exec) once more.
func (bt *Batch) again() {
	var redo []int
	scriptless := map[string]string{} // node -> a key it serves
	for i, c := range bt.cmds {
		switch {
		case refused(c, "NOSCRIPT"):
			scriptless[bt.nodes[i]] = bt.keys[i]
			redo = append(redo, i)
		case refused(c, "MOVED"), refused(c, "ASK"):
			redo = append(redo, i)
		}
	}
	if len(redo) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(bt.parent, bt.timeout)
	defer cancel()
	loaded := map[string]bool{}
	for node, key := range scriptless {
		loaded[node] = loadScripts(ctx, bt.b.scripter(ctx, key)) == nil
	}
	pipe := bt.b.client.Pipeline()
	for _, i := range redo {
		if c := bt.cmds[i]; !refused(c, "NOSCRIPT") || loaded[bt.nodes[i]] {
			_ = pipe.Process(ctx, c) // the same command: its answer lands where the caller looks
		}
	}
	_, _ = pipe.Exec(ctx)
}

func refused(c redis.Cmder, prefix string) bool {
	err := c.Err()
	return err != nil && redis.HasErrorPrefix(err, prefix)
}

func loadScripts(ctx context.Context, c redis.Scripter) error {
	for _, script := range []*redis.Script{decide, settle} {
		if err := script.Load(ctx, c).Err(); err != nil {
			return err
		}
	}
	return nil
}

// Failure is a command's error, a key's absence aside.
func Failure(c redis.Cmder) error {
	if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	return nil
}
