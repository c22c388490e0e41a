// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

// Package redistest runs a real redis-server (Debian's package) on a
// random loopback port for a test. Without the binary the test is skipped,
// unless SSMSESSION_REQUIRE_REDIS is set (CI sets it): then it fails.
package redistest // import "github.com/cloudtrail-detect/ssmsession/internal/testsupport/redistest"

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/collectorrun"
)

// Server is one redis-server process.
type Server struct {
	Addr   string
	CAFile string // with StartTLS: the CA certificate that issued the server's (PEM)

	tb  testing.TB
	dir string
	tls *tlsFiles // nil: plain TCP
	cmd *exec.Cmd
}

// Start runs redis-server without persistence; it is stopped at test end.
func Start(tb testing.TB) *Server {
	tb.Helper()
	requireRedis(tb)
	return startServer(tb, nil)
}

// startServer runs the server on a free port, over TLS with tls's files
// unless it is nil.
func startServer(tb testing.TB, tls *tlsFiles) *Server {
	tb.Helper()
	port, err := collectorrun.FreePort()
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), tb: tb, dir: tb.TempDir(), tls: tls, CAFile: tls.caFile()}
	s.Restart()
	tb.Cleanup(s.Stop)
	return s
}

// Restart starts the server again on the same address (Stop first); its
// data is gone, as after a crash without persistence.
func (s *Server) Restart() {
	s.tb.Helper()
	_, port, _ := net.SplitHostPort(s.Addr)
	s.cmd = exec.Command("redis-server", append(s.tls.serverArgs(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", s.dir)...)
	if err := s.cmd.Start(); err != nil {
		s.tb.Fatal(err)
	}
	waitListening(s.tb, s.Addr)
}

// Stop kills the server (as a crash would) and waits for it.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Pause freezes the server (SIGSTOP): connections stay open, commands hang,
// as with an overloaded Redis. Resume thaws it, data intact.
func (s *Server) Pause()  { s.signal(syscall.SIGSTOP) }
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.tb.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.tb.Fatal(err)
	}
}

// node is one redis-server process of a cluster or a replicated set.
type node struct {
	port int
	tls  *tlsFiles // nil: plain TCP
	cmd  *exec.Cmd
}

func (n *node) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.port)) }

func (n *node) kill() {
	if n.cmd != nil && n.cmd.Process != nil {
		_ = n.cmd.Process.Kill()
		_ = n.cmd.Wait()
		n.cmd = nil
	}
}

// startNode runs redis-server with args on a free port, in its own folder,
// over TLS with tls's files unless it is nil.
func startNode(tb testing.TB, tls *tlsFiles, args ...string) *node {
	tb.Helper()
	requireRedis(tb)
	port, err := collectorrun.FreePort()
	if err != nil {
		tb.Fatal(err)
	}
	n := &node{port: port, tls: tls}
	dir := tb.TempDir()
	// A replica syncs at once (no diskless delay), so a failover can promote
	// it moments after the set is made.
	n.cmd = exec.Command("redis-server", append(append(tls.serverArgs(strconv.Itoa(port)), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--repl-diskless-sync-delay", "0"), args...)...)
	if err := n.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(n.kill)
	waitListening(tb, n.addr())
	return n
}

func waitListening(tb testing.TB, addr string) {
	tb.Helper()
	await(tb, 10*time.Second, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "redis-server did not listen on %s", addr)
}

// await polls cond until it holds; when it has not within the time given,
// the test fails with the message.
func await(tb testing.TB, within time.Duration, cond func() bool, format string, args ...any) {
	tb.Helper()
	for deadline := time.Now().Add(within); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf(format, args...)
		}
	}
}

func requireRedis(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("SSMSESSION_REQUIRE_REDIS") != "" {
			tb.Fatal("redis-server not found (apt-get install redis-server)")
		}
		tb.Skip("redis-server not installed (apt-get install redis-server); set SSMSESSION_REQUIRE_REDIS to make this fail")
	}
}

// query asks the node with redis-cli; an error is an answer to poll again.
func (n *node) query(args ...string) (string, error) { return tryCLI(n.cliArgs(args...)...) }

// cliArgs are redis-cli's arguments to run args on the node.
func (n *node) cliArgs(args ...string) []string {
	return append(append(n.tls.cliArgs(), "-p", strconv.Itoa(n.port)), args...)
}

// cli runs redis-cli with args and returns its output.
func cli(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := tryCLI(args...)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// tryCLI runs redis-cli, bounded: --cluster create waits for the nodes to
// join for as long as it takes, a paused node never answers, and a test
// must fail, not hang.
func tryCLI(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("redis-cli %v: %w\n%s", args, err, out)
	}
	return string(out), nil
}

