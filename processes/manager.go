package processes

import (
	"log/slog"
	"sync"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/sessionkit/sessionkit/sweep"
)

const (
	defaultSweepInterval = time.Minute
	shardCount           = 64
)

// Manager is a table of sessions by ID that evicts idle ones.
//
// Make one with [NewManager]. The zero Manager is usable too, with the real
// clock, a one-minute sweep interval, no idle eviction and no logging. All
// methods are safe for concurrent use.
type Manager struct {
	// IdleTimeout is how long a session may stay inactive before Sweep
	// evicts it: idle means now − LastActivity > IdleTimeout, strictly. A
	// value <= 0 disables eviction. Set it before sharing the Manager.
	IdleTimeout time.Duration

	clk           clock.Clock
	sweepInterval time.Duration
	log           *slog.Logger

	shards [shardCount]shard

	runMu   sync.Mutex
	sweeper *sweep.Sweeper
}

type shard struct {
	mu       sync.RWMutex
	sessions map[string]*Session
	_        [32]byte // keep shards on separate cache lines
}

var discard = slog.New(slog.DiscardHandler)

// NewManager returns a Manager that evicts sessions idle for longer than
// idleTimeout (<= 0: never). Options default to the real clock, a one-minute
// sweep interval and no logging; nil options are ignored.
func NewManager(idleTimeout time.Duration, opts ...Option) *Manager {
	m := &Manager{IdleTimeout: idleTimeout}
	for _, o := range opts {
		if o != nil {
			o(m)
		}
	}
	return m
}

func (m *Manager) clock() clock.Clock {
	if m.clk == nil {
		return realClock
	}
	return m.clk
}

func (m *Manager) logger() *slog.Logger {
	if m.log == nil {
		return discard
	}
	return m.log
}

func (m *Manager) shard(id string) *shard {
	// FNV-1a, inline so that it does not allocate.
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return &m.shards[h%shardCount]
}

// Register adds s under s.ID. It stamps s's LastActivity with the Manager's
// clock if it is zero, and makes s read the Manager's clock from then on. A
// session already registered under the same ID is replaced and closed as by
// Forget. Register panics if s is nil.
func (m *Manager) Register(s *Session) {
	if s == nil {
		panic("processes: Register of nil Session")
	}
	s.mu.Lock()
	s.clk, s.mgr = m.clock(), m
	if s.lastActivity.IsZero() {
		s.stamp(s.clk.Now())
	}
	s.mu.Unlock()

	sh := m.shard(s.ID)
	sh.mu.Lock()
	if sh.sessions == nil {
		sh.sessions = make(map[string]*Session)
	}
	old := sh.sessions[s.ID]
	sh.sessions[s.ID] = s
	sh.mu.Unlock()
	if old != nil && old != s {
		m.retire(old, "replaced")
	}
}

// Get returns the session registered under id, and false if there is none,
// because it was never registered or was forgotten or evicted.
func (m *Manager) Get(id string) (*Session, bool) {
	sh := m.shard(id)
	sh.mu.RLock()
	s, ok := sh.sessions[id]
	sh.mu.RUnlock()
	return s, ok
}

// Forget removes the session registered under id and closes it: its waiters
// get ErrClosed, and a process still running behind it is terminated and
// reaped in the background. Forgetting an unknown id does nothing.
func (m *Manager) Forget(id string) {
	sh := m.shard(id)
	sh.mu.Lock()
	s, ok := sh.sessions[id]
	delete(sh.sessions, id)
	sh.mu.Unlock()
	if ok {
		m.retire(s, "forgotten")
	}
}

// Len returns the number of sessions registered.
func (m *Manager) Len() int {
	n := 0
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.RLock()
		n += len(sh.sessions)
		sh.mu.RUnlock()
	}
	return n
}

// retire closes a session that left the table.
func (m *Manager) retire(s *Session, why string) {
	p := s.shut()
	m.logger().Debug("processes: session closed", "id", s.ID, "workspace", s.WorkspaceID, "reason", why)
	if p != nil {
		m.terminateInBackground(s, p)
	}
}

// Sweep evicts every session idle at the Manager's clock's now: its
// LastActivity is more than its idle timeout ago. Evicted sessions are closed
// as by Forget. With IdleTimeout <= 0, only sessions with their own positive
// idle timeout are evicted.
func (m *Manager) Sweep() {
	m.sweepAt(m.clock().Now())
}

// sweepAt evicts the sessions idle at now and returns how many. Each shard is
// read under its read lock and written under its lock only to delete, so Get
// is never held off for the whole scan.
func (m *Manager) sweepAt(t time.Time) int {
	def, now := m.IdleTimeout, t.UnixNano()
	var idle []*Session
	evicted := 0
	for i := range m.shards {
		sh := &m.shards[i]
		idle = idle[:0]
		sh.mu.RLock()
		for _, s := range sh.sessions {
			if s.idleAt(now, def) {
				idle = append(idle, s)
			}
		}
		sh.mu.RUnlock()
		if len(idle) == 0 {
			continue
		}
		n := 0
		sh.mu.Lock()
		for _, s := range idle {
			// Re-check: the session may have been replaced or become
			// active since the read.
			if sh.sessions[s.ID] == s && s.idleAt(now, def) {
				delete(sh.sessions, s.ID)
				idle[n] = s
				n++
			}
		}
		sh.mu.Unlock()
		for _, s := range idle[:n] {
			m.logger().Info("processes: session evicted", "id", s.ID, "workspace", s.WorkspaceID, "idle", t.Sub(s.LastActivity()))
			m.retire(s, "idle")
		}
		evicted += n
	}
	return evicted
}

// Run starts sweeping in one background goroutine that calls Sweep every
// sweep interval, the first one interval after Run, until Stop. Calling Run
// while it runs does nothing.
func (m *Manager) Run() {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	if m.sweeper != nil {
		return
	}
	interval := m.sweepInterval
	if interval == 0 {
		interval = defaultSweepInterval
	}
	m.sweeper = sweep.Start(m.clock(), interval, func(now time.Time) { m.sweepAt(now) })
}

// Stop stops the sweeping that Run started and waits for its goroutine to
// exit. It does nothing without Run; Run after Stop starts sweeping again.
// Stop does not close sessions: see Shutdown.
func (m *Manager) Stop() {
	m.runMu.Lock()
	s := m.sweeper
	m.sweeper = nil
	m.runMu.Unlock()
	s.Stop()
}
