// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/confmap/xconfmap"

	"github.com/cloudtrail-detect/ssmsession/processor/ssmsessionprocessor/internal/metadata"
)

func loadConfig(t *testing.T, name string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	if err := sub.Unmarshal(cfg); err != nil {
		return nil, err
	}
	return cfg, xconfmap.Validate(cfg)
}

func TestConfigDefaultsAndFull(t *testing.T) {
	cfg, err := loadConfig(t, "")
	require.NoError(t, err)
	assert.Equal(t, createDefaultConfig(), cfg)
	assert.Equal(t, []string{"cloud.account.id", "user.name"}, cfg.NewTerms.Fields)
	assert.Equal(t, 240*time.Hour, cfg.NewTerms.HistoryWindow, "Elastic's 10-day history")

	cfg, err = loadConfig(t, "full")
	require.NoError(t, err)
	id := component.MustNewIDWithName("file_storage", "ssm")
	assert.Equal(t, &Config{
		Envelope: EnvelopeKeep,
		Rule:     RuleConfig{Severity: "high", RiskScore: 73},
		NewTerms: NewTermsConfig{
			Fields:         []string{"aws.cloudtrail.user_identity.arn"},
			HistoryWindow:  168 * time.Hour,
			MissingField:   MissingSkip,
			CacheSize:      5000,
			Storage:        &id,
			PruneInterval:  15 * time.Minute,
			LearningPeriod: 168 * time.Hour,
			Backend:        BackendLocal,
			Redis:          createDefaultConfig().(*Config).NewTerms.Redis,
		},
		Enrichment: EnrichmentConfig{LaunchHistory: 720 * time.Hour, RecentLaunch: 2 * time.Hour, CacheSize: 20000},
	}, cfg)

	cfg, err = loadConfig(t, "enrichment_off")
	require.NoError(t, err, "with launch_history 0s the other enrichment keys are not checked")
	assert.False(t, cfg.Enrichment.enabled())

	cfg, err = loadConfig(t, "redis")
	require.NoError(t, err)
	r := cfg.NewTerms.Redis
	assert.Equal(t, BackendRedis, cfg.NewTerms.Backend)
	assert.Equal(t, "redis.internal:6380", r.Endpoint)
	assert.Equal(t, "ssmsession", r.Username)
	assert.Equal(t, "s3cret", string(r.Password))
	require.NotNil(t, r.TLS)
	assert.Equal(t, "/etc/ssl/redis-ca.pem", r.TLS.CAFile)
	assert.Equal(t, "prod:ssm:", r.KeyPrefix)
	assert.Equal(t, 200*time.Millisecond, r.Timeout)
	assert.Equal(t, 2*time.Second, r.DialTimeout, "unset values keep their defaults")
	assert.Equal(t, 8, r.PoolSize)
	assert.Equal(t, 30*time.Second, r.InFlightLease)

	cfg, err = loadConfig(t, "redis_cluster")
	require.NoError(t, err)
	assert.Equal(t, []string{"redis-0.internal:6379", "redis-1.internal:6379", "redis-2.internal:6379"}, cfg.NewTerms.Redis.Cluster.Endpoints)
	assert.Equal(t, "s3cret", string(cfg.NewTerms.Redis.Password))

	cfg, err = loadConfig(t, "redis_sentinel")
	require.NoError(t, err)
	sn := cfg.NewTerms.Redis.Sentinel
	assert.Equal(t, "ssmsession", sn.MasterName)
	assert.Equal(t, []string{"sentinel-0.internal:26379", "sentinel-1.internal:26379"}, sn.Endpoints)
	assert.Equal(t, "sentinel-secret", string(sn.Password), "the sentinels' own password, apart from the data's")
}

func TestConfigErrorsSayWhatToFix(t *testing.T) {
	for name, want := range map[string][]string{
		"zero_window":     {"new_terms::history_window must be positive, got 0s"},
		"negative_cache":  {"new_terms::cache_size must be positive, got -1"},
		"unknown_field":   {`unknown field "user.nmae"; supported: `, "user.name"},
		"bad_modes":       {`envelope: "unwrap" is not supported; use "split" or "keep"`, `missing_field: "ignore"`, "new_terms::fields: list at least one field"},
		"duplicate_field": {`"user.name" is listed twice`},
		"unknown_key":     {"windw"},
		"redis_bad": {
			`new_terms::redis::endpoint must be host:port, got "redis.internal"`,
			"new_terms::redis::timeout must be positive, got 0s",
			"new_terms::redis::pool_size must be positive, got 0",
			"new_terms::redis::in_flight_lease must not be negative",
			"new_terms::storage applies to backend local",
		},
		"unknown_backend": {`new_terms::backend: "memcached" is not supported; use "local" or "redis"`},
		"redis_two_kinds": {"new_terms::redis: set exactly one of endpoint, cluster::endpoints or sentinel", "got endpoint and cluster"},
		"redis_none":      {"new_terms::redis: set exactly one of endpoint, cluster::endpoints or sentinel", "got none"},
		"redis_cluster_bad": {
			`new_terms::redis::cluster::endpoints[1] must be host:port, got "redis-1.internal"`,
			`new_terms::redis::cluster::endpoints[2]: the port must be a number from 1 to 65535, got "redis-2.internal:redis"`,
			`new_terms::redis::cluster::endpoints[3]: the port must be a number from 1 to 65535, got "redis-3.internal:99999"`,
		},
		"redis_sentinel_bad": {"new_terms::redis::sentinel::master_name is required", "new_terms::redis::sentinel::endpoints: list at least one host:port"},
		"bad_rule": {
			`rule::severity: "severe" is not a severity; use one of low, medium, high, critical`,
			"rule::risk_score must be 0 to 100, got 101",
			"new_terms::learning_period must not be negative, got -1h0m0s",
		},
		"learning_in_memory": {"new_terms::learning_period needs state that outlives a restart: set new_terms::storage"},
		"bad_enrichment": {
			"enrichment::recent_launch (24h0m0s) must not exceed enrichment::launch_history (12h0m0s)",
			"enrichment::cache_size must be positive, got 0",
		},
		"negative_enrichment": {"enrichment::launch_history must not be negative, got -1h0m0s (0s turns launch enrichment off)"},
	} {
		_, err := loadConfig(t, name)
		require.Error(t, err, name)
		for _, w := range want {
			assert.Contains(t, err.Error(), w, name)
		}
	}
}
