//go:build linux

package processes_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/ptyterm"
)

// The tests of this file each hold one class of fault found by trying the
// library as its users and attackers would.

// TestCallerCommandIsFinishedAsOsExecExpects reads the caller's
// cmd.Process.Pid while the child exits, which is a data race under -race
// if the library writes to the caller's struct, and checks that the command
// is finished the way os/exec finishes it: Wait called, ProcessState set,
// the Pid untouched.
func TestCallerCommandIsFinishedAsOsExecExpects(t *testing.T) {
	m := newReal(t)
	for range 5 {
		cmd := exec.Command("sh", "-c", "exit 3")
		s, err := m.Start(cmd, processes.StartOptions{})
		require.NoError(t, err)
		pid := s.Pid()
		for !isDone(s.Done()) {
			require.Equal(t, pid, cmd.Process.Pid, "the caller's Process.Pid changed")
			runtime.Gosched()
		}
		require.NotNil(t, cmd.ProcessState, "ProcessState is not set once Done is closed")
		assert.Equal(t, 3, cmd.ProcessState.ExitCode())
		assert.Equal(t, pid, cmd.Process.Pid, "Process.Pid after the exit")
		st, ok := s.ExitStatus()
		require.True(t, ok)
		assert.Equal(t, processes.ExitStatus{Code: 3, At: st.At}, st)
	}
}

// TestCommandContextLeavesNoGoroutine starts sessions made with
// exec.CommandContext: os/exec retires its context watch only in Cmd.Wait,
// so every one of them must be waited for, whether its context is canceled
// (which os/exec's Cancel honours: SIGKILL) or it exits by itself.
func TestCommandContextLeavesNoGoroutine(t *testing.T) {
	m := newReal(t)
	before := goroutines(t)
	ctx, cancel := context.WithCancel(context.Background())
	var killed, exited []*processes.Session
	for i := range 20 {
		script := "exec sleep 1000"
		if i%2 == 1 {
			script = "exit 0"
		}
		s, err := m.Start(exec.CommandContext(ctx, "sh", "-c", script), processes.StartOptions{})
		require.NoError(t, err)
		if i%2 == 1 {
			exited = append(exited, s)
		} else {
			killed = append(killed, s)
		}
	}
	for _, s := range exited {
		assert.Equal(t, 0, waitDone(t, s))
	}
	cancel()
	for _, s := range killed {
		assert.Equal(t, 128+int(syscall.SIGKILL), waitDone(t, s), "os/exec's Cancel kills the child")
	}
	for _, s := range append(killed, exited...) {
		m.Forget(s.ID)
		require.NoError(t, s.Terminate(t.Context()))
	}
	// Eventually's condition runs in a goroutine of its own.
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= before },
		10*time.Second, 5*time.Millisecond, "goroutines: %d before, %d after", before, runtime.NumGoroutine())
}

