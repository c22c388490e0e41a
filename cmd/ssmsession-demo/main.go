// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

// Command ssmsession-demo runs the built collector on the bundled demo data
// (testdata/demo) and tells, in plain words, what the ssmsession processor
// found: each new-term alert, and where the tagged output went.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/collectorrun"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/repo"
)

func main() {
	binary := flag.String("collector", collectorrun.BinaryPath, "collector binary")
	data := flag.String("data", "testdata/demo", "demo data directory")
	runDir := flag.String("run", ".run/demo", "directory for state and output")
	keep := flag.Bool("keep-state", false, "keep state from the previous run: shows that a restart does not re-alert")
	flag.Parse()
	if err := run(os.Stdout, *binary, *data, *runDir, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, binary, data, runDir string, keep bool) error {
	if !keep {
		if err := os.RemoveAll(runDir); err != nil {
			return err
		}
	} else {
		// Replay: forget what file_log has read, keep the processor's state.
		_ = os.Remove(filepath.Join(runDir, "cloudtrail-tagged.json"))
		receivers, _ := filepath.Glob(filepath.Join(runDir, "state", "receiver_*"))
		for _, f := range receivers {
			_ = os.Remove(f)
		}
	}
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return err
	}
	data, _ = filepath.Abs(data)
	runDir, _ = filepath.Abs(runDir)
	events, sessions, err := countEvents(data)
	if err != nil {
		return err
	}
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	output := filepath.Join(runDir, "cloudtrail-tagged.json")
	metricsOut := filepath.Join(runDir, "ssm-session-metrics.json")
	fmt.Fprintf(w, "Running %s on %d CloudTrail events from %s ...\n", binary, events, data)
	c, err := collectorrun.Start(binary, filepath.Join(data, "collector.yaml"), []string{collectorrun.CrashSafe},
		"SSMSESSION_DEMO_DATA="+data, "SSMSESSION_DEMO_RUN="+runDir,
		"SSMSESSION_DEMO_TELEMETRY_PORT="+strconv.Itoa(ports[0]), "SSMSESSION_DEMO_HEALTH_PORT="+strconv.Itoa(ports[1]),
		"SSMSESSION_DEMO_PROMETHEUS_PORT="+strconv.Itoa(ports[2]))
	if err != nil {
		return err
	}
	started := time.Now()
	err = c.WaitFor(2*time.Minute, func() (bool, error) {
		batches, err := collectorrun.ReadLogs(output)
		return len(collectorrun.Records(batches)) >= events, err
	})
	if err != nil {
		c.Kill()
		return err
	}
	elapsed := time.Since(started)
	// The connector emits every second: wait until it has counted them all.
	var hunt huntView
	err = c.WaitFor(time.Minute, func() (bool, error) {
		batches, err := collectorrun.ReadMetrics(metricsOut)
		if len(batches) > 0 {
			hunt = readHunt(batches[len(batches)-1])
		}
		return hunt.total >= int64(sessions), err
	})
	if err != nil {
		c.Kill()
		return err
	}
	telemetry := scrape(ports[0])
	promLines := scrapeLines(ports[2], "aws_ssm_session_targets_distinct")
	if err := c.Stop(30 * time.Second); err != nil {
		return err
	}
	batches, err := collectorrun.ReadLogs(output)
	if err != nil {
		return err
	}
	report(w, collectorrun.Records(batches), reportInfo{
		output: output, state: filepath.Join(runDir, "state"), elapsed: elapsed, telemetry: telemetry, keep: keep,
	})
	reportHunt(w, hunt, metricsOut, ports[2], promLines)
	return nil
}

// countEvents counts the events the collector will emit (NDJSON lines, and
// the records of each S3 object once split) and the distinct StartSession
// calls among them, which the hunt metric must reach.
func countEvents(data string) (events, sessions int, err error) {
	var raws [][]byte
	streams, _ := filepath.Glob(filepath.Join(data, "stream", "*.ndjson"))
	for _, f := range streams {
		lines, err := repo.ReadLines(f)
		if err != nil {
			return 0, 0, err
		}
		raws = append(raws, lines...)
	}
	objects, _ := filepath.Glob(filepath.Join(data, "trail", "*.json"))
	for _, f := range objects {
		raw, err := os.ReadFile(f)
		if err != nil {
			return 0, 0, err
		}
		var object struct{ Records []json.RawMessage }
		if err := json.Unmarshal(raw, &object); err != nil {
			return 0, 0, fmt.Errorf("%s is not a CloudTrail file object: %w", f, err)
		}
		for _, r := range object.Records {
			raws = append(raws, r)
		}
	}
	ids := map[string]bool{}
	for _, raw := range raws {
		var ev struct{ EventID, EventName string }
		if json.Unmarshal(raw, &ev) == nil && ev.EventName == "StartSession" {
			ids[ev.EventID] = true
		}
	}
	return len(raws), len(ids), nil
}

func freePorts(n int) ([]int, error) {
	var out []int
	for len(out) < n {
		p, err := collectorrun.FreePort()
		if err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1] != p {
			out = append(out, p)
		}
	}
	return out, nil
}

// scrapeLines returns the exposition lines of one metric family.
func scrapeLines(port int, name string) []string {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out []string
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, name+"{") {
			out = append(out, line)
		}
	}
	return out
}

// scrape reads the collector's own metrics (Prometheus text) into name→value.
func scrape(port int) map[string]float64 {
	out := map[string]float64{}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
			out[name] += v
		}
	}
	return out
}
