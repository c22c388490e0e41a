// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"gopkg.in/yaml.v3"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/collectorrun"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/corpus"
)

// examples lists the deployment examples README.md points to.
func examples(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(corpus.Path(t, "examples", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return files
}

// notBundled are the contrib components the fast-path examples use that
// the module registry this project builds on does not serve, so this build
// cannot bundle them. Users add them to their own ocb manifest.
var notBundled = map[string]bool{"awsfirehose": true, "webhookevent": true, "awslogs_encoding": true, "text_encoding": true}

// TestExamplesValidate: every example configuration is accepted by the
// built collector. An example using a component this build cannot bundle
// is validated without it: those receivers are replaced by otlp and those
// extensions dropped, so everything else is checked as written.
func TestExamplesValidate(t *testing.T) {
	for _, f := range examples(t) {
		path, stripped := withoutUnbundled(t, f)
		cmd := exec.Command(binary, "validate", "--config", path)
		cmd.Env = append(os.Environ(), "REDIS_PASSWORD=example", "HOSTNAME=otelcol-0",
			"FIREHOSE_ACCESS_KEY=example", "EVENTBRIDGE_API_KEY=example", "SENTINEL_PASSWORD=example")
		out, err := cmd.CombinedOutput()
		assert.NoError(t, err, "%s (without %v):\n%s", filepath.Base(f), stripped, out)
	}
}

// TestReadmeConfigsValidate: every configuration the READMEs show is
// accepted by the built collector, so a user who copies one gets a
// collector that starts: a complete one (with a service section) as
// written; sections alone (receivers, processors: the keys a user sets)
// completed into a logs pipeline, from otlp when they name no receiver, to
// debug, with the file_storage they name.
func TestReadmeConfigsValidate(t *testing.T) {
	complete, sections := 0, 0
	for _, readme := range []string{"README.md", "processor/ssmsessionprocessor/README.md", "connector/ssmsessionconnector/README.md"} {
		raw, err := os.ReadFile(corpus.Path(t, readme))
		require.NoError(t, err)
		for i, block := range yamlBlocks(string(raw)) {
			var cfg map[string]any
			if yaml.Unmarshal([]byte(block), &cfg) != nil {
				continue // an ocb manifest's lines, or keys side by side
			}
			switch {
			case cfg["service"] != nil:
				complete++
			case cfg["processors"] != nil && len(cfg) <= 2 && (len(cfg) == 1 || cfg["receivers"] != nil):
				sections++
				block = completed(t, cfg, strings.Contains(block, "storage: file_storage"))
			default:
				continue
			}
			path := filepath.Join(t.TempDir(), fmt.Sprintf("block%d.yaml", i))
			require.NoError(t, os.WriteFile(path, []byte(block), 0o644))
			cmd := exec.Command(binary, "validate", "--config", path)
			cmd.Env = append(os.Environ(), "REDIS_PASSWORD=example")
			out, err := cmd.CombinedOutput()
			assert.NoError(t, err, "%s, YAML block %d:\n%s\n%s", readme, i+1, block, out)
		}
	}
	assert.GreaterOrEqual(t, complete, 3, "the READMEs' complete configurations were not found")
	assert.GreaterOrEqual(t, sections, 3, "the READMEs' configuration sections were not found")
}

// completed is a configuration running cfg's receivers (else otlp) and
// processors in a logs pipeline to debug, with a file_storage extension
// when they name one.
func completed(t *testing.T, cfg map[string]any, fileStorage bool) string {
	t.Helper()
	ids := func(section string) []string {
		m, _ := cfg[section].(map[string]any)
		out := slices.Collect(maps.Keys(m))
		slices.Sort(out)
		return out
	}
	if cfg["receivers"] == nil {
		cfg["receivers"] = map[string]any{"otlp": map[string]any{"protocols": map[string]any{"grpc": map[string]any{"endpoint": "127.0.0.1:4317"}}}}
	}
	cfg["exporters"] = map[string]any{"debug": map[string]any{}}
	service := map[string]any{"pipelines": map[string]any{"logs": map[string]any{
		"receivers": ids("receivers"), "processors": ids("processors"), "exporters": []string{"debug"}}}}
	if fileStorage {
		cfg["extensions"] = map[string]any{"file_storage": map[string]any{"directory": t.TempDir()}}
		service["extensions"] = []string{"file_storage"}
	}
	cfg["service"] = service
	out, err := yaml.Marshal(cfg)
	require.NoError(t, err)
	return string(out)
}

// yamlBlocks returns the bodies of the markdown's ```yaml fences.
func yamlBlocks(markdown string) []string {
	var blocks []string
	for _, part := range strings.Split(markdown, "```yaml\n")[1:] {
		body, _, _ := strings.Cut(part, "```")
		blocks = append(blocks, body)
	}
	return blocks
}

// withoutUnbundled writes a copy of the config at path without the
// components of notBundled, and says which it removed.
func withoutUnbundled(t *testing.T, path string) (string, []string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var cfg map[string]any
	require.NoError(t, yaml.Unmarshal(raw, &cfg))
	var removed []string
	section := func(name string) map[string]any {
		m, _ := cfg[name].(map[string]any)
		return m
	}
	drop := func(kind string) map[string]bool {
		gone := map[string]bool{}
		for id := range section(kind) {
			if notBundled[strings.SplitN(id, "/", 2)[0]] {
				delete(section(kind), id)
				gone[id] = true
				removed = append(removed, id)
			}
		}
		return gone
	}
	goneReceivers, goneExtensions := drop("receivers"), drop("extensions")
	if len(removed) == 0 {
		return path, nil
	}
	service := section("service")
	if exts, ok := service["extensions"].([]any); ok {
		service["extensions"] = slices.DeleteFunc(exts, func(e any) bool { return goneExtensions[e.(string)] })
	}
	if len(goneReceivers) > 0 {
		section("receivers")["otlp"] = map[string]any{"protocols": map[string]any{"grpc": map[string]any{"endpoint": "127.0.0.1:4317"}}}
		for _, p := range service["pipelines"].(map[string]any) {
			pipe := p.(map[string]any)
			rs := slices.DeleteFunc(pipe["receivers"].([]any), func(r any) bool { return goneReceivers[r.(string)] })
			pipe["receivers"] = append(rs, "otlp")
		}
	}
	out, err := yaml.Marshal(cfg)
	require.NoError(t, err)
	stripped := filepath.Join(t.TempDir(), filepath.Base(path))
	require.NoError(t, os.WriteFile(stripped, out, 0o644))
	return stripped, removed
}

// TestShardKey runs the sharded deployment's tier 1 on CloudTrail events,
// writing to a file instead of Kafka: each resource holds exactly the shard
// key, the caller's account (the term's cloud.account.id), so that the Kafka
// key of every occurrence of a term is the same.
func TestShardKey(t *testing.T) {
	dir := t.TempDir()
	raws := append(corpus.Events(t, "identities"), corpus.DemoStream(t)...)
	writeFile(t, filepath.Join(dir, "cloudtrail.ndjson"), raws...)
	out := filepath.Join(dir, "out.json")

	c, err := collectorrun.Start(binary, corpus.Path(t, "examples", "kafka-shard-tier1.yaml"), []string{
		fmt.Sprintf("--set=receivers::file_log/cloudtrail::include=[%s/*.ndjson]", dir),
		"--set=exporters::file::path=" + out,
		"--set=service::pipelines::logs::exporters=[file]",
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		if !c.Exited() {
			c.Kill()
		}
	})
	batches := waitLogs(t, c, out, len(raws))
	require.NoError(t, c.Stop(30*time.Second))

	perAccount := map[string]int{}
	for _, ld := range batches {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			rl := ld.ResourceLogs().At(i)
			attrs := rl.Resource().Attributes()
			require.Equal(t, 1, attrs.Len(), "the resource holds the shard key only: %v", attrs.AsRaw())
			shard, ok := attrs.Get("ssmsession.shard")
			require.True(t, ok)
			for _, lr := range collectorrun.Records([]plog.Logs{resourceOnly(rl)}) {
				var ev struct {
					UserIdentity struct {
						AccountID string `json:"accountId"`
					} `json:"userIdentity"`
					RecipientAccountID string `json:"recipientAccountId"`
				}
				require.NoError(t, json.Unmarshal([]byte(lr.Body().Str()), &ev))
				want := ev.UserIdentity.AccountID
				if want == "" {
					want = ev.RecipientAccountID
				}
				assert.Equal(t, want, shard.Str())
				perAccount[want]++
			}
		}
	}
	assert.Len(t, collectorrun.Records(batches), len(raws))
	assert.GreaterOrEqual(t, len(perAccount), 2, "events of several accounts: %v", perAccount)
}

// resourceOnly wraps one ResourceLogs as a plog.Logs.
func resourceOnly(rl plog.ResourceLogs) plog.Logs {
	ld := plog.NewLogs()
	rl.CopyTo(ld.ResourceLogs().AppendEmpty())
	return ld
}
