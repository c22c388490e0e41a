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
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/cloudtrail-detect/ssmsession/processor/ssmsessionprocessor/internal/metadata"
)

// NewFactory returns the factory of the ssmsession processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithLogs(createLogs, metadata.LogsStability),
	)
}

func createLogs(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	return newLogs(ctx, set, cfg.(*Config), next, time.Now)
}

// newLogs builds the processor with an injectable clock.
func newLogs(ctx context.Context, set processor.Settings, cfg *Config, next consumer.Logs, now func() time.Time) (processor.Logs, error) {
	p, err := newProcessor(set, cfg, now)
	if err != nil {
		return nil, err
	}
	inner, err := processorhelper.NewLogs(ctx, set, cfg, next, p.processLogs,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
		processorhelper.WithStart(p.start),
		processorhelper.WithShutdown(p.shutdown),
	)
	if err != nil {
		return nil, err
	}
	return &settlingLogs{Logs: inner, p: p}, nil
}

// settlingLogs wraps the processorhelper consumer to learn whether the next
// consumer accepted each batch: an alert counts as delivered only then, so a
// redelivery of an event whose alert was lost is alerted again.
type settlingLogs struct {
	processor.Logs
	p *ssmProcessor
}

func (s *settlingLogs) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	pending := &pendingAlerts{}
	err := s.Logs.ConsumeLogs(context.WithValue(ctx, pendingKey{}, pending), ld)
	if len(pending.alerts) > 0 {
		s.p.decider.Settle(pending.alerts, err == nil)
	}
	return err
}
