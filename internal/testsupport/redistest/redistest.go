// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

// Package redistest runs a real redis-server (Debian's package) on a
// random loopback port for a test. Without the binary the test is skipped,
// unless SSMSESSION_REQUIRE_REDIS is set (CI sets it): then it fails.
package redistest // import "github.com/cloudtrail-detect/ssmsession/internal/testsupport/redistest"

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/collectorrun"
)

// Server is one redis-server process.
type Server struct {
	Addr string
	tb   testing.TB
	dir  string
	cmd  *exec.Cmd
}

// Start runs redis-server without persistence; it is stopped at test end.
func Start(tb testing.TB) *Server {
	tb.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("SSMSESSION_REQUIRE_REDIS") != "" {
			tb.Fatal("redis-server not found (apt-get install redis-server)")
		}
		tb.Skip("redis-server not installed (apt-get install redis-server); set SSMSESSION_REQUIRE_REDIS to make this fail")
	}
	port, err := collectorrun.FreePort()
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), tb: tb, dir: tb.TempDir()}
	s.Restart()
	tb.Cleanup(s.Stop)
	return s
}

// Restart starts the server again on the same address (Stop first); its
// data is gone, as after a crash without persistence.
func (s *Server) Restart() {
	s.tb.Helper()
	_, port, _ := net.SplitHostPort(s.Addr)
	s.cmd = exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", s.dir)
	if err := s.cmd.Start(); err != nil {
		s.tb.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", s.Addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.tb.Fatal(fmt.Errorf("redis-server did not listen on %s", s.Addr))
		}
	}
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
