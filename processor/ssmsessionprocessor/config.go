// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionprocessor // import "github.com/cloudtrail-detect/ssmsession/processor/ssmsessionprocessor"

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/confmap/xconfmap"
)

// Envelope modes: what to do with a record whose body is a CloudTrail file
// object ({"Records":[...]}).
const (
	EnvelopeSplit = "split" // one record per event (default)
	EnvelopeKeep  = "keep"  // pass the file object through uninspected
)

// Backends of the new_terms decision.
const (
	BackendLocal = "local" // an LRU in front of an optional storage extension
	BackendRedis = "redis" // Redis, shared by every replica
)

// Missing-field policies for new_terms.
const (
	MissingFallback = "fallback" // a missing identity field takes ssmsession.principal
	MissingSkip     = "skip"     // as Elastic: no new_terms decision
)

// Severities a rule may have (Elastic's).
var severities = []string{"low", "medium", "high", "critical"}

// Config is the ssmsession processor configuration.
type Config struct {
	// Envelope is split or keep.
	Envelope string `mapstructure:"envelope"`
	// Rule is the metadata matches are tagged with.
	Rule RuleConfig `mapstructure:"rule"`
	// NewTerms configures the first-seen decision.
	NewTerms NewTermsConfig `mapstructure:"new_terms"`
	// Enrichment configures what a match is told beyond the rule.
	Enrichment EnrichmentConfig `mapstructure:"enrichment"`
	_          struct{}
}

// EnrichmentConfig configures the target's launch time on matches: the
// launches of successful RunInstances calls are remembered in the state
// new_terms uses (its storage extension, or Redis).
type EnrichmentConfig struct {
	// LaunchHistory is how long a launch is remembered, in event time; 0
	// turns launch enrichment off.
	LaunchHistory time.Duration `mapstructure:"launch_history"`
	// RecentLaunch: a target launched at most this long before the session
	// was recently launched.
	RecentLaunch time.Duration `mapstructure:"recent_launch"`
	// CacheSize bounds the launches kept in memory.
	CacheSize int `mapstructure:"cache_size"`
	_         struct{}
}

// enabled reports whether launches are tracked.
func (e EnrichmentConfig) enabled() bool { return e.LaunchHistory > 0 }

// RuleConfig is the rule's severity and risk score, as Elastic's versions of
// the rule set them (version 1: medium, 47; version 7: high, 73).
type RuleConfig struct {
	Severity  string `mapstructure:"severity"`
	RiskScore int    `mapstructure:"risk_score"`
	_         struct{}
}

// NewTermsConfig configures the first-seen ("new_terms") decision.
type NewTermsConfig struct {
	// Fields whose value combination is the term, in order.
	Fields []string `mapstructure:"fields"`
	// HistoryWindow: a term is new when not seen within this much event
	// time before.
	HistoryWindow time.Duration `mapstructure:"history_window"`
	// MissingField is fallback or skip.
	MissingField string `mapstructure:"missing_field"`
	// CacheSize bounds the terms kept in memory.
	CacheSize int `mapstructure:"cache_size"`
	// Storage names a storage extension (file_storage) that keeps term
	// state across restarts; empty means memory only.
	Storage *component.ID `mapstructure:"storage"`
	// PruneInterval is how often stored terms older than the window are
	// deleted.
	PruneInterval time.Duration `mapstructure:"prune_interval"`
	// LearningPeriod, when positive, begins at the event time of the first
	// match the state records: matches before its end are decided and
	// recorded, but not alerted (the state learns what is usual first).
	LearningPeriod time.Duration `mapstructure:"learning_period"`
	// Backend is local or redis.
	Backend string `mapstructure:"backend"`
	// Redis configures backend redis.
	Redis RedisConfig `mapstructure:"redis"`
	_     struct{}
}

// RedisConfig is the Redis new terms are decided in: exactly one of a
// standalone endpoint, a Redis Cluster, or a primary found through Sentinel.
type RedisConfig struct {
	// Endpoint is host:port of a standalone Redis (or of an endpoint that
	// follows the primary).
	Endpoint string `mapstructure:"endpoint"`
	// Cluster is a Redis Cluster, by its seed nodes.
	Cluster *RedisClusterConfig `mapstructure:"cluster"`
	// Sentinel finds the primary of a replicated Redis.
	Sentinel *RedisSentinelConfig `mapstructure:"sentinel"`
	// Username and Password authenticate (ACL user, or only a password);
	// take them from the environment: ${env:REDIS_PASSWORD}.
	Username string              `mapstructure:"username"`
	Password configopaque.String `mapstructure:"password"`
	// TLS, when set, encrypts the connection.
	TLS *configtls.ClientConfig `mapstructure:"tls"`
	// KeyPrefix separates deployments sharing one Redis.
	KeyPrefix string `mapstructure:"key_prefix"`
	// DialTimeout bounds connecting; Timeout bounds one batch's round trip.
	DialTimeout time.Duration `mapstructure:"dial_timeout"`
	Timeout     time.Duration `mapstructure:"timeout"`
	// PoolSize is the number of connections.
	PoolSize int `mapstructure:"pool_size"`
	// RetryInterval is how long decisions stay local after Redis failed.
	RetryInterval time.Duration `mapstructure:"retry_interval"`
	// InFlightLease is how long an alert a replica raised, its delivery not
	// yet known, keeps copies of its event on other replicas from carrying
	// it: past it, the replica is taken for gone and a copy raises the alert
	// again (same id).
	InFlightLease time.Duration `mapstructure:"in_flight_lease"`
	_             struct{}
}

