// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionconnector // import "github.com/cloudtrail-detect/ssmsession/connector/ssmsessionconnector"

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap/xconfmap"
)

// maxBuckets bounds window/bucket, so memory per series is bounded, and
// maxTotalBuckets bounds max_series × window/bucket, the memory of all
// series at the worst (16 bytes a bucket: 160 MB).
const (
	maxBuckets      = 10_000
	maxTotalBuckets = 10_000_000
	// maxOpenSessions bounds max_open_sessions (about 300 bytes each).
	maxOpenSessions = 1_000_000
	// maxSessionMaxAge bounds session_max_age: SSM ends every session
	// within its maximum duration (at most 24h), so 30 days is ample, and
	// aging (twice the age back from the newest event) stays far from
	// overflowing.
	maxSessionMaxAge = 30 * 24 * time.Hour
)

// Config is the ssmsession connector configuration.
type Config struct {
	// Window is the trailing window of the windowed gauges, in event time.
	Window time.Duration `mapstructure:"window"`
	// Bucket is the counting resolution; buckets are aligned to multiples
	// of it since the Unix epoch (UTC).
	Bucket time.Duration `mapstructure:"bucket"`
	// EmitInterval is how often metrics are emitted (and once on shutdown).
	EmitInterval time.Duration `mapstructure:"emit_interval"`
	// MaxSeries bounds the series; further combinations are counted in one
	// overflow series.
	MaxSeries int `mapstructure:"max_series"`
	// SessionMaxAge: a session with no activity (start or resume) within
	// this much event time of the newest event is no longer counted open.
	SessionMaxAge time.Duration `mapstructure:"session_max_age"`
	// MaxOpenSessions bounds the sessions tracked between start and end;
	// the least recently active goes first.
	MaxOpenSessions int `mapstructure:"max_open_sessions"`
	// Storage names a storage extension that keeps counts across restarts.
	Storage *component.ID `mapstructure:"storage"`
	_       struct{}
}

var _ xconfmap.Validator = (*Config)(nil)

func createDefaultConfig() component.Config {
	return &Config{
		Window:          168 * time.Hour,
		Bucket:          time.Hour,
		EmitInterval:    time.Minute,
		MaxSeries:       10_000,
		SessionMaxAge:   24 * time.Hour,
		MaxOpenSessions: 10_000,
	}
}

// Validate reports every problem at once, each naming the key to fix.
func (c *Config) Validate() error {
	var errs []error
	if c.Window <= 0 {
		errs = append(errs, fmt.Errorf("window must be positive, got %s (the hunt uses 168h)", c.Window))
	}
	if c.Bucket <= 0 {
		errs = append(errs, fmt.Errorf("bucket must be positive, got %s", c.Bucket))
	}
	if c.Window > 0 && c.Bucket > 0 {
		nb := int64(c.Window / c.Bucket)
		switch {
		case c.Window%c.Bucket != 0:
			errs = append(errs, fmt.Errorf("window (%s) must be a whole number of buckets (%s)", c.Window, c.Bucket))
		case nb > maxBuckets:
			errs = append(errs, fmt.Errorf("window/bucket is %d buckets; at most %d: use a larger bucket", nb, maxBuckets))
		}
		if c.Window%c.Bucket == 0 && c.MaxSeries > 0 && int64(c.MaxSeries) > maxTotalBuckets/nb { // divided: a product could overflow
			errs = append(errs, fmt.Errorf("max_series × window/bucket is %d × %d buckets; at most %d (about 160 MB): lower max_series or use a larger bucket",
				c.MaxSeries, nb, maxTotalBuckets))
		}
	}
	if c.EmitInterval <= 0 {
		errs = append(errs, fmt.Errorf("emit_interval must be positive, got %s", c.EmitInterval))
	}
	if c.MaxSeries <= 0 {
		errs = append(errs, fmt.Errorf("max_series must be positive, got %d", c.MaxSeries))
	}
	if c.SessionMaxAge <= 0 || c.SessionMaxAge > maxSessionMaxAge {
		errs = append(errs, fmt.Errorf("session_max_age must be positive and at most %s, got %s (SSM ends idle sessions after 20 minutes and any session within 24h; 24h counts long ones)",
			maxSessionMaxAge, c.SessionMaxAge))
	}
	if c.MaxOpenSessions <= 0 || c.MaxOpenSessions > maxOpenSessions {
		errs = append(errs, fmt.Errorf("max_open_sessions must be 1 to %d, got %d", maxOpenSessions, c.MaxOpenSessions))
	}
	return errors.Join(errs...)
}
