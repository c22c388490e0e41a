// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package cloudtrail // import "github.com/cloudtrail-detect/ssmsession/internal/cloudtrail"

import (
	"slices"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// mapShape is one way a map carries a CloudTrail event.
type mapShape struct {
	shape            Shape
	provider, action string
	// timeKey holds the event time; "" means the record timestamp.
	timeKey string
	// fill reads the event; nested: Elastic's "event" object, not its
	// flat keys, carries the provider.
	fill func(m, res pcommon.Map, nested bool, ev *Event)
}

const (
	nativeShape = iota
	ecsShape
	otelShape
)

var mapShapes = [...]mapShape{
	nativeShape: {ShapeMap, "eventSource", "eventName", "eventTime", func(m, _ pcommon.Map, _ bool, ev *Event) {
		walkMap(m, &native, ev)
		finishNative(ev)
	}},
	ecsShape:  {ShapeECS, "event.provider", "event.action", "@timestamp", fillECS},
	otelShape: {ShapeOTel, "rpc.service", "rpc.method", "", fillOTel},
}

// shapeKeys are the keys scanShape looks for: each shape's provider and
// action keys, Elastic's nested "event" object, and the keys of envelopes
// and EventBridge events.
var shapeKeys = func() keyTable[shapeKey] {
	keys := map[string]shapeKey{
		"event":        {kind: keyNestedECS},
		recordsKey:     {kind: keyRecords},
		logEventsKey:   {kind: keyLogEvents},
		messageTypeKey: {kind: keyMessageType},
		detailKey:      {kind: keyDetail},
		detailTypeKey:  {kind: keyDetailType},
	}
	for i, s := range mapShapes {
		keys[s.provider] = shapeKey{keyProvider, i}
		keys[s.action] = shapeKey{keyAction, i}
	}
	return newKeyTable(keys)
}()

type shapeKey struct {
	kind  uint8
	shape int
}

const (
	keyProvider uint8 = iota
	keyAction
	keyNestedECS
	keyRecords
	keyLogEvents
	keyMessageType
	keyDetail
	keyDetailType
)

// shapeScan is what one pass over a map's keys found: a shape with its
// provider and action, an envelope with its array, or an EventBridge detail.
type shapeScan struct {
	shape                  *mapShape
	index                  int // of shape in mapShapes
	provider, action       pcommon.Value
	hasProvider, hasAction bool

	envelope Kind
	list     pcommon.Slice // the envelope's Records or logEvents

	detail     pcommon.Map
	hasDetail  bool
	detailType bool
	nested     bool // the ECS provider is in a nested "event" object
}

// found reports whether the map carries any shape, envelope or EventBridge
// event.
func (sc *shapeScan) found() bool {
	return sc.shape != nil || sc.envelope != NoEnvelope || sc.hasDetail
}

// scanShape finds what m carries in one pass over its keys that stops as
// soon as it knows: records are scanned cold and often carry dozens of
// attributes, so every key touched shows, and most keys are rejected by
// their length alone. No real record carries two shapes; one that did would
// be read by the first shape key found, and a shape wins over an envelope.
func scanShape(m pcommon.Map, sc *shapeScan) {
	*sc = shapeScan{}
	var actions [len(mapShapes)]pcommon.Value
	var seen [len(mapShapes)]bool
	var logEvents pcommon.Slice
	hasLogEvents, isData := false, false
	m.Range(func(k string, v pcommon.Value) bool {
		key, ok := get(&shapeKeys, k)
		if !ok {
			return true
		}
		switch key.kind {
		case keyAction:
			actions[key.shape], seen[key.shape] = v, true
			switch {
			case sc.shape != nil:
				// An event waiting for its action has it now.
				return key.shape != sc.index
			case key.shape == otelShape && qualifiedMethod(v):
				// contrib's newer mapping: the method names its service.
				sc.shape, sc.index = &mapShapes[otelShape], otelShape
				return false
			}
		case keyProvider:
			if sc.shape != nil {
				return true
			}
			sc.shape, sc.index, sc.provider, sc.hasProvider = &mapShapes[key.shape], key.shape, v, true
			// Only a provider whose calls are read needs its action,
			// unless already seen.
			return needsAction(v) && !seen[key.shape]
		case keyNestedECS: // {"event":{"provider":...}}
			if sc.shape != nil || v.Type() != pcommon.ValueTypeMap {
				return true
			}
			if p, found := v.Map().Get("provider"); found {
				sc.shape, sc.index, sc.provider, sc.hasProvider, sc.nested = &mapShapes[ecsShape], ecsShape, p, true, true
				return false
			}
		case keyRecords:
			if v.Type() == pcommon.ValueTypeSlice && sc.shape == nil && !notificationList(v.Slice()) {
				sc.envelope, sc.list = S3Object, v.Slice()
				return false
			}
		case keyLogEvents:
			if v.Type() == pcommon.ValueTypeSlice {
				logEvents, hasLogEvents = v.Slice(), true
				return !isData
			}
		case keyMessageType:
			isData = v.Type() == pcommon.ValueTypeStr && v.Str() == dataMessage
			return !(isData && hasLogEvents)
		case keyDetail:
			if v.Type() == pcommon.ValueTypeMap {
				sc.detail, sc.hasDetail = v.Map(), true
			}
		case keyDetailType:
			sc.detailType = true
		}
		return true
	})
	switch {
	case sc.nested:
		if needsAction(sc.provider) {
			sc.action, sc.hasAction = lookup(m, sc.shape.action)
		}
	case sc.shape != nil:
		sc.action, sc.hasAction = actions[sc.index], seen[sc.index]
		sc.envelope, sc.hasDetail = NoEnvelope, false
	case sc.envelope == NoEnvelope && isData && hasLogEvents:
		sc.envelope, sc.list = CWLogs, logEvents
	}
	if sc.envelope != NoEnvelope || !sc.detailType {
		sc.hasDetail = false // a detail map alone is not an EventBridge event
	}
}

// notificationList is notificationRecords for a parsed Records array.
func notificationList(list pcommon.Slice) bool {
	if list.Len() == 0 || list.At(0).Type() != pcommon.ValueTypeMap {
		return false
	}
	first := list.At(0).Map()
	for _, key := range [...]string{"eventSource", "EventSource"} {
		if v, ok := first.Get(key); ok {
			return v.Type() == pcommon.ValueTypeStr && isNotificationSource(v.Str())
		}
	}
	return false
}

// hint is the map shape a walk found last. The records of a batch share a
// shape, so its provider and action keys are asked for directly (two Gets,
// one for the 95% of records whose provider is not read) before any scan.
type hint struct{ index int } // mapShapes index + 1; 0: none yet

func (h *hint) scan(m pcommon.Map, sc *shapeScan) {
	if h.index > 0 && quickScan(m, h.index-1, sc) {
		return
	}
	scanShape(m, sc)
	if sc.shape != nil {
		h.index = sc.index + 1
	}
}

// quickScan reads the provider and action of a record of shape i by their
// keys; false when m does not carry the shape's keys (flat).
func quickScan(m pcommon.Map, i int, sc *shapeScan) bool {
	s := &mapShapes[i]
	*sc = shapeScan{shape: s, index: i}
	if i == otelShape { // the method may name its service: rpc.service is optional
		if sc.action, sc.hasAction = m.Get(s.action); !sc.hasAction {
			return false
		}
		sc.provider, sc.hasProvider = m.Get(s.provider)
		return sc.hasProvider || qualifiedMethod(sc.action)
	}
	if sc.provider, sc.hasProvider = m.Get(s.provider); !sc.hasProvider {
		return false
	}
	if needsAction(sc.provider) {
		sc.action, sc.hasAction = m.Get(s.action)
	}
	return true
}

// needsAction reports whether a provider value's action must be read: its
// calls are read, or it is not a string (bad: whether that is counted
// depends on the call the action names).
func needsAction(v pcommon.Value) bool {
	return v.Type() != pcommon.ValueTypeStr || slices.Contains(readProviders, v.Str())
}

// qualifiedMethod reports whether an rpc.method value is
// "<eventSource>/<eventName>", as contrib's EmitV1RPCConventions writes it.
func qualifiedMethod(v pcommon.Value) bool {
	_, _, ok := splitMethod(v)
	return ok
}

// foreign reports whether the shape found names a provider that is no AWS
// service endpoint (rpc.service of a gRPC call, a receiver's eventSource
// "aws:sqs"): the map is not a CloudTrail event, so a text body beside it
// is read instead. Asked only of records that have one.
func (sc *shapeScan) foreign() bool {
	provider := sc.provider
	if !sc.hasProvider {
		if !sc.hasAction {
			return false
		}
		provider = sc.action // contrib's newer mapping: "<eventSource>/<eventName>"
	}
	if provider.Type() != pcommon.ValueTypeStr {
		return false // a CloudTrail record gone bad
	}
	source := provider.Str()
	if !sc.hasProvider {
		source, _, _ = strings.Cut(source, "/")
	}
	return !strings.HasSuffix(source, ".amazonaws.com")
}

func splitMethod(v pcommon.Value) (service, method string, ok bool) {
	if v.Type() != pcommon.ValueTypeStr {
		return "", "", false
	}
	service, method, ok = strings.Cut(v.Str(), "/")
	return service, method, ok && service != "" && method != ""
}

// match decides on the provider and action values found: Read for a call
// the reader wants.
func (sc *shapeScan) match(r *Reader) (Result, error) {
	provider, action := "", ""
	if sc.hasProvider {
		if sc.provider.Type() != pcommon.ValueTypeStr {
			if sc.hasAction && sc.action.Type() == pcommon.ValueTypeStr && !r.wantsAction(sc.action.Str()) {
				return Skip, nil // as a text body naming another call is skipped unread
			}
			return Malformed, errWrongType
		}
		provider = sc.provider.Str()
	}
	if sc.hasAction {
		if sc.action.Type() != pcommon.ValueTypeStr {
			if !needsAction(sc.provider) {
				return Skip, nil
			}
			return Malformed, errWrongType
		}
		action = sc.action.Str()
		if sc.index == otelShape {
			if service, method, ok := splitMethod(sc.action); ok {
				if sc.hasProvider && service != provider {
					return Skip, nil // the two disagree: not an event we can read
				}
				provider, action = service, method
			}
		}
	}
	if !r.wants(provider, action) {
		return Skip, nil
	}
	return Read, nil
}

// cloudTrailDataset reports whether an Elastic document is CloudTrail's: it
// names the dataset in data_stream.dataset (the rule's query since 2026) or
// event.dataset (older data), on the record or, as Elastic's exporter also
// reads it, on its resource, or not at all; any other dataset is not.
func cloudTrailDataset(m, res pcommon.Map) bool {
	for _, k := range [...]string{"data_stream.dataset", "event.dataset"} {
		ds := lookupStr(m, k)
		if ds == "" {
			ds = lookupStr(res, k)
		}
		if ds != "" && ds != "aws.cloudtrail" {
			return false
		}
	}
	return true
}

// readShape reads an event of a known map shape into ev.
func (r *Reader) readShape(m pcommon.Map, sc *shapeScan, res pcommon.Resource, ev *Event) (Result, error) {
	if sc.shape == nil {
		return Skip, nil
	}
	result, err := sc.match(r)
	if result != Read {
		return result, err
	}
	if sc.index == ecsShape && !cloudTrailDataset(m, res.Attributes()) {
		return Skip, nil
	}
	ev.Reset()
	ev.Shape = sc.shape.shape
	sc.shape.fill(m, res.Attributes(), sc.nested, ev)
	return Read, nil
}
