// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionprocessor

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/shapes"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/storagetest"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/traffic"
)

// Records that are not StartSession must cost no allocation, whatever the
// shape: a batch of 1,000 of them allocates nothing at all.
func TestNonMatchingRecordsDoNotAllocate(t *testing.T) {
	for _, shape := range shapes.All {
		ld := nonMatching(t, shape)
		p, err := newProcessor(processortest.NewNopSettings(NewFactory().Type()), defaultConfig(), time.Now)
		require.NoError(t, err)
		allocs := testing.AllocsPerRun(20, func() {
			p.process(ctx, ld)
		})
		assert.Zero(t, allocs, shape)
	}
}

// Storage is touched per batch, never per record: no call for a batch
// without matches, one read and one write of terms for a batch with many;
// launches add, once, the start of watching and a read of the targets.
func TestStorageIsBatched(t *testing.T) {
	faulty := &storagetest.FaultyExtension{Extension: storagetest.FileStorage(t, t.TempDir())}
	h := start(t, withStorage(), map[component.ID]component.Component{storagetest.ID: faulty}, nil)
	require.Len(t, faulty.Clients, 1)
	client := faulty.Clients[0]

	process(t, h, nonMatching(t, shapes.Raw))
	assert.Zero(t, client.Calls, "no storage call for 1,000 records without a match")

	ld, err := shapes.Logs(shapes.Raw, traffic.Mix(5, 1000, 0.2, 150))
	require.NoError(t, err)
	process(t, h, ld)
	assert.Equal(t, 5, client.Calls, "terms: a read of the misses and a write; launches: the start of watching read (once for good) and written, the targets read")

	ld, err = shapes.Logs(shapes.Raw, traffic.Mix(6, 1000, 0.2, 150))
	require.NoError(t, err)
	client.Calls = 0
	process(t, h, ld)
	assert.Equal(t, 2, client.Calls, "then only the terms' read and write: targets known not launched are not read again")
}
