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
// adds one. It never blocks; each method returns ctx.Err() without doing
// anything when its context is already done. It implements [BatchRecorder]
// and passes the contract suite of package storetest.
type MemoryStore struct {
	mu       sync.Mutex
	sessions map[key]Session
}

type key struct{ namespace, name string }

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{}
}

// Get returns a copy of the session, or [ErrNotFound], or ctx.Err().
func (m *MemoryStore) Get(ctx context.Context, namespace, name string) (Session, error) {
	if err := ctx.Err(); err != nil {
		return Session{}, err
	}
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
// It returns nil when there are none, and fails only with ctx.Err().
func (m *MemoryStore) List(ctx context.Context, namespace string) ([]Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
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
// for an absent session with a Version other than 0, and ctx.Err() when ctx
// is done; in each case it stores nothing.
func (m *MemoryStore) Update(ctx context.Context, s Session) (Session, error) {
	if err := ctx.Err(); err != nil {
		return Session{}, err
	}
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

// RecordActivity implements [BatchRecorder]: it sets each named session's
// LastActivity to the stamp's At where that is later than the stored one or
// none is stored, adding one to the Version of each session it changes, and
// ignores stamps of absent sessions. It returns ctx.Err(), recording
// nothing, when ctx is done, and otherwise nil.
func (m *MemoryStore) RecordActivity(ctx context.Context, stamps []Stamp) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, st := range stamps {
		k := key{st.Namespace, st.Name}
		s, ok := m.sessions[k]
		if !ok || (s.LastActivity != nil && !st.At.After(*s.LastActivity)) {
			continue
		}
		at := st.At.Round(0)
		s.LastActivity = &at
		s.Version++
		m.sessions[k] = s
	}
	return nil
}