// Cluster is a Redis Cluster of masters, each with replicas, made with
// redis-cli --cluster create. A small node timeout keeps failovers short.
type Cluster struct {
	CAFile string // with StartClusterTLS: the CA certificate that issued the nodes' (PEM)

	tb    testing.TB
	tls   *tlsFiles // nil: plain TCP
	nodes []*node
	down  [][2]string // the slot ranges of the masters taken down
}

// ClusterNodeTimeout is how long a master may be unreachable before its
// replica is promoted.
const ClusterNodeTimeout = 1000 * time.Millisecond

// clusterNodeArgs are a Cluster node's redis-server arguments. Its bus
// port is a free port of its own: Redis's default, the port plus 10,000,
// may be taken (or past 65535) for a random port.
func clusterNodeArgs(tb testing.TB) []string {
	tb.Helper()
	bus, err := collectorrun.FreePort()
	if err != nil {
		tb.Fatal(err)
	}
	return []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-port", strconv.Itoa(bus),
		"--cluster-node-timeout", strconv.Itoa(int(ClusterNodeTimeout.Milliseconds()))}
}

// PartialCoverage lets a Cluster's masters serve their slots while another
// master's are not served (cluster-require-full-coverage no); by default
// they refuse every command (CLUSTERDOWN) from the moment the cluster
// marks a master failed until its replica is promoted.
var PartialCoverage = []string{"--cluster-require-full-coverage", "no"}

// StartCluster runs masters × (1 + replicas) nodes, each with the
// redis-server arguments args, and waits until the cluster is ok.
func StartCluster(tb testing.TB, masters, replicas int, args ...string) *Cluster {
	tb.Helper()
	return startCluster(tb, nil, masters, replicas, args...)
}

// StartClusterTLS is StartCluster with every node speaking only TLS, to
// clients, on the cluster bus and for replication, its certificate issued
// by the CA in CAFile.
func StartClusterTLS(tb testing.TB, masters, replicas int, args ...string) *Cluster {
	tb.Helper()
	requireRedis(tb)
	return startCluster(tb, newTLSFiles(tb), masters, replicas, args...)
}

func startCluster(tb testing.TB, tls *tlsFiles, masters, replicas int, args ...string) *Cluster {
	tb.Helper()
	var c *Cluster
	for attempt := 1; ; attempt++ {
		c = &Cluster{tb: tb, tls: tls}
		var addrs []string
		for i := 0; i < masters*(1+replicas); i++ {
			n := startNode(tb, tls, append(clusterNodeArgs(tb), args...)...)
			c.nodes = append(c.nodes, n)
			addrs = append(addrs, n.addr())
		}
		_, err := tryCLI(append(append(append(tls.cliArgs(), "--cluster", "create"), addrs...), "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")...)
		if err == nil {
			break
		}
		// A free port taken again meanwhile (by a test running beside
		// this one) keeps the nodes from joining: once more, on others.
		for _, n := range c.nodes {
			n.kill()
		}
		if attempt == 2 {
			tb.Fatal(err)
		}
		tb.Logf("cluster not created, trying again: %v", err)
	}
	c.WaitOK()
	for _, n := range c.nodes {
		waitSynced(tb, n)
	}
	c.CAFile = tls.caFile()
	return c
}

// waitSynced waits until a replica's link to its master is up (a master
// passes at once): a replica that never synced cannot be promoted.
func waitSynced(tb testing.TB, n *node) {
	tb.Helper()
	await(tb, 30*time.Second, func() bool {
		out, err := n.query("info", "replication")
		return err == nil && (strings.Contains(out, "role:master") || strings.Contains(out, "master_link_status:up"))
	}, "replica %s did not sync with its master", n.addr())
}

// Seeds are the nodes' addresses, for a client's seed list.
func (c *Cluster) Seeds() []string {
	var out []string
	for _, n := range c.nodes {
		if n.cmd != nil {
			out = append(out, n.addr())
		}
	}
	return out
}

// WaitOK waits until every live node reports cluster_state:ok and, in
// every live node's view, every master serving slots is alive: after a
// kill, until the failover is done and known everywhere.
func (c *Cluster) WaitOK() {
	c.tb.Helper()
	await(c.tb, 30*time.Second, c.ok, "the cluster did not reach cluster_state:ok with every slot on a live master")
}

func (c *Cluster) ok() bool {
	live := map[string]bool{}
	for _, n := range c.nodes {
		if n.cmd == nil {
			continue
		}
		live[n.addr()] = true
		out, err := n.query("cluster", "info")
		if err != nil || !strings.Contains(out, "cluster_state:ok") {
			return false
		}
	}
	for _, n := range c.nodes { // every node's view: a client reads the slot map from any
		if n.cmd == nil {
			continue
		}
		out, err := n.query("cluster", "nodes")
		if err != nil {
			return false
		}
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) > 8 && strings.Contains(f[2], "master") && !live[strings.Split(f[1], "@")[0]] {
				return false // a dead master still holds slots
			}
		}
	}
	return true
}