// TestCommandCancelAndWaitDelayAreHonoured: a command's own Cancel is what
// its context's end does, as os/exec documents.
func TestCommandCancelAndWaitDelayAreHonoured(t *testing.T) {
	m := newReal(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=exit-on-term")
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = time.Minute
	s, err := m.Start(cmd, processes.StartOptions{})
	require.NoError(t, err)
	waitFor(t, s, "ready")
	cancel()
	assert.Equal(t, 7, waitDone(t, s), "the command's Cancel sent SIGTERM and its handler ran")
}

// TestChildrenInheritOnlyStdio starts pipe sessions and terminals from many
// goroutines at once: every child must see exactly descriptors 0, 1 and 2,
// whatever the others were creating while it forked (os/exec's own guard).
func TestChildrenInheritOnlyStdio(t *testing.T) {
	// What any child of this test binary inherits from whoever started the
	// binary, without close-on-exec: a child started by os/exec alone.
	ref := helperCmd(t, "fds")
	out, err := ref.Output()
	require.NoError(t, err)
	want := strings.TrimSpace(string(out))
	m := newReal(t)
	const workers = 8
	const rounds = 6
	var wg sync.WaitGroup
	errs := make(chan string, workers*rounds*2)
	for w := range workers {
		wg.Go(func() {
			for range rounds {
				var s *processes.Session
				if w%2 == 0 {
					term, err := ptyterm.Start(m, helperCmd(t, "fds"), ptyterm.Options{})
					if err != nil {
						errs <- err.Error()
						return
					}
					s = term.Session()
				} else {
					var err error
					s, err = m.Start(helperCmd(t, "fds"), processes.StartOptions{})
					if err != nil {
						errs <- err.Error()
						return
					}
				}
				<-s.Done()
				out := streams(s)["stdout"]
				if got := strings.TrimSpace(out); got != want {
					errs <- "got " + got + ", want " + want
				}
				m.Forget(s.ID)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("a child inherited descriptors beyond stdio: %s", e)
	}
}

// TestShutdownReturnsByTheEndOfItsContext: a child that ignores SIGTERM,
// an hour of grace, and a Shutdown whose context ends: it returns the
// context's error then, having sent SIGKILL, and a second Shutdown finds
// everything gone.
func TestShutdownReturnsByTheEndOfItsContext(t *testing.T) {
	m := processes.NewManager(0, processes.WithKillGrace(time.Hour), processes.WithWaitDelay(100*time.Millisecond))
	s, err := m.Start(helperCmd(t, "ignore-term"), processes.StartOptions{})
	require.NoError(t, err)
	waitFor(t, s, "ready")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Shutdown(ctx) }()
	waitFor(t, s, "term ignored")
	cancel()
	assert.ErrorIs(t, proctest.Recv(t, done), context.Canceled)
	assert.Equal(t, 128+int(syscall.SIGKILL), waitDone(t, s))
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	require.NoError(t, m.Shutdown(ctx2))
	proctest.RequireGone(t, s.Pid())
}

// TestShutdownReturnsWhileOutputIsHeldOpen: in the fallback, a descendant
// that escaped the tree (environment cleared, setsid, orphaned, deaf to
// SIGTERM) holds the output open, so the session cannot finish before the
// wait delay, an hour on a mock clock. Shutdown still returns by the end of
// its context.
func TestShutdownReturnsWhileOutputIsHeldOpen(t *testing.T) {
	c := clock.NewMock()
	m := processes.NewManager(0, processes.WithClock(c), processes.WithKillGrace(time.Second), processes.WithWaitDelay(time.Hour),
		processes.WithoutCgroup())
	s, err := m.Start(exec.Command("sh", "-c",
		`env -i setsid sh -c 'trap "" TERM HUP; exec sleep 1000' & echo $!`), processes.StartOptions{})
	require.NoError(t, err)
	waitFor(t, s, "\n")
	pids := pidsIn(t, streams(s)["stdout"])
	require.Len(t, pids, 1)
	holder := pids[0]
	t.Cleanup(func() { _ = syscall.Kill(holder, syscall.SIGKILL) })
	require.Eventually(t, func() bool { return !proctest.Alive(s.Pid()) }, 10*time.Second, time.Millisecond)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Shutdown(ctx) }()
	cancel()
	assert.ErrorIs(t, proctest.Recv(t, done), context.Canceled)

	require.NoError(t, syscall.Kill(holder, syscall.SIGKILL))
	proctest.Recv(t, s.Done())
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	require.NoError(t, m.Shutdown(ctx2))
}

// TestForgetRacesShutdown forgets sessions while Shutdown runs: Shutdown
// waits for the terminations Forget began too, and nothing is left.
func TestForgetRacesShutdown(t *testing.T) {
	for range 5 {
		m := processes.NewManager(0, processes.WithKillGrace(time.Second), processes.WithWaitDelay(100*time.Millisecond))
		var ss []*processes.Session
		for range 10 {
			s, err := m.Start(exec.Command("sleep", "1000"), processes.StartOptions{})
			require.NoError(t, err)
			ss = append(ss, s)
		}
		var wg sync.WaitGroup
		for _, s := range ss {
			wg.Go(func() { m.Forget(s.ID) })
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		require.NoError(t, m.Shutdown(ctx))
		cancel()
		wg.Wait()
		for _, s := range ss {
			require.True(t, isDone(s.Done()), "Shutdown returned before session %s was done", s.ID)
			assert.False(t, proctest.Alive(s.Pid()), "pid %d is alive after Shutdown", s.Pid())
		}
	}
}

// TestTerminateEscalatesOnlyItsOwnSession: one Sweep evicts two sessions
// that ignore SIGTERM; terminating one with a context that ends kills that
// one alone, and says that its context ended.
func TestTerminateEscalatesOnlyItsOwnSession(t *testing.T) {
	c := clock.NewMock()
	m := processes.NewManager(time.Minute, processes.WithClock(c), processes.WithKillGrace(time.Hour))
	shutdown(t, m)
	a, err := m.Start(helperCmd(t, "ignore-term"), processes.StartOptions{})
	require.NoError(t, err)
	b, err := m.Start(helperCmd(t, "ignore-term"), processes.StartOptions{})
	require.NoError(t, err)
	waitFor(t, a, "ready")
	waitFor(t, b, "ready")
	c.Add(time.Minute + time.Second)
	m.Sweep()
	waitFor(t, a, "term ignored")
	waitFor(t, b, "term ignored")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, a.Terminate(ctx), context.Canceled)
	assert.Equal(t, 128+int(syscall.SIGKILL), waitDone(t, a))
	assert.False(t, isDone(b.Done()), "the other session of the sweep was killed too")
	assert.True(t, proctest.Alive(b.Pid()))
	assert.ErrorIs(t, b.Terminate(ctx), context.Canceled)
	assert.Equal(t, 128+int(syscall.SIGKILL), waitDone(t, b))
}

// TestStoppedProcessGetsItsGracefulStop: a stopped child (SIGSTOP, or ^Z
// on a terminal) is continued after the graceful signal, so its handler
// runs and it exits as it chooses instead of dying of SIGKILL after the
// grace.
func TestStoppedProcessGetsItsGracefulStop(t *testing.T) {
	tests := []struct {
		name string
		stop syscall.Signal
		tty  bool
		end  func(t *testing.T, m *processes.Manager, s *processes.Session, term *ptyterm.Terminal)
	}{
		{"Terminate after SIGSTOP", syscall.SIGSTOP, false, func(t *testing.T, m *processes.Manager, s *processes.Session, _ *ptyterm.Terminal) {
			require.NoError(t, s.Terminate(t.Context()))
		}},
		{"Forget after SIGTSTP", syscall.SIGTSTP, false, func(t *testing.T, m *processes.Manager, s *processes.Session, _ *ptyterm.Terminal) {
			m.Forget(s.ID)
		}},
		{"terminal Close after SIGSTOP", syscall.SIGSTOP, true, func(t *testing.T, m *processes.Manager, s *processes.Session, term *ptyterm.Terminal) {
			require.NoError(t, term.Close())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newReal(t, processes.WithKillGrace(time.Hour))
			var s *processes.Session
			var term *ptyterm.Terminal
			if tt.tty {
				var err error
				term, err = ptyterm.Start(m, helperCmd(t, "exit-on-term"), ptyterm.Options{})
				require.NoError(t, err)
				s = term.Session()
			} else {
				s = startCmd(t, m, helperCmd(t, "exit-on-term"))
			}
			waitFor(t, s, "ready")
			require.NoError(t, s.Signal(tt.stop))
			require.Eventually(t, func() bool {
				p, ok := proctest.Stat(s.Pid())
				return ok && p.State == "T"
			}, 10*time.Second, time.Millisecond, "the child never stopped")
			tt.end(t, m, s, term)
			assert.Equal(t, 7, waitDone(t, s), "exit code: the handler did not run")
			assert.Contains(t, streams(s)["stdout"], "handled")
		})
	}
}

func startCmd(t *testing.T, m *processes.Manager, cmd *exec.Cmd) *processes.Session {
	t.Helper()
	s, err := m.Start(cmd, processes.StartOptions{})
	require.NoError(t, err)
	return s
}

// steppingClock reads time as the real clock would with a wall clock that
// was stepped: its readings advance by elapsed on the monotonic clock, and
// their wall part is moved by step alone. Timers are a mock's.
type steppingClock struct {
	*clock.Mock
	base    time.Time // a real reading, with a monotonic part
	mu      sync.Mutex
	elapsed time.Duration
	step    time.Duration
}

func (c *steppingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return wallStep(c.base.Add(c.elapsed), c.step)
}

func (c *steppingClock) set(elapsed, step time.Duration) {
	c.mu.Lock()
	c.elapsed, c.step = elapsed, step
	c.mu.Unlock()
}

// TestWallClockStepsDoNotDecideIdleness steps the wall clock an hour
// forward and back: idleness follows the monotonic clock, as time.Time.Sub
// measures it, not the wall clock's readings.
func TestWallClockStepsDoNotDecideIdleness(t *testing.T) {
	base := time.Now()
	require.NotEqual(t, base.String(), base.Round(0).String(), "the real clock gives no monotonic reading here")
	stepped := wallStep(base, time.Hour)
	require.Equal(t, base.Unix()+3600, stepped.Unix(), "wallStep moved the wall clock")
	require.Zero(t, stepped.Sub(base), "wallStep moved the monotonic clock")

	c := &steppingClock{Mock: clock.NewMock(), base: base}
	m := processes.NewManager(10*time.Second, processes.WithClock(c))
	s := &processes.Session{ID: "a"}
	m.Register(s)

	c.set(100*time.Millisecond, time.Hour)
	m.Sweep()
	_, ok := m.Get("a")
	require.True(t, ok, "a step of +1h evicted a session active 0.1 s ago")
	assert.False(t, s.ActivityStatus(0).IsIdle, "ActivityStatus says idle after a step of +1h")

	c.set(10*time.Second+time.Millisecond, -time.Hour)
	m.Sweep()
	_, ok = m.Get("a")
	assert.False(t, ok, "a step of -1h kept a session idle past its timeout")
	assert.ErrorIs(t, s.CloseReason(), processes.ErrIdleTimeout)
}

// TestExitGivesOneMoreIdleWindowWhateverThePolicy: a session counting only
// input exits at 9.9 s of a 10 s window; it stays one more window for final
// polls.
func TestExitGivesOneMoreIdleWindowWhateverThePolicy(t *testing.T) {
	for _, act := range []processes.Activity{processes.ActivityInput, processes.ActivityPoll, processes.ActivityOutput} {
		c := clock.NewMock()
		m := processes.NewManager(10*time.Second, processes.WithClock(c))
		shutdown(t, m)
		flag := filepath.Join(t.TempDir(), "go")
		s, err := m.Start(exec.Command("sh", "-c", `while [ ! -e "$1" ]; do sleep 0.005; done`, "sh", flag),
			processes.StartOptions{Activity: act})
		require.NoError(t, err)
		c.Add(9900 * time.Millisecond)
		require.NoError(t, os.WriteFile(flag, nil, 0o600))
		proctest.Recv(t, s.Done())
		c.Add(200 * time.Millisecond)
		m.Sweep()
		_, ok := m.Get(s.ID)
		require.True(t, ok, "activity %v: evicted 0.2 s after its exit", act)
		c.Add(10 * time.Second)
		m.Sweep()
		_, ok = m.Get(s.ID)
		assert.False(t, ok, "activity %v: kept past the window after its exit", act)
	}
}

// TestTerminateWaitsForWhatItKilled: a setsid'd grandchild that ignores
// SIGTERM and SIGHUP is gone by the time Terminate returns, with no wait
// afterwards.
func TestTerminateWaitsForWhatItKilled(t *testing.T) {
	m := newReal(t, processes.WithKillGrace(100*time.Millisecond))
	s := start(t, m, processes.StartOptions{}, "sh", "-c",
		`setsid sh -c 'trap "" TERM HUP; exec sleep 1000' >/dev/null 2>&1 & echo $!; exec sleep 1000`)
	waitFor(t, s, "\n")
	pids := pidsIn(t, streams(s)["stdout"])
	require.Len(t, pids, 1)
	require.Eventually(t, func() bool {
		p, ok := proctest.Stat(pids[0])
		return ok && p.Pgrp == pids[0] // it has become a session and group leader
	}, 10*time.Second, time.Millisecond)
	require.NoError(t, s.Terminate(t.Context()))
	assert.False(t, proctest.Alive(pids[0]), "the grandchild %d is alive when Terminate returns", pids[0])
	assert.False(t, proctest.Alive(s.Pid()), "the leader is alive when Terminate returns")
}

// TestConnectedClientKeepsSessionFromIdling: a long poll (or any Hold) is a
// connected client; while it is open the session is not evicted, unless the
// Manager culls connected sessions; once it ends, a full idle window
// starts.
func TestConnectedClientKeepsSessionFromIdling(t *testing.T) {
	for _, cull := range []bool{false, true} {
		c := clock.NewMock()
		m := processes.NewManager(3*time.Second, processes.WithClock(c), processes.WithCullConnected(cull))
		s := &processes.Session{ID: "a"}
		m.Register(s)
		ctx, cancel := context.WithCancel(context.Background())
		waited := waitErr(ctx, s, 0)
		release := s.Hold() // the long poll holds too; this hold makes the moment sure
		c.Add(10 * time.Second)
		m.Sweep()
		_, ok := m.Get("a")
		require.Equal(t, !cull, ok, "cull %v: a session with a connected client: present %v", cull, ok)
		cancel()
		if cull {
			assert.ErrorIs(t, proctest.Recv(t, waited), processes.ErrIdleTimeout)
		} else {
			assert.ErrorIs(t, proctest.Recv(t, waited), context.Canceled)
		}
		release()
		release() // idempotent
		if cull {
			continue
		}
		c.Add(3 * time.Second)
		m.Sweep()
		_, ok = m.Get("a")
		require.True(t, ok, "evicted at once when the client left")
		c.Add(time.Millisecond)
		m.Sweep()
		_, ok = m.Get("a")
		assert.False(t, ok, "kept past an idle window after the client left")
	}
}

// TestInvocationIDTellsIncarnationsApart: a session registered under an ID
// that an earlier one had carries another InvocationID in every poll.
func TestInvocationIDTellsIncarnationsApart(t *testing.T) {
	m := processes.NewManager(0)
	a := &processes.Session{ID: "build"}
	m.Register(a)
	id := a.InvocationID()
	require.NotEmpty(t, id)
	assert.Equal(t, id, a.Output(0).InvocationID)
	assert.Equal(t, id, a.InvocationID(), "stable")
	b := &processes.Session{ID: "build"}
	m.Register(b)
	assert.NotEqual(t, id, b.Output(0).InvocationID)
	assert.ErrorIs(t, a.CloseReason(), processes.ErrReplaced)
}

// TestAllAndCreatedAt: All yields every registered session, and lets its
// caller forget them as it goes; CreatedAt is the registration time.
func TestAllAndCreatedAt(t *testing.T) {
	c := clock.NewMock()
	m := processes.NewManager(0, processes.WithClock(c))
	want := map[string]bool{}
	for i := range 100 {
		id := strconv.Itoa(i)
		want[id] = true
		m.Register(&processes.Session{ID: id})
	}
	c.Add(time.Hour)
	got := map[string]bool{}
	for s := range m.All() {
		got[s.ID] = true
		assert.Equal(t, time.Unix(0, 0).UTC(), s.CreatedAt().UTC())
		m.Forget(s.ID)
	}
	assert.Equal(t, want, got)
	assert.Zero(t, m.Len())
	assert.True(t, (&processes.Session{}).CreatedAt().IsZero())
}

// TestLastSeq: the newest Seq, whatever was dropped.
func TestLastSeq(t *testing.T) {
	s := &processes.Session{ID: "a"}
	assert.Zero(t, s.LastSeq())
	s.Append("stdout", []byte("x"))
	s.Append("stderr", make([]byte, processes.MaxBufferBytes))
	assert.Equal(t, 2, s.LastSeq())
	assert.Equal(t, 2, s.Output(0).Chunks[0].Seq, "the first chunk was dropped")
}

// TestCloseReasons: every way a session ends is told by CloseReason and by
// WaitOutput, and each reason is an ErrClosed.
func TestCloseReasons(t *testing.T) {
	tests := []struct {
		name string
		end  func(m *processes.Manager, c *clock.Mock, s *processes.Session)
		want error
	}{
		{"idle", func(m *processes.Manager, c *clock.Mock, s *processes.Session) { c.Add(time.Hour); m.Sweep() }, processes.ErrIdleTimeout},
		{"forgotten", func(m *processes.Manager, _ *clock.Mock, s *processes.Session) { m.Forget(s.ID) }, processes.ErrForgotten},
		{"removed", func(m *processes.Manager, _ *clock.Mock, s *processes.Session) { m.Remove(s) }, processes.ErrForgotten},
		{"replaced", func(m *processes.Manager, _ *clock.Mock, s *processes.Session) {
			m.Register(&processes.Session{ID: s.ID})
		}, processes.ErrReplaced},
		{"shut down", func(m *processes.Manager, _ *clock.Mock, s *processes.Session) {
			_ = m.Shutdown(context.Background())
		}, processes.ErrShutdown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clock.NewMock()
			// Culling connected sessions, for the waiter below.
			m := processes.NewManager(time.Minute, processes.WithClock(c), processes.WithCullConnected(true))
			s := &processes.Session{ID: "a"}
			m.Register(s)
			require.NoError(t, s.CloseReason())
			waited := waitErr(context.Background(), s, 0)
			tt.end(m, c, s)
			err := proctest.Recv(t, waited)
			assert.ErrorIs(t, err, tt.want)
			assert.ErrorIs(t, err, processes.ErrClosed)
			assert.Equal(t, tt.want, s.CloseReason())
		})
	}
	t.Run("reclaimed", func(t *testing.T) {
		m := newReal(t, processes.WithMaxSessions(1))
		old := start(t, m, processes.StartOptions{}, "true")
		waitDone(t, old)
		start(t, m, processes.StartOptions{}, "true")
		assert.ErrorIs(t, old.CloseReason(), processes.ErrReclaimed)
	})
}

// TestExitStatusIsStructured: the exit as os.ProcessState gives it.
func TestExitStatusIsStructured(t *testing.T) {
	m := newReal(t)
	tests := []struct {
		script string
		want   processes.ExitStatus
		str    string
	}{
		{"exit 0", processes.ExitStatus{}, "exit status 0"},
		{"exit 42", processes.ExitStatus{Code: 42}, "exit status 42"},
		{"kill -KILL $$", processes.ExitStatus{Code: -1, Signal: syscall.SIGKILL}, "signal: killed"},
	}
	for _, tt := range tests {
		s := start(t, m, processes.StartOptions{}, "sh", "-c", tt.script)
		waitDone(t, s)
		st, ok := s.ExitStatus()
		require.True(t, ok)
		tt.want.At = st.At
		assert.Equal(t, tt.want, st, tt.script)
		assert.Equal(t, tt.str, st.String())
	}
	running := start(t, m, processes.StartOptions{}, "sleep", "1000")
	_, ok := running.ExitStatus()
	assert.False(t, ok, "an exit status while running")
}

// TestWriteContextEndsWithItsContext: a child that never reads blocks a
// write only until its context ends; writers do not interleave.
func TestWriteContextEndsWithItsContext(t *testing.T) {
	m := newReal(t)
	s := start(t, m, processes.StartOptions{}, "sleep", "1000")
	big := make([]byte, 1<<20) // more than a pipe holds
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	n, err := s.WriteContext(ctx, big)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, n, len(big))

	// A second writer waiting behind a blocked one gives up with its
	// context, and the blocked one ends when stdin is closed.
	blocked := make(chan error, 1)
	go func() { _, err := s.Write(big); blocked <- err }()
	ctx2, cancel2 := context.WithCancel(context.Background())
	second := make(chan error, 1)
	go func() { _, err := s.WriteContext(ctx2, []byte("x")); second <- err }()
	cancel2()
	assert.ErrorIs(t, proctest.Recv(t, second), context.Canceled)
	require.NoError(t, s.CloseStdin())
	assert.ErrorIs(t, proctest.Recv(t, blocked), processes.ErrStdinClosed)
}

