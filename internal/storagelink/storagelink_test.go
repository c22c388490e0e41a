// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package storagelink

import (
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.uber.org/zap"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/storagetest"
)

// TestStatusEndsAsTheLinkIs: batches failing and recovering at once leave
// the host with the link's own state as the last status reported, and
// the statuses reported alternate (each a change).
func TestStatusEndsAsTheLinkIs(t *testing.T) {
	for round := range 50 {
		host := storagetest.NewHost(nil)
		l := Health("redis", zap.NewNop(), func() {})
		require.NoError(t, l.Start(t.Context(), host))
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 200 {
					if (i+g)%2 == 0 {
						l.Failed(errors.New("down"))
					} else {
						l.Report(nil, true)
					}
				}
			}()
		}
		wg.Wait()
		statuses := host.Statuses()
		want := componentstatus.StatusOK
		if l.degraded {
			want = componentstatus.StatusRecoverableError
		}
		require.NotEmpty(t, statuses)
		require.Equal(t, want, statuses[len(statuses)-1], "round %d: the last status reported is the link's", round)
		for i := 1; i < len(statuses); i++ {
			assert.NotEqual(t, statuses[i-1], statuses[i], "round %d: status %d repeats the one before", round, i)
		}
		require.NoError(t, l.Shutdown(t.Context()))
	}
}
