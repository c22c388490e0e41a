// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package redisterms // import "github.com/cloudtrail-detect/ssmsession/internal/redisterms"

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Batch is one round trip of single-key commands, each with the node it
// goes to, so that a node left alone is not asked and the outcome is told
// node by node: in a Cluster, one master down fails only its keys.
type Batch struct {
	b       *Backoff
	begun   time.Time
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
	resent  map[redis.Cmder]bool // refused at first, sent again
}

// Begin starts a round trip within ctx, bounded by timeout; End ends it.
func (b *Backoff) Begin(ctx context.Context, timeout time.Duration) *Batch {
	begun := b.now()
	b.Ready(ctx, timeout)
	tctx, cancel := context.WithTimeout(ctx, timeout)
	return &Batch{b: b, begun: begun, parent: ctx, timeout: timeout, ctx: tctx, cancel: cancel,
		queue: b.client.Pipeline(), clients: map[string]*redis.Client{}, resent: map[redis.Cmder]bool{}}
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
// absence is an answer; so is a redirection that could not be followed,
// whose command the caller decides locally). Each node has its own
// pipeline so that a node that does not answer costs only its own commands
// (go-redis's Cluster pipeline, retrying it, would fail the others'
// answers with the deadline).
//
// What a node refused to take is sent again, only that, with a timeout of
// its own, on the pipeline of the node that is to take it: scripts a node
// does not have (restarted, or a replica just promoted: scripts are not
// replicated), loaded there first; a key whose slot moved (MOVED) or is
// moving (ASK) to another master, there, as go-redis's Cluster client
// would send it but without its retries. Only that, and once: a decision
// that ran must not run twice, or it would meet its own alert and say
// "not new".
func (bt *Batch) Exec() error {
	if len(bt.cmds) == 0 {
		return nil
	}
	all := make([]int, len(bt.cmds))
	for i := range all {
		all[i] = i
	}
	bt.send(bt.ctx, all)
	bt.again()
	down := map[string]bool{}
	var first error
	for i, c := range bt.cmds {
		if isRedirection(c) {
			continue // answered, by a node that holds the slot no more: decided locally, nobody failed
		}
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
			bt.b.Reached(n, bt.begun)
		}
	}
	if first == nil {
		bt.b.Reached(Whole, bt.begun)
	}
	return first
}

// nodeClient is what sends to node: a Cluster master's own client, else
// the client.
func (bt *Batch) nodeClient(node string) interface {
	redis.Scripter
	Pipeline() redis.Pipeliner
} {
	if client := bt.clients[node]; client != nil {
		return client
	}
	return bt.b.client
}

// send executes the commands idx, grouped by node, the groups at once.
func (bt *Batch) send(ctx context.Context, idx []int) {
	pipes := map[string]redis.Pipeliner{}
	for _, i := range idx {
		node := bt.nodes[i]
		pipe, ok := pipes[node]
		if !ok {
			pipe = bt.nodeClient(node).Pipeline()
			pipes[node] = pipe
		}
		_ = pipe.Process(ctx, bt.cmds[i]) // again: its answer lands where the caller looks
	}
	var wg sync.WaitGroup
	for _, pipe := range pipes {
		wg.Go(func() { _, _ = pipe.Exec(ctx) }) // each command's own error tells
	}
	wg.Wait()
}

// again sends what a node refused to take (see Exec) once more.
func (bt *Batch) again() {
	var moved []int
	scriptless := map[string][]int{} // by node: the nodes that lack the scripts
	for i, c := range bt.cmds {
		switch {
		case refused(c, "NOSCRIPT"):
			scriptless[bt.nodes[i]] = append(scriptless[bt.nodes[i]], i)
		case isRedirection(c):
			moved = append(moved, i)
		}
	}
	if len(scriptless) == 0 && len(moved) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(bt.parent, bt.timeout)
	defer cancel()
	// Each node is given the scripts and sent its commands on its own, so
	// that a slow one costs only its own share.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var sent []int
	for node, idx := range scriptless {
		wg.Go(func() {
			if loadScripts(ctx, bt.nodeClient(node)) != nil {
				return // the commands keep their NOSCRIPT: the node failed
			}
			bt.send(ctx, idx)
			mu.Lock()
			sent = append(sent, idx...)
			mu.Unlock()
		})
	}
	if len(moved) > 0 {
		moved = bt.redirect(ctx, &wg, moved)
	}
	wg.Wait()
	for _, i := range append(sent, moved...) {
		bt.resent[bt.cmds[i]] = true
	}
}

// redirect sends the commands moved names where their redirections
// point, each master's on its pipeline, with the scripts loaded there first
// and ASKING before a command whose slot is still moving (ASK, to the
// master named); after MOVED, to the slot's master in the slot map, read
// again. It returns the commands sent; wg waits for them. A master left
// alone, or one the slot map does not list (an ASK to a master that serves
// no slot yet), is not asked: those commands are decided locally; so are
// all of them when reading the slot map took the resend's time.
func (bt *Batch) redirect(ctx context.Context, wg *sync.WaitGroup, moved []int) []int {
	if bt.b.cluster == nil {
		return nil
	}
	masters, _ := bt.b.masters(ctx)
	to := map[string][]int{}
	asks := map[int]bool{}
	for _, i := range moved {
		addr, asking := redirection(bt.cmds[i].Err())
		asks[i] = asking
		if !asking {
			if c, err := bt.b.cluster.MasterForKey(ctx, bt.keys[i]); err == nil {
				addr = c.Options().Addr
				masters[addr] = c
			}
		}
		if masters[addr] != nil && !bt.b.Down(addr) {
			to[addr] = append(to[addr], i)
		}
	}
	if ctx.Err() != nil {
		return nil // reading the slot map took the time: the masters are not to blame
	}
	var sent []int
	for addr, idx := range to {
		sent = append(sent, idx...)
		client := masters[addr]
		wg.Go(func() {
			_ = loadScripts(ctx, client) // a failure shows in the answers
			pipe := client.Pipeline()
			for _, i := range idx {
				if asks[i] {
					pipe.Do(ctx, "asking")
				}
				bt.nodes[i] = addr // its answer, or failure, is this master's
				_ = pipe.Process(ctx, bt.cmds[i])
			}
			_, _ = pipe.Exec(ctx)
		})
	}
	return sent
}

func isRedirection(c redis.Cmder) bool { return refused(c, "MOVED") || refused(c, "ASK") }

// redirection reads a MOVED or ASK error ("MOVED 3999 127.0.0.1:6381",
// "ASK 3999 ::1:6381": Redis writes an IPv6 address bare): the master
// named, as go-redis names it, and whether the slot is still moving (ASK).
func redirection(err error) (addr string, asking bool) {
	f := strings.Fields(err.Error())
	for j := 0; j+2 < len(f); j++ {
		if f[j] != "MOVED" && f[j] != "ASK" {
			continue
		}
		at := strings.LastIndexByte(f[j+2], ':')
		if at < 0 {
			return "", false
		}
		host := strings.Trim(f[j+2][:at], "[]")
		return net.JoinHostPort(host, f[j+2][at+1:]), f[j] == "ASK"
	}
	return "", false
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