// TestNeverIdle: one meaning for an idle timeout across the package: zero
// inherits, negative never idles.
func TestNeverIdle(t *testing.T) {
	c := clock.NewMock()
	m := processes.NewManager(time.Second, processes.WithClock(c))
	shutdown(t, m)
	never := start(t, m, processes.StartOptions{IdleTimeout: processes.NeverIdle}, "sleep", "1000")
	inherit := start(t, m, processes.StartOptions{}, "sleep", "1000")
	c.Add(time.Hour)
	m.Sweep()
	_, ok := m.Get(never.ID)
	assert.True(t, ok, "NeverIdle was evicted")
	_, ok = m.Get(inherit.ID)
	assert.False(t, ok, "a zero IdleTimeout did not inherit the Manager's")
	assert.False(t, never.ActivityStatus(0).IsIdle)
}

// TestDribbleMakesFewChunks: a child writing one byte at a time that
// nobody polls makes chunks as large as its output allows, not one per
// write, so the ring's bookkeeping and a poll's result follow the bytes.
func TestDribbleMakesFewChunks(t *testing.T) {
	const n = 1500
	m := newReal(t)
	s, err := m.Start(helperCmd(t, "dribble", "DRIBBLE_BYTES="+strconv.Itoa(n)), processes.StartOptions{})
	require.NoError(t, err)
	proctest.Recv(t, s.Done())
	out := s.Output(0)
	var got int
	for _, c := range out.Chunks {
		got += len(c.Data)
	}
	require.Equal(t, n, got, "bytes read")
	assert.LessOrEqual(t, len(out.Chunks), 4, "got %d chunks for %d one-byte writes nobody polled", len(out.Chunks), n)

	// Polls see every byte once, in order, each poll at most one chunk
	// behind: a chunk no poll has returned grows, one returned never does.
	p, err := m.Start(helperCmd(t, "dribble", "DRIBBLE_BYTES=500"), processes.StartOptions{})
	require.NoError(t, err)
	since, seen := 0, 0
	lens := map[int]int{} // Seq → bytes, as polls returned them
	for {
		o := p.Output(since)
		for _, c := range o.Chunks {
			require.Greater(t, c.Seq, since)
			since = c.Seq
			seen += len(c.Data)
			lens[c.Seq] = len(c.Data)
		}
		if !o.Alive {
			break
		}
		require.NoError(t, p.WaitOutput(t.Context(), since))
	}
	assert.Equal(t, 500, seen)
	for _, c := range p.Output(0).Chunks {
		assert.Equal(t, lens[c.Seq], len(c.Data), "chunk %d changed after a poll returned it", c.Seq)
	}
}

