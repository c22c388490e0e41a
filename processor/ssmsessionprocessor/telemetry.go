// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionprocessor // import "github.com/cloudtrail-detect/ssmsession/processor/ssmsessionprocessor"

import (
	"context"

	"github.com/cloudtrail-detect/ssmsession/internal/firstseen"
)

// record turns a store call's stats into telemetry and storage health.
func (p *ssmProcessor) record(ctx context.Context, st firstseen.Stats) {
	p.tel.ProcessorSsmsessionCacheHits.Add(ctx, int64(st.Hits), p.added...)
	p.tel.ProcessorSsmsessionCacheMisses.Add(ctx, int64(st.Misses), p.added...)
	p.tel.ProcessorSsmsessionCacheEvictions.Add(ctx, int64(st.Evictions), p.added...)
	p.tel.ProcessorSsmsessionStorageWrites.Add(ctx, int64(st.Writes), p.added...)
	if st.Fallback > 0 {
		p.tel.ProcessorSsmsessionDecisionsFallback.Add(ctx, int64(st.Fallback), p.added...)
	}
	p.storage.Report(st.StorageErr, st.Recovered)
}
