package processes_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
)

func newMock(t *testing.T, idle time.Duration, opts ...processes.Option) (*processes.Manager, *clock.Mock) {
	t.Helper()
	c := clock.NewMock()
	m := processes.NewManager(idle, append([]processes.Option{processes.WithClock(c)}, opts...)...)
	t.Cleanup(m.Stop)
	return m, c
}

func TestRegisterStampsAndUsesManagerClock(t *testing.T) {
	m, c := newMock(t, time.Minute)
	c.Add(time.Hour)
	fresh := &processes.Session{ID: "fresh"}
	m.Register(fresh)
	assert.Equal(t, c.Now(), fresh.LastActivity(), "zero LastActivity not stamped with the manager's clock")

	used := &processes.Session{ID: "used"}
	used.Append("stdout", []byte("x")) // stamped with the real clock
	stamp := used.LastActivity()
	m.Register(used)
	// The same instant; its monotonic reading stays with the real clock.
	assert.True(t, stamp.Equal(used.LastActivity()), "a non-zero LastActivity was overwritten: got %v, want %v", used.LastActivity(), stamp)

	c.Add(time.Second)
	used.Append("stdout", []byte("y"))
	assert.Equal(t, c.Now(), used.LastActivity(), "after Register, Append does not read the manager's clock")
}

func TestRegisterReplacesAndClosesOld(t *testing.T) {
	m, _ := newMock(t, 0)
	old, repl := &processes.Session{ID: "id"}, &processes.Session{ID: "id"}
	m.Register(old)
	wait := waitErr(t.Context(), old, 0)
	m.Register(repl)
	got, ok := m.Get("id")
	require.True(t, ok)
	assert.Same(t, repl, got)
	assert.ErrorIs(t, proctest.Recv(t, wait), processes.ErrClosed)
	assert.True(t, old.Closed())
	assert.False(t, repl.Closed())

	m.Register(repl) // the same session again: stays open
	assert.False(t, repl.Closed(), "re-registering a session closed it")
	assert.Equal(t, 1, m.Len())
}

func TestRegisterNilPanics(t *testing.T) {
	m := processes.NewManager(0)
	assert.PanicsWithValue(t, "processes: Register of nil Session", func() { m.Register(nil) })
}

func TestIdleBoundary(t *testing.T) {
	tests := []struct {
		name      string
		idle      time.Duration
		advance   time.Duration
		wantEvict bool
	}{
		{"exactly the idle timeout is kept", time.Minute, time.Minute, false},
		{"one nanosecond later is evicted", time.Minute, time.Minute + time.Nanosecond, true},
		{"zero timeout never evicts", 0, 1000 * time.Hour, false},
		{"negative timeout never evicts", -time.Second, 1000 * time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, c := newMock(t, tt.idle)
			s := &processes.Session{ID: "s"}
			m.Register(s)
			c.Add(tt.advance)
			m.Sweep()
			_, ok := m.Get("s")
			assert.Equal(t, tt.wantEvict, !ok, "after %v idle with timeout %v: present=%v", tt.advance, tt.idle, ok)
			assert.Equal(t, tt.wantEvict, s.Closed(), "closed")
		})
	}
}

func TestActivityPostponesEviction(t *testing.T) {
	m, c := newMock(t, time.Minute)
	s := &processes.Session{ID: "s"}
	m.Register(s)
	c.Add(50 * time.Second)
	s.Append("stdout", []byte("still here"))
	c.Add(50 * time.Second)
	m.Sweep()
	_, ok := m.Get("s")
	assert.True(t, ok, "session with output 50s ago evicted with a 1m timeout")
	c.Add(10*time.Second + time.Nanosecond)
	m.Sweep()
	_, ok = m.Get("s")
	assert.False(t, ok)
}

func TestUnknownIDs(t *testing.T) {
	m := processes.NewManager(time.Minute)
	_, ok := m.Get("nope")
	assert.False(t, ok)
	m.Forget("nope") // no-op, no panic
	m.Sweep()
	assert.Zero(t, m.Len())
}

