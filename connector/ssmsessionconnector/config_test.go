// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionconnector

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/confmap/xconfmap"

	"github.com/cloudtrail-detect/ssmsession/connector/ssmsessionconnector/internal/metadata"
)

func loadConfig(t *testing.T, name string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg, xconfmap.Validate(cfg)
}

func TestConfig(t *testing.T) {
	cfg, err := loadConfig(t, "")
	require.NoError(t, err)
	assert.Equal(t, &Config{Window: 168 * time.Hour, Bucket: time.Hour, EmitInterval: time.Minute, MaxSeries: 10000,
		SessionMaxAge: 24 * time.Hour, MaxOpenSessions: 10000}, cfg)

	cfg, err = loadConfig(t, "full")
	require.NoError(t, err)
	id := component.MustNewIDWithName("file_storage", "hunt")
	assert.Equal(t, &Config{Window: 24 * time.Hour, Bucket: 15 * time.Minute, EmitInterval: 10 * time.Second, MaxSeries: 500,
		SessionMaxAge: 12 * time.Hour, MaxOpenSessions: 2000, Storage: &id}, cfg)

	for name, want := range map[string][]string{
		"ragged":      {"window (25h0m0s) must be a whole number of buckets (2h0m0s)"},
		"tiny_bucket": {"window/bucket is 604800 buckets; at most 10000"},
		"zeros": {"window must be positive", "bucket must be positive", "emit_interval must be positive", "max_series must be positive",
			"session_max_age must be positive and at most 720h0m0s, got 0s", "max_open_sessions must be 1 to 1000000, got 0"},
		"ancient_sessions": {"session_max_age must be positive and at most 720h0m0s, got 2562047h47m16.854775807s"},
		"too_many_open":    {"max_open_sessions must be 1 to 1000000, got 2000000"},
		// A product of the two would overflow to 0 and pass.
		"too_many_series": {"max_series × window/bucket is 4611686018427387904 × 4 buckets; at most 10000000"},
	} {
		_, err := loadConfig(t, name)
		require.Error(t, err, name)
		for _, w := range want {
			assert.Contains(t, err.Error(), w, name)
		}
	}
}