// RedisClusterConfig names a Redis Cluster's seed nodes; the client
// discovers the rest, and follows failovers.
type RedisClusterConfig struct {
	Endpoints []string `mapstructure:"endpoints"`
	_         struct{}
}

// RedisSentinelConfig names the sentinels watching a primary; their own
// credentials, when they require some, are apart from the data's.
type RedisSentinelConfig struct {
	MasterName string              `mapstructure:"master_name"`
	Endpoints  []string            `mapstructure:"endpoints"`
	Username   string              `mapstructure:"username"`
	Password   configopaque.String `mapstructure:"password"`
	_          struct{}
}

var _ xconfmap.Validator = (*Config)(nil)

func createDefaultConfig() component.Config {
	return &Config{
		Envelope: EnvelopeSplit,
		Rule:     RuleConfig{Severity: "medium", RiskScore: 47},
		NewTerms: NewTermsConfig{
			Fields:        []string{"cloud.account.id", "user.name"},
			HistoryWindow: 240 * time.Hour,
			MissingField:  MissingFallback,
			CacheSize:     100_000,
			PruneInterval: time.Hour,
			Backend:       BackendLocal,
			Redis: RedisConfig{
				KeyPrefix:     "ssmsession:",
				DialTimeout:   2 * time.Second,
				Timeout:       500 * time.Millisecond,
				PoolSize:      4,
				RetryInterval: 5 * time.Second,
				InFlightLease: 5 * time.Second,
			},
		},
		Enrichment: EnrichmentConfig{
			LaunchHistory: 240 * time.Hour,
			RecentLaunch:  24 * time.Hour,
			CacheSize:     100_000,
		},
	}
}

// Validate reports every problem at once, each naming the key to fix.
func (c *Config) Validate() error {
	var errs []error
	if c.Envelope != EnvelopeSplit && c.Envelope != EnvelopeKeep {
		errs = append(errs, fmt.Errorf("envelope: %q is not supported; use %q or %q", c.Envelope, EnvelopeSplit, EnvelopeKeep))
	}
	if !slices.Contains(severities, c.Rule.Severity) {
		errs = append(errs, fmt.Errorf("rule::severity: %q is not a severity; use one of %s (Elastic's rule: medium in version 1, high in version 7)",
			c.Rule.Severity, strings.Join(severities, ", ")))
	}
	if c.Rule.RiskScore < 0 || c.Rule.RiskScore > 100 {
		errs = append(errs, fmt.Errorf("rule::risk_score must be 0 to 100, got %d (Elastic's rule: 47 in version 1, 73 in version 7)", c.Rule.RiskScore))
	}
	nt := &c.NewTerms
	if len(nt.Fields) == 0 {
		errs = append(errs, errors.New("new_terms::fields: list at least one field, for example [cloud.account.id, user.name]"))
	}
	seen := map[string]bool{}
	for _, f := range nt.Fields {
		if _, ok := termFields[f]; !ok {
			errs = append(errs, fmt.Errorf("new_terms::fields: unknown field %q; supported: %s", f, strings.Join(termFieldNames(), ", ")))
		}
		if seen[f] {
			errs = append(errs, fmt.Errorf("new_terms::fields: %q is listed twice", f))
		}
		seen[f] = true
	}
	if nt.HistoryWindow <= 0 {
		errs = append(errs, fmt.Errorf("new_terms::history_window must be positive, got %s (Elastic's rule uses 240h)", nt.HistoryWindow))
	}
	if nt.MissingField != MissingFallback && nt.MissingField != MissingSkip {
		errs = append(errs, fmt.Errorf("new_terms::missing_field: %q is not supported; use %q or %q", nt.MissingField, MissingFallback, MissingSkip))
	}
	if nt.CacheSize <= 0 {
		errs = append(errs, fmt.Errorf("new_terms::cache_size must be positive, got %d", nt.CacheSize))
	}
	if nt.LearningPeriod < 0 {
		errs = append(errs, fmt.Errorf("new_terms::learning_period must not be negative, got %s (0s turns learning off)", nt.LearningPeriod))
	}
	if nt.PruneInterval <= 0 {
		errs = append(errs, fmt.Errorf("new_terms::prune_interval must be positive, got %s", nt.PruneInterval))
	}
	switch nt.Backend {
	case BackendLocal:
		if nt.LearningPeriod > 0 && nt.Storage == nil {
			// Its end would live in memory: each restart would begin a new
			// period and silence every new identity for another one.
			errs = append(errs, errors.New("new_terms::learning_period needs state that outlives a restart: set new_terms::storage (a file_storage extension) or backend redis, or set learning_period to 0s"))
		}
	case BackendRedis:
		errs = append(errs, nt.Redis.validate()...)
		if nt.Storage != nil {
			errs = append(errs, errors.New("new_terms::storage applies to backend local; with backend redis the state is in Redis: remove one"))
		}
	default:
		errs = append(errs, fmt.Errorf("new_terms::backend: %q is not supported; use %q or %q", nt.Backend, BackendLocal, BackendRedis))
	}
	errs = append(errs, c.Enrichment.validate()...)
	return errors.Join(errs...)
}

