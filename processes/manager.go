package processes

import (
	"context"
	"fmt"
	"iter"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/sessionkit/sessionkit/sweep"
)

const (
	defaultSweepInterval = time.Minute
	// minDefaultSweepInterval floors the default sweep interval of a
	// Manager with a short idle timeout.
	minDefaultSweepInterval = 100 * time.Millisecond
	defaultKillGrace        = 5 * time.Second
	defaultWaitDelay        = 2 * time.Second
	defaultCPUThreshold     = 10 * time.Millisecond
	shardCount              = 64
)

// Manager is a table of sessions by ID that starts processes behind them and
// evicts idle ones.
//
// Make one with [NewManager]. The zero Manager is usable too, with the real
// clock, the default sweep interval of [Manager.Run], no idle eviction, no
// limits and no logging. All methods are safe for concurrent use.
type Manager struct {
	// IdleTimeout is how long a session may stay inactive before Sweep
	// evicts it: idle means now − LastActivity > IdleTimeout, strictly. A
	// value <= 0 disables eviction, except for sessions started with their
	// own [StartOptions.IdleTimeout]. Set it before sharing the Manager.
	IdleTimeout time.Duration

	clk           clock.Clock
	sweepInterval time.Duration
	grace         time.Duration
	delay         time.Duration
	log           *slog.Logger
	maxSessions   int
	maxPerWS      int

	shards [shardCount]shard

	countMu sync.Mutex
	total   int
	perWS   map[string]int

	cull   bool          // WithCullConnected
	cpuMin time.Duration // WithCPUThreshold

	epochOnce sync.Once
	epoch     time.Time // see epochTime

	closed  atomic.Bool
	startMu sync.RWMutex // held for reading by each Start, for writing by Shutdown
	liveMu  sync.Mutex
	live    map[*process]struct{} // started and not yet gone

	cgParent string // WithCgroup
	cgOff    bool   // WithoutCgroup
	cgMu     sync.Mutex
	cg       cgroupState
	// removing counts session cgroups being removed; each is added before
	// its session's gone is closed, so Shutdown, which saw every gone,
	// never waits on it concurrently with an Add.
	removing sync.WaitGroup

	forkMu   sync.Mutex
	forks    chan forkReq  // to the forker; nil until the first Start
	forkDone chan struct{} // closed when the forker has exited

	doneMu     sync.Mutex
	doneQ      []*process // reaped and terminated, for the completer
	completing bool       // the completer goroutine runs

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
// idleTimeout (<= 0: never). Options default to the real clock, the
// default sweep interval of [Manager.Run] (one minute, or a quarter of a
// shorter idleTimeout), a five-second kill grace, no limits and no logging;
// nil options are ignored.
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

// epochTime returns the Manager's epoch: its clock's first reading, from
// which its sessions count their activity.
func (m *Manager) epochTime() time.Time {
	m.epochOnce.Do(func() { m.epoch = m.clock().Now() })
	return m.epoch
}

func (m *Manager) logger() *slog.Logger {
	if m.log == nil {
		return discard
	}
	return m.log
}

func (m *Manager) killGrace() time.Duration {
	if m.grace == 0 {
		return defaultKillGrace
	}
	return m.grace
}

func (m *Manager) cpuThreshold() time.Duration {
	if m.cpuMin == 0 {
		return defaultCPUThreshold
	}
	return m.cpuMin
}

func (m *Manager) waitDelay() time.Duration {
	if m.delay == 0 {
		return defaultWaitDelay
	}
	return m.delay
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
// Forget. After Shutdown, Register closes s at once instead of adding it.
// Register panics if s is nil.
func (m *Manager) Register(s *Session) {
	if s == nil {
		panic("processes: Register of nil Session")
	}
	s.mu.Lock()
	if s.mgr != m {
		// Activity is kept as an offset from the Manager's epoch, on the
		// Manager's clock, from now on.
		last := s.lastLocked()
		s.mgr = m
		s.clk, s.real, s.epoch = m.clock(), m.clk == nil, m.epochTime()
		now := s.clk.Now()
		if s.createdAt.IsZero() {
			s.createdAt = now
		}
		if last.IsZero() {
			last = now
		}
		s.stamp(last)
	}
	s.mu.Unlock()
	if old, err := m.insert(s, false, true); err != nil {
		m.retire(s, ErrShutdown)
	} else if old != nil {
		m.retire(old, ErrReplaced)
	}
}

// insert puts s in the table. counted says its slot was reserved already.
// With replace, a session under the same ID is removed and returned;
// without, insert fails with ErrExists, wrapped. It fails with ErrClosed after
// Shutdown.
func (m *Manager) insert(s *Session, counted, replace bool) (old *Session, err error) {
	sh := m.shard(s.ID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	// Checked under the shard lock: Shutdown sets closed before it drains
	// the shards under their locks, so no session slips in behind it.
	if m.closed.Load() {
		return nil, ErrClosed
	}
	old = sh.sessions[s.ID]
	if old == s {
		return nil, nil
	}
	if old != nil && !replace {
		return nil, fmt.Errorf("%w: %q", ErrExists, s.ID)
	}
	if sh.sessions == nil {
		sh.sessions = make(map[string]*Session)
	}
	sh.sessions[s.ID] = s
	if !counted {
		m.count(s.WorkspaceID, 1)
	}
	if old != nil {
		m.count(old.WorkspaceID, -1)
	}
	return old, nil
}

// remove deletes s from the table if it is still there under its ID, and
// reports whether it was.
func (m *Manager) remove(s *Session) bool {
	sh := m.shard(s.ID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.sessions[s.ID] != s {
		return false
	}
	delete(sh.sessions, s.ID)
	m.count(s.WorkspaceID, -1)
	return true
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
// get ErrClosed, and a process still running behind it is terminated in the
// background (the graceful signal, SIGKILL after the kill grace) and reaped,
// with every descendant. Forgetting an unknown id does nothing.
func (m *Manager) Forget(id string) {
	if s, ok := m.Get(id); ok && m.remove(s) {
		m.retire(s, ErrForgotten)
	}
}

// Remove is Forget for one particular session: it removes and closes s if s
// is still the session registered under s.ID, and reports whether it was.
// Unlike Forget(s.ID), it never touches a newer session registered under
// the same ID.
func (m *Manager) Remove(s *Session) bool {
	if s == nil || !m.remove(s) {
		return false
	}
	m.retire(s, ErrForgotten)
	return true
}

// All returns the sessions registered now, shard by shard: each shard is
// read under its read lock and the sessions are yielded with no lock held,
// so the caller may Forget or Register as it goes (a session registered
// meanwhile may or may not be yielded). It is safe for concurrent use.
func (m *Manager) All() iter.Seq[*Session] {
	return func(yield func(*Session) bool) {
		var batch []*Session
		for i := range m.shards {
			sh := &m.shards[i]
			batch = batch[:0]
			sh.mu.RLock()
			for _, s := range sh.sessions {
				batch = append(batch, s)
			}
			sh.mu.RUnlock()
			for _, s := range batch {
				if !yield(s) {
					return
				}
			}
		}
	}
}

// Clock returns the clock the Manager and its sessions read: the one given
// with WithClock, or the real clock.
func (m *Manager) Clock() clock.Clock { return m.clock() }

// Len returns the number of sessions registered.
func (m *Manager) Len() int {
	m.countMu.Lock()
	defer m.countMu.Unlock()
	return m.total
}

// retire closes a session that left the table, for reason.
func (m *Manager) retire(s *Session, reason error) {
	m.logger().Debug("processes: session closed", "id", s.ID, "workspace", s.WorkspaceID, "reason", reason)
	if p := s.shut(reason); p != nil {
		m.terminate([]*process{p})
	}
}

// Sweep evicts every session idle at the Manager's clock's now: its
// LastActivity is more than its idle timeout ago. Evicted sessions are closed
// as by Forget.
func (m *Manager) Sweep() {
	m.sweepAt(m.clock().Now())
}

// sweepAt evicts the sessions idle at t and returns how many. Each shard is
// read under its read lock and written under its lock only to delete, so Get
// is never held off for the whole scan. The processes of all evicted
// sessions are terminated together: one scan of /proc serves them all.
func (m *Manager) sweepAt(t time.Time) int {
	def, now, cull := m.IdleTimeout, int64(t.Sub(m.epochTime())), m.cull
	// First the candidates, shard by shard under read locks.
	var idle [shardCount][]*Session
	var busy []*process // candidates whose CPU use may keep them
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.RLock()
		for _, s := range sh.sessions {
			if s.idleAt(now, def, cull) {
				idle[i] = append(idle[i], s)
				if s.activity.has(ActivityCPU) && s.proc != nil && !s.proc.finished.Load() {
					busy = append(busy, s.proc)
				}
			}
		}
		sh.mu.RUnlock()
	}
	// CPU used since the previous sweep counts as activity.
	if len(busy) > 0 {
		threshold := m.cpuThreshold()
		for p, u := range treeUsage(busy) {
			if time.Duration(int64(u.cpu)-p.lastCPU.Swap(int64(u.cpu))) >= threshold {
				p.s.mu.Lock()
				p.s.stamp(t)
				p.s.mu.Unlock()
			}
		}
	}
	var evicted []*Session
	for i := range m.shards {
		if len(idle[i]) == 0 {
			continue
		}
		sh := &m.shards[i]
		sh.mu.Lock()
		for _, s := range idle[i] {
			// Re-check: the session may have been replaced or become
			// active since the read.
			if sh.sessions[s.ID] == s && s.idleAt(now, def, cull) {
				delete(sh.sessions, s.ID)
				m.count(s.WorkspaceID, -1)
				evicted = append(evicted, s)
			}
		}
		sh.mu.Unlock()
	}
	var ps []*process
	for _, s := range evicted {
		m.logger().Info("processes: session evicted", "id", s.ID, "workspace", s.WorkspaceID, "idle", time.Duration(now-s.lastOff.Load()))
		if p := s.shut(ErrIdleTimeout); p != nil {
			ps = append(ps, p)
		}
	}
	if len(ps) > 0 {
		m.terminate(ps)
	}
	return len(evicted)
}

// Run starts sweeping in one background goroutine that calls Sweep every
// sweep interval, the first one interval after Run, until Stop: a session
// is evicted up to one interval after its idle timeout. The interval is
// that of [WithSweepInterval], or by default one minute, or a quarter of
// the Manager's IdleTimeout when that is shorter (at least 100 ms), read
// when Run is called. Calling Run while it runs, or after Shutdown, does
// nothing.
func (m *Manager) Run() {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	if m.sweeper != nil || m.closed.Load() {
		return
	}
	interval := m.sweepInterval
	if interval == 0 {
		interval = defaultSweepInterval
		if t := m.IdleTimeout / 4; t > 0 && t < interval {
			interval = max(t, minDefaultSweepInterval)
		}
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

// Shutdown stops sweeping, removes and closes every session (with
// [ErrShutdown]), and terminates every process: the graceful signal, then
// SIGKILL after the kill grace, or at once for every termination in
// progress when ctx ends. It waits until every process and every descendant
// it signalled is gone and reaped, and the Manager's goroutines are done
// with them. It returns nil then, or ctx.Err() as soon as ctx ends first,
// having sent SIGKILL to whatever is left; it always returns by the end of
// ctx. After Shutdown, Start returns ErrClosed and Register closes what it
// is given. Calling it again waits again, for instance after a first call
// whose ctx ended.
func (m *Manager) Shutdown(ctx context.Context) error {
	m.closed.Store(true)
	// Wait for the Starts in flight: each either registered its session,
	// which is drained below, or terminated its process itself.
	m.startMu.Lock()
	//lint:ignore SA2001 an empty critical section is the barrier
	m.startMu.Unlock()
	m.Stop()
	var all []*Session
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		for id, s := range sh.sessions {
			all = append(all, s)
			delete(sh.sessions, id)
			m.count(s.WorkspaceID, -1)
		}
		sh.mu.Unlock()
	}
	var ps []*process
	for _, s := range all {
		if p := s.shut(ErrShutdown); p != nil {
			ps = append(ps, p)
		}
	}
	m.terminate(ps)
	// Every process started is in live until it is gone, including those
	// of sessions forgotten before Shutdown and still terminating; no new
	// one can be added once closed is set and the Starts are drained.
	for _, p := range m.liveProcs() {
		select {
		case <-p.gone:
		case <-ctx.Done():
			m.killAll()
			return ctx.Err()
		}
	}
	m.waitForker()
	removed := make(chan struct{})
	go func() { m.removing.Wait(); close(removed) }()
	select {
	case <-removed:
	case <-ctx.Done():
		return ctx.Err()
	}
	m.closeCgroup()
	return nil
}
