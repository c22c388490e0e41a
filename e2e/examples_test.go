package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/cloudtrail-detect/ssmsession/internal/collectorrun"
	"github.com/cloudtrail-detect/ssmsession/internal/corpus"
)

// examples lists the deployment examples README.md points to.
func examples(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(corpus.Path(t, "examples", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return files
}

// TestExamplesValidate: every example configuration is accepted by the
// built collector as it is.
func TestExamplesValidate(t *testing.T) {
	for _, f := range examples(t) {
		cmd := exec.Command(binary, "validate", "--config", f)
		cmd.Env = append(os.Environ(), "REDIS_PASSWORD=example", "HOSTNAME=otelcol-0")
		out, err := cmd.CombinedOutput()
		assert.NoError(t, err, "%s:\n%s", filepath.Base(f), out)
	}
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
