package ssmsessionprocessor

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap/xconfmap"
)

// Envelope modes: what to do with a record whose body is a CloudTrail file
// object ({"Records":[...]}).
const (
	EnvelopeSplit = "split" // one record per event (default)
	EnvelopeKeep  = "keep"  // pass the file object through uninspected
)

// Missing-field policies for new_terms.
const (
	MissingFallback = "fallback" // a missing identity field takes ssmsession.principal
	MissingSkip     = "skip"     // as Elastic: no new_terms decision
)

// Config is the ssmsession processor configuration.
type Config struct {
	// Envelope is split or keep.
	Envelope string `mapstructure:"envelope"`
	// NewTerms configures the first-seen decision.
	NewTerms NewTermsConfig `mapstructure:"new_terms"`
	_        struct{}
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
	_             struct{}
}

var _ xconfmap.Validator = (*Config)(nil)

func createDefaultConfig() component.Config {
	return &Config{
		Envelope: EnvelopeSplit,
		NewTerms: NewTermsConfig{
			Fields:        []string{"cloud.account.id", "user.name"},
			HistoryWindow: 240 * time.Hour,
			MissingField:  MissingFallback,
			CacheSize:     100_000,
			PruneInterval: time.Hour,
		},
	}
}

// Validate reports every problem at once, each naming the key to fix.
func (c *Config) Validate() error {
	var errs []error
	if c.Envelope != EnvelopeSplit && c.Envelope != EnvelopeKeep {
		errs = append(errs, fmt.Errorf("envelope: %q is not supported; use %q or %q", c.Envelope, EnvelopeSplit, EnvelopeKeep))
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
	if nt.PruneInterval <= 0 {
		errs = append(errs, fmt.Errorf("new_terms::prune_interval must be positive, got %s", nt.PruneInterval))
	}
	return errors.Join(errs...)
}
