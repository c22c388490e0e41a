// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

// Package collectorrun runs the built collector binary on a config and reads
// what its file exporter wrote: shared by the end-to-end tests and the demo.
package collectorrun // import "github.com/cloudtrail-detect/ssmsession/internal/testsupport/collectorrun"

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// BinaryPath is where `make build` puts the collector, under the root.
const BinaryPath = "bin/otelcol-ssmsession"

// Build runs `make build` in root (a no-op when the binary is up to date)
// and returns the binary's path.
func Build(root string) (string, error) {
	cmd := exec.Command("make", "--no-print-directory", "build")
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("make build: %w\n%s", err, out.String())
	}
	return filepath.Join(root, BinaryPath), nil
}

// Collector is a running collector process.
type Collector struct {
	cmd  *exec.Cmd
	log  *lockedBuffer
	done chan struct{}
	err  error
}

// CrashSafe is the feature gate that makes file_log consume synchronously:
// without it, entries wait in a batching goroutine while their offsets may
// already be saved, and a crash loses them.
const CrashSafe = "--feature-gates=stanza.synchronousLogEmitter"

// Start runs binary with the config file, extra arguments (feature gates)
// and extra environment.
func Start(binary, config string, args []string, env ...string) (*Collector, error) {
	cmd := exec.Command(binary, append([]string{"--config", config}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	c := &Collector{cmd: cmd, log: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = c.log, c.log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// CPU is the processor time, user and system, the process has used so far,
// as Linux accounts it in /proc (in USER_HZ ticks, 10 ms).
func (c *Collector) CPU() (time.Duration, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is the 3rd field of the line, utime the 14th, stime the 15th.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("short /proc stat: %q", stat)
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	const userHZ = 100
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// Log is what the collector printed so far.
func (c *Collector) Log() string { return c.log.String() }

// Exited reports whether the process has ended.
func (c *Collector) Exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Stop asks for a graceful shutdown (SIGTERM) and waits for it.
func (c *Collector) Stop(timeout time.Duration) error {
	if c.Exited() {
		return fmt.Errorf("collector had already exited: %v\n%s", c.err, c.Log())
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		return nil
	case <-time.After(timeout):
		_ = c.cmd.Process.Kill()
		<-c.done
		return errors.New("collector did not stop in time; killed")
	}
}

// Kill ends the process at once (SIGKILL), as a crash would.
func (c *Collector) Kill() {
	_ = c.cmd.Process.Kill()
	<-c.done
}

// WaitFor polls cond until it holds, the collector exits, or timeout.
func (c *Collector) WaitFor(timeout time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-c.done:
			return fmt.Errorf("collector exited: %v\n%s", c.err, c.Log())
		case <-ctx.Done():
			return fmt.Errorf("timed out after %s\n%s", timeout, c.Log())
		case <-tick.C:
		}
	}
}

// ReadLogs reads a file exporter's JSON output: one OTLP request per line.
// A missing file reads as empty; a last line still being written is
// ignored, any other that cannot be read is an error.
func ReadLogs(path string) ([]plog.Logs, error) {
	var out []plog.Logs
	err := eachLine(path, func(line []byte) error {
		ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(line)
		if err == nil {
			out = append(out, ld)
		}
		return err
	})
	return out, err
}

// ReadMetrics reads a file exporter's JSON metrics output, as ReadLogs.
func ReadMetrics(path string) ([]pmetric.Metrics, error) {
	var out []pmetric.Metrics
	err := eachLine(path, func(line []byte) error {
		md, err := (&pmetric.JSONUnmarshaler{}).UnmarshalMetrics(line)
		if err == nil {
			out = append(out, md)
		}
		return err
	})
	return out, err
}

func eachLine(path string, fn func([]byte) error) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 256<<20)
	// A line that cannot be read is an error once another follows it: only
	// the last may be one the exporter is still writing.
	var pending error
	for n := 1; sc.Scan(); n++ {
		if pending != nil {
			return pending
		}
		if err := fn(sc.Bytes()); err != nil {
			pending = fmt.Errorf("%s line %d: %w", path, n, err)
		}
	}
	return sc.Err()
}

// Records flattens the log records of several batches, in order.
func Records(batches []plog.Logs) []plog.LogRecord {
	var out []plog.LogRecord
	for _, ld := range batches {
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					out = append(out, lr)
				}
			}
		}
	}
	return out
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. It
// is taken below the kernel's ephemeral range: a port the kernel hands out
// (port 0) is in that range, where any outgoing connection of a test
// running alongside may take it as its source port before the collector or
// server binds it. A process goes up from a random start, so that it never
// hands out a port twice and two test processes seldom meet.
func FreePort() (int, error) {
	low := ephemeralLow()
	portMu.Lock()
	defer portMu.Unlock()
	if nextPort == 0 {
		nextPort = rand.IntN(low - 10_000)
	}
	for range 1000 {
		port := 10_000 + nextPort%(low-10_000)
		nextPort++
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			l.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free port found below the ephemeral range")
}

var (
	portMu   sync.Mutex
	nextPort int // offset of the next port to try, above 10,000
)

// ephemeralLow is the first port of Linux's ephemeral range (32768 when it
// cannot be read, Linux's default).
func ephemeralLow() int {
	const fallback = 32768
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return fallback
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return fallback
	}
	if n, err := strconv.Atoi(f[0]); err == nil && n > 11_000 {
		return n
	}
	return fallback
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