func (e *EnrichmentConfig) validate() []error {
	var errs []error
	switch {
	case e.LaunchHistory < 0:
		errs = append(errs, fmt.Errorf("enrichment::launch_history must not be negative, got %s (0s turns launch enrichment off)", e.LaunchHistory))
	case e.LaunchHistory == 0:
		return nil
	}
	if e.RecentLaunch <= 0 {
		errs = append(errs, fmt.Errorf("enrichment::recent_launch must be positive, got %s (the hunt's notes: launched within the last day, 24h)", e.RecentLaunch))
	} else if e.LaunchHistory > 0 && e.RecentLaunch > e.LaunchHistory {
		errs = append(errs, fmt.Errorf("enrichment::recent_launch (%s) must not exceed enrichment::launch_history (%s): a launch must be remembered at least that long", e.RecentLaunch, e.LaunchHistory))
	}
	if e.CacheSize <= 0 {
		errs = append(errs, fmt.Errorf("enrichment::cache_size must be positive, got %d", e.CacheSize))
	}
	return errs
}

func (r *RedisConfig) validate() []error {
	var errs []error
	var set []string
	if r.Endpoint != "" {
		set = append(set, "endpoint")
	}
	if r.Cluster != nil {
		set = append(set, "cluster")
	}
	if r.Sentinel != nil {
		set = append(set, "sentinel")
	}
	switch {
	case len(set) != 1:
		got := "none"
		if len(set) > 1 {
			got = strings.Join(set, " and ")
		}
		errs = append(errs, fmt.Errorf("new_terms::redis: set exactly one of endpoint, cluster::endpoints or sentinel (with master_name and endpoints); got %s", got))
	case r.Endpoint != "":
		errs = append(errs, hostPort("new_terms::redis::endpoint", r.Endpoint)...)
	case r.Cluster != nil:
		errs = append(errs, hostPorts("new_terms::redis::cluster::endpoints", r.Cluster.Endpoints)...)
	default:
		if r.Sentinel.MasterName == "" {
			errs = append(errs, errors.New("new_terms::redis::sentinel::master_name is required: the name the sentinels monitor the primary under"))
		}
		errs = append(errs, hostPorts("new_terms::redis::sentinel::endpoints", r.Sentinel.Endpoints)...)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"dial_timeout", r.DialTimeout}, {"timeout", r.Timeout}, {"retry_interval", r.RetryInterval}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("new_terms::redis::%s must be positive, got %s", d.name, d.v))
		}
	}
	if r.PoolSize <= 0 {
		errs = append(errs, fmt.Errorf("new_terms::redis::pool_size must be positive, got %d", r.PoolSize))
	}
	if r.InFlightLease < 0 {
		errs = append(errs, fmt.Errorf("new_terms::redis::in_flight_lease must not be negative (0: every copy carries an alert whose delivery is not known), got %s", r.InFlightLease))
	}
	return errs
}

func hostPort(key, v string) []error {
	_, port, err := net.SplitHostPort(v)
	if err != nil || port == "" {
		return []error{fmt.Errorf("%s must be host:port, got %q", key, v)}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return []error{fmt.Errorf("%s: the port must be a number from 1 to 65535, got %q", key, v)}
	}
	return nil
}

func hostPorts(key string, vs []string) []error {
	if len(vs) == 0 {
		return []error{fmt.Errorf("%s: list at least one host:port", key)}
	}
	var errs []error
	for i, v := range vs {
		errs = append(errs, hostPort(fmt.Sprintf("%s[%d]", key, i), v)...)
	}
	return errs
}
