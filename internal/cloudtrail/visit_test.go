package cloudtrail

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/cloudtrail-detect/ssmsession/internal/shapes"
)

const describe = `{"eventTime" : "2026-11-05T10:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","userIdentity":{"type":"IAMUser"}}`

type visit struct {
	result Result
	t      time.Time
	target string
}

func each(t *testing.T, lr plog.LogRecord) []visit {
	t.Helper()
	var r Reader
	var ev Event
	var out []visit
	r.Each(pcommon.NewResource(), lr, &ev, func(result Result, at time.Time, _ error) {
		v := visit{result: result, t: at}
		if result == StartSession {
			v.target = ev.Target
		}
		out = append(out, v)
	})
	return out
}

// TestEachReadsEnvelopesInPlace: the connector reads the events of a file
// object, in every form, without changing the record.
func TestEachReadsEnvelopesInPlace(t *testing.T) {
	raws := [][]byte{[]byte(startSession), []byte(describe)}
	want := []visit{
		{StartSession, time.Date(2026, 11, 2, 9, 15, 4, 0, time.UTC), "i-0fedcba9876543210"},
		{Skip, time.Date(2026, 11, 5, 10, 0, 0, 0, time.UTC), ""},
	}
	text, err := shapes.Logs(shapes.Envelope, raws)
	require.NoError(t, err)
	lr := text.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	before := plog.NewLogRecord()
	lr.CopyTo(before)
	assert.Equal(t, want, each(t, lr))
	assert.Equal(t, before, lr, "record unchanged")

	var records []any
	for _, r := range raws {
		m, err := shapes.Decode(r)
		require.NoError(t, err)
		records = append(records, m)
	}
	raw, err := shapes.Plain(map[string]any{"Records": records})
	require.NoError(t, err)
	for _, inBody := range []bool{true, false} {
		lr := plog.NewLogRecord()
		target := lr.Attributes()
		if inBody {
			target = lr.Body().SetEmptyMap()
		}
		require.NoError(t, shapes.PutMap(target, raw))
		assert.Equal(t, want, each(t, lr), "map envelope in body=%v", inBody)
	}

	broken := plog.NewLogRecord()
	broken.Body().SetStr(`{"Records":[{"eventSource":`)
	assert.Equal(t, []visit{{result: Malformed}}, each(t, broken))
}

// TestEventTimeOfAnyRecord reads the time of non-StartSession events in
// every shape without a full parse.
func TestEventTimeOfAnyRecord(t *testing.T) {
	want := time.Date(2026, 11, 5, 10, 0, 0, 0, time.UTC)
	for _, shape := range shapes.All {
		ld, err := shapes.Logs(shape, [][]byte{[]byte(strings.Replace(describe, `" : "`, `":"`, 1))})
		require.NoError(t, err)
		var r Reader
		got, ok := r.EventTime(ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0))
		assert.True(t, ok, shape)
		assert.Equal(t, want, got, shape)
	}
	got, ok := rawEventTime(describe) // spaces around the colon
	assert.True(t, ok)
	assert.Equal(t, want, got)
	for _, s := range []string{`{"eventTime":"2026-11-05T10:00:00Z"}`, `{"eventSource":"x","eventTime":5}`, `{"eventSource":"x","eventTime":"garbage"}`, "plain text"} {
		_, ok := rawEventTime(s)
		assert.False(t, ok, s)
	}
}
