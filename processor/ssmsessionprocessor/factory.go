// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionprocessor // import "github.com/cloudtrail-detect/ssmsession/processor/ssmsessionprocessor"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"

	"github.com/cloudtrail-detect/ssmsession/internal/sharedcomponent"
	"github.com/cloudtrail-detect/ssmsession/processor/ssmsessionprocessor/internal/metadata"
)

// NewFactory returns the factory of the ssmsession processor.
func NewFactory() processor.Factory {
	shared := sharedcomponent.NewMap[*ssmProcessor]()
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithLogs(func(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
			return newLogs(shared, set, cfg.(*Config), next, time.Now)
		}, metadata.LogsStability),
	)
}

// newLogs builds one pipeline's processor on the state its id shares, with
// an injectable clock.
func newLogs(shared *sharedcomponent.Map[*ssmProcessor], set processor.Settings, cfg *Config, next consumer.Logs, now func() time.Time) (processor.Logs, error) {
	ref, err := shared.LoadOrStore(set.ID, func() (*ssmProcessor, error) { return newProcessor(set, cfg, now) })
	if err != nil {
		return nil, err
	}
	return &logsProcessor{Ref: ref, next: next}, nil
}

// logsProcessor is the processor in one pipeline: it tags, passes the batch
// on, and settles the alerts with the next consumer's answer, so an alert
// counts as delivered only once the batch was accepted.
type logsProcessor struct {
	*sharedcomponent.Ref[*ssmProcessor]
	next consumer.Logs
}

func (lp *logsProcessor) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

func (lp *logsProcessor) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	p := lp.Value
	alerts := p.process(ctx, ld)
	err := lp.next.ConsumeLogs(ctx, ld)
	if len(alerts) > 0 {
		p.decider.Settle(alerts, err == nil)
	}
	return err
}
