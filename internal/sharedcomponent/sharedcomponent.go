// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

// Package sharedcomponent keeps one instance of a component's state per
// component id. The collector builds a processor once per pipeline it is
// listed in; a stateful one must still decide from one state, with one
// storage client, whatever the number of pipelines.
package sharedcomponent // import "github.com/cloudtrail-detect/ssmsession/internal/sharedcomponent"

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
)

// Map holds the shared instances of one factory.
type Map[V component.Component] struct {
	mu sync.Mutex
	m  map[component.ID]*Shared[V]
}

// NewMap returns an empty map.
func NewMap[V component.Component]() *Map[V] {
	return &Map[V]{m: map[component.ID]*Shared[V]{}}
}

// Shared is one instance, used by one or more pipelines: started by the
// first Start, shut down by the last Shutdown.
type Shared[V component.Component] struct {
	Value V

	owner    *Map[V]
	id       component.ID
	refs     int // pipelines holding it; guarded by the owner's mutex
	starting sync.Once
	startErr error
}

// Ref is one pipeline's hold on a shared instance.
type Ref[V component.Component] struct {
	*Shared[V]
	once sync.Once
}

// LoadOrStore returns a hold on the instance for id, creating it first when
// none exists.
func (m *Map[V]) LoadOrStore(id component.ID, create func() (V, error)) (*Ref[V], error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.m[id]
	if !ok {
		v, err := create()
		if err != nil {
			return nil, err
		}
		s = &Shared[V]{Value: v, owner: m, id: id}
		m.m[id] = s
	}
	s.refs++
	return &Ref[V]{Shared: s}, nil
}

// Start starts the instance the first time any pipeline starts it; the
// others wait for that start and share its outcome.
func (r *Ref[V]) Start(ctx context.Context, host component.Host) error {
	r.starting.Do(func() { r.startErr = r.Value.Start(ctx, host) })
	return r.startErr
}

// Shutdown releases this pipeline's hold; the last one shuts the instance
// down. A second call is a no-op.
func (r *Ref[V]) Shutdown(ctx context.Context) error {
	var err error
	r.once.Do(func() {
		m := r.owner
		m.mu.Lock()
		r.refs--
		last := r.refs == 0
		if last {
			delete(m.m, r.id)
		}
		m.mu.Unlock()
		if last {
			err = r.Value.Shutdown(ctx)
		}
	})
	return err
}
