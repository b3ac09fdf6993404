package processes

import (
	"log/slog"
	"time"

	"github.com/benbjohnson/clock"
)

// Option configures a Manager in [NewManager]. A nil Option is ignored.
type Option func(*Manager)

// WithClock makes the Manager and its sessions read time from c: a
// clock.NewMock() in tests. The default is the real clock; a nil c keeps it.
func WithClock(c clock.Clock) Option {
	return func(m *Manager) {
		if c != nil {
			m.clk = c
		}
	}
}

// WithSweepInterval sets how often [Manager.Run] sweeps idle sessions. The
// default is one minute, or a quarter of the Manager's idle timeout when
// that is shorter (at least 100 ms); a session whose own idle timeout is
// much shorter than the Manager's wants a shorter interval. NewManager
// panics if d is not positive.
func WithSweepInterval(d time.Duration) Option {
	return func(m *Manager) {
		if d <= 0 {
			panic("processes: non-positive sweep interval")
		}
		m.sweepInterval = d
	}
}

// WithLogger makes the Manager log starts, exits and kills at Debug and
// evictions and escalations to SIGKILL at Info. The default discards; a nil l
// keeps the default.
func WithLogger(l *slog.Logger) Option {
	return func(m *Manager) {
		if l != nil {
			m.log = l
		}
	}
}

// WithKillGrace sets how long Forget, eviction, Shutdown and Terminate wait
// after the graceful signal (SIGTERM, or SIGHUP for a terminal) before they
// send SIGKILL. The default is five seconds. NewManager panics if d is not
// positive.
func WithKillGrace(d time.Duration) Option {
	return func(m *Manager) {
		if d <= 0 {
			panic("processes: non-positive kill grace")
		}
		m.grace = d
	}
}

// WithWaitDelay sets how long, once a process exited, its session keeps
// reading output from descendants that still hold its stdout or stderr open
// before it closes them and records the exit, as exec.Cmd.WaitDelay does. The
// default is two seconds. NewManager panics if d is not positive.
func WithWaitDelay(d time.Duration) Option {
	return func(m *Manager) {
		if d <= 0 {
			panic("processes: non-positive wait delay")
		}
		m.delay = d
	}
}

// WithMaxSessions makes Start fail with ErrTooManySessions when the Manager
// holds n sessions, after it reclaimed the slot of the session that exited
// first, if any: running sessions are never killed to make room. n <= 0
// means no limit, the default.
func WithMaxSessions(n int) Option {
	return func(m *Manager) { m.maxSessions = n }
}

// WithMaxSessionsPerWorkspace is WithMaxSessions for the sessions of one
// WorkspaceID each; an exited session of the same workspace is reclaimed
// first.
func WithMaxSessionsPerWorkspace(n int) Option {
	return func(m *Manager) { m.maxPerWS = n }
}

// WithCullConnected says whether Sweep evicts an idle session that has a
// connected client: an open [Session.Hold], such as a long poll in
// [Session.WaitOutput], an event stream or an attachment. The default,
// false, keeps such a session however long it is silent, as Jupyter's
// MappingKernelManager.cull_connected does by default; true evicts it by
// its LastActivity alone.
func WithCullConnected(cull bool) Option {
	return func(m *Manager) { m.cull = cull }
}

// WithCPUThreshold sets how much CPU time a session whose Activity has
// ActivityCPU must use between two sweeps for the later sweep to count it
// as active: a compile or a download that prints nothing stays, a program
// blocked on input does not. The default is 10 ms (1% of one CPU over the
// default one-minute sweep interval would be 600 ms: the default is meant
// to catch any real work). NewManager panics if d is not positive.
func WithCPUThreshold(d time.Duration) Option {
	return func(m *Manager) {
		if d <= 0 {
			panic("processes: non-positive CPU threshold")
		}
		m.cpuMin = d
	}
}

// WithCgroup makes the Manager contain each session's process tree in a
// cgroup v2 of its own, under a cgroup of the Manager's own that it creates
// in parent, a cgroup2 directory it may create groups in (a delegated
// subtree; find the mount in /proc/self/mountinfo: /sys/fs/cgroup on
// systemd hosts, /sys/fs/cgroup/unified on hybrid ones). Without this
// option the Manager tries its own process's cgroup. Where neither works,
// it falls back to the process group and /proc walk and says so at Info
// and in [Manager.Containment]. See [Containment].
func WithCgroup(parent string) Option {
	return func(m *Manager) { m.cgParent, m.cgOff = parent, false }
}

// WithoutCgroup makes the Manager use the process-group and /proc-walk
// fallback even where cgroups are available.
func WithoutCgroup() Option {
	return func(m *Manager) { m.cgParent, m.cgOff = "", true }
}