// KillMaster kills (SIGKILL) the master serving key and returns its address.
func (c *Cluster) KillMaster(key string) string {
	c.tb.Helper()
	n := c.takeDown(key)
	n.kill()
	return n.addr()
}

// PauseMaster stops (SIGSTOP) the master serving key, as a host gone
// away: what is sent to it waits for an answer that does not come. It
// resumes at the end of the test.
func (c *Cluster) PauseMaster(key string) string {
	c.tb.Helper()
	n := c.takeDown(key)
	if err := n.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		c.tb.Fatal(err)
	}
	c.tb.Cleanup(func() { _ = n.cmd.Process.Signal(syscall.SIGCONT) })
	return n.addr()
}

// takeDown finds the master serving key and records its slots as down.
func (c *Cluster) takeDown(key string) *node {
	c.tb.Helper()
	slot := c.slot(key)
	for _, m := range c.masters() {
		if inRanges(slot, m.ranges) {
			c.down = append(c.down, m.ranges...)
			return c.nodeAt(m.addr)
		}
	}
	c.tb.Fatalf("no master found for slot %s", slot)
	return nil
}

// master is a live master as CLUSTER NODES lists it.
type master struct {
	addr, id string
	ranges   [][2]string
}

// masters are the live masters, as a live node sees them.
func (c *Cluster) masters() []master {
	c.tb.Helper()
	var out []master
	for _, line := range strings.Split(cli(c.tb, c.Seed().cliArgs("cluster", "nodes")...), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || !strings.Contains(f[2], "master") || strings.Contains(f[2], "fail") {
			continue
		}
		out = append(out, master{addr: strings.Split(f[1], "@")[0], id: f[0], ranges: slotRanges(f[8:])})
	}
	return out
}

// nodeAt is the node at addr.
func (c *Cluster) nodeAt(addr string) *node {
	c.tb.Helper()
	for _, n := range c.nodes {
		if n.addr() == addr {
			return n
		}
	}
	c.tb.Fatalf("no node %s", addr)
	return nil
}

// Down reports whether key's slot was served by a master KillMaster or
// PauseMaster took down.
func (c *Cluster) Down(key string) bool { return inRanges(c.slot(key), c.down) }

// MigrateSlot starts moving key's slot from its master to the master at
// to ("": another one): the source answers ASK for keys of it that it does
// not hold (this one: it must not be written yet). With done, the slot is
// then given to the other for good on every master, and a client with the
// old slot map meets MOVED. It returns the two masters' addresses.
func (c *Cluster) MigrateSlot(key, to string, done bool) (string, string) {
	c.tb.Helper()
	slot := c.slot(key)
	var from, other string
	ids := map[string]string{} // address -> node id, of the masters
	for _, m := range c.masters() {
		ids[m.addr] = m.id
		if inRanges(slot, m.ranges) {
			from = m.addr
		} else if other == "" || m.addr < other {
			other = m.addr
		}
	}
	if to == "" {
		to = other
	}
	if from == "" || ids[to] == "" {
		c.tb.Fatalf("no two masters for slot %s", slot)
	}
	c.on(to, "cluster", "setslot", slot, "importing", ids[from])
	c.on(from, "cluster", "setslot", slot, "migrating", ids[to])
	if done {
		for addr := range ids {
			c.on(addr, "cluster", "setslot", slot, "node", ids[to])
		}
	}
	return from, to
}

// AddMaster adds an empty master (no slots) to the cluster, as a scale-out
// does before resharding onto it, and returns its address once every node
// knows it.
func (c *Cluster) AddMaster() string {
	c.tb.Helper()
	n := startNode(c.tb, c.tls, clusterNodeArgs(c.tb)...)
	c.nodes = append(c.nodes, n)
	cli(c.tb, append(c.tls.cliArgs(), "--cluster", "add-node", n.addr(), c.Seed().addr())...)
	await(c.tb, 30*time.Second, func() bool {
		for _, m := range c.nodes {
			if out, err := m.query("cluster", "nodes"); err != nil || !strings.Contains(out, n.addr()) || strings.Count(out, "master") < 4 {
				return false
			}
		}
		return true
	}, "master %s not known to every node", n.addr())
	return n.addr()
}

// on runs a command on the node at addr.
func (c *Cluster) on(addr string, args ...string) {
	c.tb.Helper()
	if out, err := c.nodeAt(addr).query(args...); err != nil || strings.TrimSpace(out) != "OK" {
		c.tb.Fatalf("%v on %s: %q %v", args, addr, out, err)
	}
}

func (c *Cluster) slot(key string) string {
	return strings.TrimSpace(cli(c.tb, c.Seed().cliArgs("cluster", "keyslot", key)...))
}