// TestIdleWarning: a posted warning wakes waiters, stands until activity,
// and is told apart from an earlier one by its number.
func TestIdleWarning(t *testing.T) {
	c := clock.NewMock()
	m := processes.NewManager(time.Minute, processes.WithClock(c))
	s := &processes.Session{ID: "a"}
	m.Register(s)
	_, _, ok := s.IdleWarning()
	assert.False(t, ok, "a warning before any was posted")

	// A warning posted while WaitOutput waits ends the wait; the waiter
	// may not wait yet when the first is posted, so post until it returns.
	waited := waitErr(t.Context(), s, 0)
	closeAt := c.Now().Add(time.Minute)
	require.Eventually(t, func() bool {
		s.WarnIdle(closeAt)
		select {
		case err := <-waited:
			return assert.NoError(t, err)
		default:
			return false
		}
	}, 10*time.Second, time.Millisecond, "WaitOutput did not return for a warning")
	at, n, ok := s.IdleWarning()
	require.True(t, ok)
	assert.Equal(t, closeAt, at)

	c.Add(time.Second)
	s.Append("stdout", []byte("x")) // activity withdraws it
	_, _, ok = s.IdleWarning()
	assert.False(t, ok, "the warning stands after activity")
	s.WarnIdle(c.Now().Add(time.Minute))
	_, n2, ok := s.IdleWarning()
	assert.True(t, ok)
	assert.Equal(t, n+1, n2, "a new warning has the next number")

	// WaitUpdate returns at once for a warning posted before it was called
	// that its caller had not seen.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	assert.NoError(t, s.WaitUpdate(ctx, s.LastSeq(), n2-1))
}

