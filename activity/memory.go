package activity

import (
	"context"
	"sort"
	"sync"
)

// MemoryStore is a [Store] in memory, for tests and single-process programs.
// It is safe for concurrent use. The zero MemoryStore is an empty store ready
// to use.
//
// It stores and returns deep copies: changing a Session passed to Update, or
// one returned by any method, including the time its LastActivity points to,
// changes nothing stored. A created session has Version 1, and each Update
// adds one. It never blocks and ignores its contexts.
type MemoryStore struct {
	mu       sync.Mutex
	sessions map[key]Session
}

type key struct{ namespace, name string }

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{}
}

// Get returns a copy of the session, or [ErrNotFound].
func (m *MemoryStore) Get(_ context.Context, namespace, name string) (Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[key{namespace, name}]
	if !ok {
		return Session{}, ErrNotFound
	}
	return clone(s), nil
}

// List returns copies of the sessions whose Namespace is exactly namespace,
// sorted by Name; the namespace "" holds only sessions whose Namespace is "".
// It returns nil when there are none and never fails.
func (m *MemoryStore) List(_ context.Context, namespace string) ([]Session, error) {
	m.mu.Lock()
	var out []Session
	for k, s := range m.sessions {
		if k.namespace == namespace {
			out = append(out, clone(s))
		}
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Update stores a copy of s if s.Version equals the stored Version, or creates
// the session if it is absent and s.Version is 0, and returns a copy of what
// it stored, with the Version incremented. It returns [ErrConflict] when the
// Version is stale (including 0 for a session that exists) and [ErrNotFound]
// for an absent session with a Version other than 0; either way it stores
// nothing.
func (m *MemoryStore) Update(_ context.Context, s Session) (Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := key{s.Namespace, s.Name}
	cur, ok := m.sessions[k]
	switch {
	case !ok && s.Version != 0:
		return Session{}, ErrNotFound
	case ok && cur.Version != s.Version:
		return Session{}, ErrConflict
	}
	s = clone(s)
	s.Version++
	if m.sessions == nil {
		m.sessions = make(map[key]Session)
	}
	m.sessions[k] = s
	return clone(s), nil
}