func TestZeroManagerWorks(t *testing.T) {
	var m processes.Manager
	s := &processes.Session{ID: "z"}
	m.Register(s)
	got, ok := m.Get("z")
	require.True(t, ok)
	assert.Same(t, s, got)
	m.Sweep() // IdleTimeout 0: nothing evicted
	assert.Equal(t, 1, m.Len())
	m.Run()
	m.Stop()
	m.Forget("z")
	assert.True(t, s.Closed())
}

func TestRunSweepsOnTheClock(t *testing.T) {
	m, c := newMock(t, time.Minute, processes.WithSweepInterval(10*time.Second))
	s := &processes.Session{ID: "s"}
	m.Register(s)
	m.Run()
	c.Add(time.Minute) // sweeps at 10s..60s: idle exactly 60s is kept
	_, ok := m.Get("s")
	assert.True(t, ok)

	c.Add(10 * time.Second) // the sweep at 70s evicts
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	assert.ErrorIs(t, s.WaitOutput(ctx, 0), processes.ErrClosed, "the background sweep did not evict")
}

// Without WithSweepInterval, a Manager whose idle timeout is shorter than
// four minutes sweeps every quarter of it, so that its sessions are
// evicted within 1.25 idle timeouts, not a minute late.
func TestRunSweepsShortIdleTimeoutsInTime(t *testing.T) {
	m, c := newMock(t, 4*time.Second)
	s := &processes.Session{ID: "s"}
	m.Register(s)
	m.Run()
	c.Add(4 * time.Second) // idle exactly 4s is kept
	_, ok := m.Get("s")
	assert.True(t, ok)
	c.Add(time.Second) // the sweep at 5s evicts
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	assert.ErrorIs(t, s.WaitOutput(ctx, 0), processes.ErrClosed, "not evicted one sweep past its idle timeout")
}

func TestRunStopLifecycle(t *testing.T) {
	m, c := newMock(t, time.Minute, processes.WithSweepInterval(time.Second))
	m.Stop() // without Run: no-op

	before := runtime.NumGoroutine()
	m.Run()
	m.Run()
	assert.Equal(t, before+1, runtime.NumGoroutine(), "Run twice must start one goroutine")
	m.Stop()
	m.Stop()

	// No sweep after Stop.
	s := &processes.Session{ID: "s"}
	m.Register(s)
	c.Add(2 * time.Minute)
	_, ok := m.Get("s")
	assert.True(t, ok, "swept after Stop")

	// Run after Stop starts again.
	m.Run()
	c.Add(time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	assert.ErrorIs(t, s.WaitOutput(ctx, 0), processes.ErrClosed, "Run after Stop did not sweep")
}

func TestOptions(t *testing.T) {
	assert.Panics(t, func() { processes.NewManager(0, processes.WithSweepInterval(0)) })
	assert.Panics(t, func() { processes.NewManager(0, processes.WithSweepInterval(-time.Second)) })
	m := processes.NewManager(time.Minute, nil, processes.WithClock(nil), processes.WithLogger(nil))
	m.Register(&processes.Session{ID: "a"})
	m.Sweep()
	assert.Equal(t, 1, m.Len(), "a fresh session on the real clock was evicted")
}

func TestLoggerReportsEviction(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	h := slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug})
	m, c := newMock(t, time.Minute, processes.WithLogger(slog.New(h)))
	m.Register(&processes.Session{ID: "quiet", WorkspaceID: "ws"})
	c.Add(2 * time.Minute)
	m.Sweep()
	mu.Lock()
	defer mu.Unlock()
	assert.Contains(t, buf.String(), "session evicted")
	assert.Contains(t, buf.String(), "id=quiet")
	assert.Contains(t, buf.String(), "workspace=ws")
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestSweepEvictsExactlyTheIdle(t *testing.T) {
	m, c := newMock(t, time.Minute)
	const n = 1000
	for i := range n {
		m.Register(&processes.Session{ID: fmt.Sprint(i)})
	}
	c.Add(30 * time.Second)
	for i := 0; i < n; i += 2 {
		s, _ := m.Get(fmt.Sprint(i))
		s.Append("stdout", []byte("x"))
	}
	c.Add(31 * time.Second)
	m.Sweep()
	assert.Equal(t, n/2, m.Len())
	for i := range n {
		_, ok := m.Get(fmt.Sprint(i))
		assert.Equal(t, i%2 == 0, ok, "session %d", i)
	}
}