// A stream follows a closed session's process to its end: after Forget,
// WaitOutput returns the reason at once, while WaitUpdate returns nil for
// what the process prints while it is terminated and the reason only once
// it exited, so that a stream can send that output and the exit first.
func TestWaitUpdateFollowsTheClosedProcessToItsEnd(t *testing.T) {
	m := newReal(t)
	// The handler of SIGTERM waits for a line on stdin before it prints
	// and exits, so that the test decides when the process ends.
	s, err := m.Start(exec.Command("sh", "-c", `trap 'read go; echo bye; exit 7' TERM; echo ready; while :; do sleep 0.01; done`), processes.StartOptions{})
	require.NoError(t, err)
	waitFor(t, s, "ready")
	since := s.LastSeq()
	m.Forget(s.ID)
	for {
		err := s.WaitOutput(t.Context(), since)
		if err != nil {
			require.ErrorIs(t, err, processes.ErrForgotten, "WaitOutput of a closed session")
			break
		}
		since = s.LastSeq() // the shell may report its killed sleep
	}
	_, exited := s.ExitStatus()
	require.False(t, exited, "WaitOutput returned the reason before the exit")

	_, err = s.Write([]byte("go\n"))
	require.NoError(t, err)
	for {
		err := s.WaitUpdate(t.Context(), since, 0)
		if err != nil {
			require.ErrorIs(t, err, processes.ErrForgotten)
			break
		}
		since = s.LastSeq()
	}
	st, ok := s.ExitStatus()
	require.True(t, ok, "WaitUpdate returned the reason before the exit")
	assert.Equal(t, 7, st.Code)
	assert.Contains(t, streams(s)["stdout"], "bye\n")
}