// slotRanges reads CLUSTER NODES slot fields ("0-5460", "7000"); slots
// being moved ("[...]") are left out.
func slotRanges(fields []string) [][2]string {
	var out [][2]string
	for _, r := range fields {
		if strings.HasPrefix(r, "[") {
			continue
		}
		lo, hi, _ := strings.Cut(r, "-")
		if hi == "" {
			hi = lo
		}
		out = append(out, [2]string{lo, hi})
	}
	return out
}

func inRanges(slot string, ranges [][2]string) bool {
	for _, r := range ranges {
		if within(slot, r[0], r[1]) {
			return true
		}
	}
	return false
}

// Seed is a live node.
func (c *Cluster) Seed() *node {
	for _, n := range c.nodes {
		if n.cmd != nil {
			return n
		}
	}
	c.tb.Fatal("no live node")
	return nil
}

func within(slot, lo, hi string) bool {
	s, err1 := strconv.Atoi(slot)
	l, err2 := strconv.Atoi(lo)
	h, err3 := strconv.Atoi(hi)
	return err1 == nil && err2 == nil && err3 == nil && l <= s && s <= h
}

// Sentinels is a primary with one replica, watched by three sentinels, so a
// killed primary is replaced within a few seconds.
type Sentinels struct {
	CAFile string // with StartSentinelsTLS: the CA certificate that issued the nodes' (PEM)

	tb        testing.TB
	primary   *node
	replica   *node
	sentinels []*node
}

// MasterName is the name the sentinels monitor the primary under.
const MasterName = "ssmsession"

// StartSentinels runs the primary, its replica and three sentinels, and
// waits until the sentinels agree on the primary.
func StartSentinels(tb testing.TB) *Sentinels {
	tb.Helper()
	return startSentinels(tb, nil)
}

// StartSentinelsTLS is StartSentinels with the primary, its replica and
// the sentinels speaking only TLS, their certificates issued by the CA in
// CAFile.
func StartSentinelsTLS(tb testing.TB) *Sentinels {
	tb.Helper()
	requireRedis(tb)
	return startSentinels(tb, newTLSFiles(tb))
}

func startSentinels(tb testing.TB, tls *tlsFiles) *Sentinels {
	tb.Helper()
	s := &Sentinels{tb: tb}
	s.primary = startNode(tb, tls)
	s.replica = startNode(tb, tls, "--replicaof", "127.0.0.1", strconv.Itoa(s.primary.port))
	waitSynced(tb, s.replica)
	for i := 0; i < 3; i++ {
		port, err := collectorrun.FreePort()
		if err != nil {
			tb.Fatal(err)
		}
		dir := tb.TempDir()
		conf := filepath.Join(dir, "sentinel.conf")
		var listen strings.Builder // serverArgs as configuration lines
		for args := tls.serverArgs(strconv.Itoa(port)); len(args) >= 2; args = args[2:] {
			fmt.Fprintf(&listen, "%s %s\n", strings.TrimPrefix(args[0], "--"), args[1])
		}
		body := fmt.Sprintf("%sbind 127.0.0.1\ndir %s\nsentinel monitor %s 127.0.0.1 %d 2\n"+
			"sentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 5000\nsentinel parallel-syncs %s 1\n",
			listen.String(), dir, MasterName, s.primary.port, MasterName, MasterName, MasterName)
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			tb.Fatal(err)
		}
		n := &node{port: port, tls: tls, cmd: exec.Command("redis-server", conf, "--sentinel")}
		if err := n.cmd.Start(); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(n.kill)
		waitListening(tb, n.addr())
		s.sentinels = append(s.sentinels, n)
	}
	s.WaitPrimary(s.primary.addr())
	s.CAFile = tls.caFile()
	return s
}

// Endpoints are the sentinels' addresses.
func (s *Sentinels) Endpoints() []string {
	var out []string
	for _, n := range s.sentinels {
		out = append(out, n.addr())
	}
	return out
}

// KillPrimary kills (SIGKILL) the primary.
func (s *Sentinels) KillPrimary() { s.primary.kill() }

// Replica is the replica's address, the primary after a failover.
func (s *Sentinels) Replica() string { return s.replica.addr() }

// WaitPrimary waits until every sentinel names addr as the primary.
func (s *Sentinels) WaitPrimary(addr string) {
	s.tb.Helper()
	host, port, _ := net.SplitHostPort(addr)
	await(s.tb, 30*time.Second, func() bool {
		for _, n := range s.sentinels {
			out, err := n.query("sentinel", "get-master-addr-by-name", MasterName)
			if f := strings.Fields(out); err != nil || len(f) < 2 || f[0] != host || f[1] != port {
				return false
			}
		}
		return true
	}, "the sentinels did not agree on %s as the primary", addr)
}
