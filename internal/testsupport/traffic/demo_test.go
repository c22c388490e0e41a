// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package traffic

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/corpus"
	"github.com/cloudtrail-detect/ssmsession/internal/testsupport/golden"
)

// The demo data is committed (make run must work offline at once); this
// keeps it equal to what the generator makes.
const (
	demoStream = "testdata/demo/stream/111122223333_cloudtrail.ndjson"
	demoObject = "testdata/demo/trail/444455556666_CloudTrail_eu-west-1_20261119T2355Z_7Yq2c1Hv.json"
)

func TestDemoDataIsGenerated(t *testing.T) {
	prod, dev := Demo()
	golden.CompareBytes(t, corpus.Path(t, demoStream), append(bytes.Join(prod, []byte("\n")), '\n'))
	object := append([]byte(`{"Records":[`), bytes.Join(dev, []byte(","))...)
	golden.CompareBytes(t, corpus.Path(t, demoObject), append(object, "]}\n"...))
}

func TestDemoIsDeterministicAndValid(t *testing.T) {
	a, _ := Demo()
	b, _ := Demo()
	require.Equal(t, a, b)
	ids := map[string]int{}
	for _, raw := range a {
		var ev struct {
			EventID, EventName string
		}
		require.NoError(t, json.Unmarshal(raw, &ev))
		ids[ev.EventID]++
	}
	dups := 0
	for _, n := range ids {
		if n > 1 {
			dups++
		}
	}
	assert.Equal(t, 1, dups, "exactly one event is delivered twice (the foothold)")
}
