// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package cloudtrail

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Read reads a record that holds one event (any outcome) into ev, as Walk
// reads each one: the tests' way in. A record holding an envelope reads as
// Skip (Walk reads or splits those). The record is never modified.
func (r *Reader) Read(res pcommon.Resource, lr plog.LogRecord, ev *Event) (Result, error) {
	var v view
	r.look(lr, &hint{}, &v)
	if v.kind != NoEnvelope {
		return Skip, nil
	}
	result, err := r.readView(res, &v, ev)
	return finish(result, err, lr, 0, ev)
}
