//go:build linux

package processes_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
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

// newReal returns a Manager on the real clock with short graces, shut down
// after the test.
func newReal(t *testing.T, opts ...processes.Option) *processes.Manager {
	t.Helper()
	m := processes.NewManager(0, append([]processes.Option{
		processes.WithKillGrace(2 * time.Second),
		processes.WithWaitDelay(200 * time.Millisecond),
	}, opts...)...)
	shutdown(t, m)
	return m
}

func start(t *testing.T, m *processes.Manager, opts processes.StartOptions, name string, args ...string) *processes.Session {
	t.Helper()
	s, err := m.Start(exec.Command(name, args...), opts)
	require.NoError(t, err)
	return s
}

func TestStartCapturesBothStreamsInOrder(t *testing.T) {
	m := newReal(t)
	s := start(t, m, processes.StartOptions{}, "sh", "-c",
		`for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done`)
	assert.Equal(t, 0, waitDone(t, s))
	got := streams(s)
	assert.Equal(t, "out1\nout2\nout3\nout4\nout5\n", got["stdout"])
	assert.Equal(t, "err1\nerr2\nerr3\nerr4\nerr5\n", got["stderr"])
	proctest.RequireGone(t, s.Pid())
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name   string
		script string
		want   int
	}{
		{"success", "exit 0", 0},
		{"failure", "exit 1", 1},
		{"killed by SIGKILL", "kill -KILL $$", 128 + 9},
		{"killed by SIGTERM", "kill -TERM $$", 128 + 15},
	}
	m := newReal(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, m, processes.StartOptions{}, "sh", "-c", tt.script)
			assert.Equal(t, tt.want, waitDone(t, s), "exit code")
			proctest.RequireGone(t, s.Pid())
		})
	}
}

func TestStdinEchoAndClose(t *testing.T) {
	m := newReal(t)
	s := start(t, m, processes.StartOptions{}, "cat")
	for _, line := range []string{"hello\n", "world\n"} {
		n, err := s.Write([]byte(line))
		require.NoError(t, err)
		assert.Equal(t, len(line), n)
	}
	waitFor(t, s, "hello\nworld\n")
	require.NoError(t, s.CloseStdin())
	require.NoError(t, s.CloseStdin(), "second CloseStdin")
	assert.Equal(t, 0, waitDone(t, s))
	_, err := s.Write([]byte("late"))
	assert.ErrorIs(t, err, processes.ErrExited)
	proctest.RequireGone(t, s.Pid())
}

// Stdin closed while the process runs, by CloseStdin or by the process
// itself, is ErrStdinClosed, not ErrExited: the process is still there.
// Once it exited, a write is ErrExited.
func TestWriteToAClosedStdinWhileTheProcessRuns(t *testing.T) {
	tests := []struct {
		name  string
		start func(t *testing.T, m *processes.Manager) *processes.Session
		close func(t *testing.T, s *processes.Session)
	}{
		{"CloseStdin on pipes", func(t *testing.T, m *processes.Manager) *processes.Session {
			return start(t, m, processes.StartOptions{}, "sh", "-c", "echo ready; exec sleep 1000")
		}, func(t *testing.T, s *processes.Session) { require.NoError(t, s.CloseStdin()) }},
		{"CloseStdin on a terminal", func(t *testing.T, m *processes.Manager) *processes.Session {
			term, err := ptyterm.Start(m, exec.Command("sh", "-c", "echo ready; exec sleep 1000"), ptyterm.Options{})
			require.NoError(t, err)
			return term.Session()
		}, func(t *testing.T, s *processes.Session) { require.NoError(t, s.CloseStdin()) }},
		{"the process closed its stdin", func(t *testing.T, m *processes.Manager) *processes.Session {
			return start(t, m, processes.StartOptions{}, "sh", "-c", "exec 0<&-; echo ready; exec sleep 1000")
		}, func(t *testing.T, s *processes.Session) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newReal(t)
			s := tt.start(t, m)
			waitFor(t, s, "ready")
			tt.close(t, s)
			_, err := s.Write([]byte("more\n"))
			assert.ErrorIs(t, err, processes.ErrStdinClosed)
			assert.NotErrorIs(t, err, processes.ErrExited)
			_, exited := s.ExitStatus()
			assert.False(t, exited, "the process is still running")
			require.NoError(t, s.Terminate(t.Context()))
			<-s.Done()
			_, err = s.Write([]byte("late\n"))
			assert.ErrorIs(t, err, processes.ErrExited, "a write after the exit")
		})
	}
}

func TestSignalAndForgetKillTheGroup(t *testing.T) {
	const script = `sleep 1000 & echo $!; sleep 1000 & echo $!; echo ready; wait`
	tests := []struct {
		name string
		stop func(m *processes.Manager, s *processes.Session) error
	}{
		{"Signal", func(_ *processes.Manager, s *processes.Session) error { return s.Signal(syscall.SIGTERM) }},
		{"Forget", func(m *processes.Manager, s *processes.Session) error { m.Forget(s.ID); return nil }},
		{"Terminate", func(_ *processes.Manager, s *processes.Session) error { return s.Terminate(context.Background()) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newReal(t)
			s := start(t, m, processes.StartOptions{}, "sh", "-c", script)
			waitFor(t, s, "ready")
			pids := append(pidsIn(t, streams(s)["stdout"]), s.Pid())
			require.Len(t, pids, 3)
			require.NoError(t, tt.stop(m, s))
			assert.Equal(t, 128+int(syscall.SIGTERM), waitDone(t, s))
			proctest.RequireGone(t, pids...)
		})
	}
}

func TestEscalationKillsChildIgnoringTerm(t *testing.T) {
	t.Run("Terminate with ctx", func(t *testing.T) {
		m := newReal(t, processes.WithKillGrace(time.Hour))
		s, err := m.Start(helperCmd(t, "ignore-term"), processes.StartOptions{})
		require.NoError(t, err)
		waitFor(t, s, "ready")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Terminate(ctx) }()
		waitFor(t, s, "term ignored") // SIGTERM arrived and did nothing
		cancel()
		assert.ErrorIs(t, proctest.Recv(t, done), context.Canceled, "Terminate whose ctx ended")
		assert.Equal(t, 128+int(syscall.SIGKILL), waitDone(t, s))
		proctest.RequireGone(t, s.Pid())
	})
	t.Run("Forget after the grace on a mock clock", func(t *testing.T) {
		c := clock.NewMock()
		m := processes.NewManager(0, processes.WithClock(c), processes.WithKillGrace(10*time.Second))
		shutdown(t, m)
		s, err := m.Start(helperCmd(t, "ignore-term"), processes.StartOptions{})
		require.NoError(t, err)
		waitFor(t, s, "ready")
		m.Forget(s.ID)
		waitFor(t, s, "term ignored")
		c.Add(10*time.Second - time.Nanosecond)
		select {
		case <-s.Done():
			t.Fatal("killed before the grace ended")
		default:
		}
		c.Add(time.Nanosecond)
		assert.Equal(t, 128+int(syscall.SIGKILL), waitDone(t, s))
		proctest.RequireGone(t, s.Pid())
	})
}

func TestGrandchildHoldingPipesDoesNotHangDone(t *testing.T) {
	m := newReal(t)
	s := start(t, m, processes.StartOptions{}, "sh", "-c", `sleep 1000 & echo $!`)
	// The shell exits at once; its background sleep keeps stdout open.
	assert.Equal(t, 0, waitDone(t, s), "Done after the wait delay")
	pids := pidsIn(t, streams(s)["stdout"])
	require.Len(t, pids, 1)
	assert.True(t, proctest.Alive(pids[0]), "the grandchild lives on until its session is closed")
	m.Forget(s.ID)
	proctest.RequireGone(t, append(pids, s.Pid())...)
}

func TestDescendantsThatLeftTheGroupAreKilled(t *testing.T) {
	tests := []struct {
		name   string
		script string
	}{
		{"setsid child of a live shell", `setsid sleep 1000 >/dev/null 2>&1 & echo $!; echo ready; wait`},
		{"daemon whose parent exited", `setsid sh -c 'sleep 1000 >/dev/null 2>&1 & echo $!' ; echo ready; sleep 1000`},
	}
	for _, mode := range containments(t) {
		for _, tt := range tests {
			t.Run(mode.name+"/"+tt.name, func(t *testing.T) {
				m := newReal(t, mode.opt)
				s := start(t, m, processes.StartOptions{}, "sh", "-c", tt.script)
				waitFor(t, s, "ready")
				pids := pidsIn(t, streams(s)["stdout"])
				require.Len(t, pids, 1)
				require.True(t, proctest.Alive(pids[0]))
				m.Forget(s.ID)
				waitDone(t, s)
				proctest.RequireGone(t, append(pids, s.Pid())...)
			})
		}
	}
}

func TestEvictionKillsIdleProcess(t *testing.T) {
	c := clock.NewMock()
	m := processes.NewManager(time.Minute, processes.WithClock(c))
	shutdown(t, m)
	s := start(t, m, processes.StartOptions{}, "sleep", "1000")
	c.Add(time.Minute)
	m.Sweep()
	_, ok := m.Get(s.ID)
	require.True(t, ok, "evicted at exactly the idle timeout")
	c.Add(time.Nanosecond)
	m.Sweep()
	_, ok = m.Get(s.ID)
	require.False(t, ok, "not evicted past the idle timeout")
	assert.Equal(t, 128+int(syscall.SIGTERM), waitDone(t, s))
	proctest.RequireGone(t, s.Pid())
}

func TestShutdownLeavesNoProcess(t *testing.T) {
	m := processes.NewManager(0, processes.WithKillGrace(5*time.Second))
	var sessions []*processes.Session
	var pids []int
	for range 50 {
		s := start(t, m, processes.StartOptions{}, "sh", "-c", `sleep 1000 & echo $!; echo ready; wait`)
		sessions = append(sessions, s)
	}
	for _, s := range sessions {
		waitFor(t, s, "ready")
		pids = append(pids, s.Pid())
		pids = append(pids, pidsIn(t, streams(s)["stdout"])...)
	}
	require.NoError(t, m.Shutdown(context.Background()))
	for _, s := range sessions {
		select {
		case <-s.Done():
		default:
			t.Fatalf("session %s not done after Shutdown", s.ID)
		}
	}
	proctest.RequireGone(t, pids...)
	assert.Zero(t, m.Len())

	_, err := m.Start(exec.Command("true"), processes.StartOptions{})
	assert.ErrorIs(t, err, processes.ErrClosed)
	late := &processes.Session{ID: "late"}
	m.Register(late)
	assert.True(t, late.Closed(), "Register after Shutdown keeps the session")
	_, ok := m.Get("late")
	assert.False(t, ok)
}

func TestStartBadInput(t *testing.T) {
	m := newReal(t)
	started := exec.Command("true")
	require.NoError(t, started.Start())
	require.NoError(t, started.Wait())
	withStdout := exec.Command("true")
	withStdout.Stdout = os.Stdout
	inMissingDir := exec.Command("true")
	inMissingDir.Dir = "/nonexistent/dir"
	inAFile := exec.Command("true")
	inAFile.Dir = filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(inAFile.Dir, nil, 0o644))

	tests := []struct {
		name string
		cmd  *exec.Cmd
		opts processes.StartOptions
		want error
	}{
		{"nil command", nil, processes.StartOptions{}, processes.ErrInvalid},
		{"already started", started, processes.StartOptions{}, processes.ErrInvalid},
		{"stdout set", withStdout, processes.StartOptions{}, processes.ErrInvalid},
		{"missing program", exec.Command("/nonexistent/program"), processes.StartOptions{}, os.ErrNotExist},
		// The working directory is named, not the program, which exists.
		{"missing working directory", inMissingDir, processes.StartOptions{}, os.ErrNotExist},
		{"a file as working directory", inAFile, processes.StartOptions{}, syscall.ENOTDIR},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := m.Start(tt.cmd, tt.opts)
			assert.Nil(t, s)
			assert.ErrorIs(t, err, tt.want)
			if tt.cmd != nil && tt.cmd.Dir != "" {
				assert.ErrorContains(t, err, "working directory")
				assert.ErrorContains(t, err, tt.cmd.Dir)
			}
			assert.Zero(t, m.Len(), "a failed Start left a session")
		})
	}

	t.Run("ID in use", func(t *testing.T) {
		s := start(t, m, processes.StartOptions{ID: "dup"}, "sleep", "1000")
		_, err := m.Start(exec.Command("true"), processes.StartOptions{ID: "dup"})
		assert.ErrorIs(t, err, processes.ErrExists)
		got, _ := m.Get("dup")
		assert.Same(t, s, got, "the running session was replaced")
		m.Forget("dup")
		proctest.RequireGone(t, s.Pid())
	})
}

func TestNoProcessErrors(t *testing.T) {
	s := &processes.Session{ID: "plain"}
	_, err := s.Write([]byte("x"))
	assert.ErrorIs(t, err, processes.ErrNoProcess)
	assert.ErrorIs(t, s.CloseStdin(), processes.ErrNoProcess)
	assert.ErrorIs(t, s.Signal(syscall.SIGTERM), processes.ErrNoProcess)
	assert.ErrorIs(t, s.Terminate(t.Context()), processes.ErrNoProcess)
	assert.ErrorIs(t, s.Resize(24, 80), processes.ErrNoProcess)
	assert.Zero(t, s.Pid())
}

func TestPipeSessionErrors(t *testing.T) {
	m := newReal(t)
	s := start(t, m, processes.StartOptions{}, "sh", "-c", "exit 0")
	assert.ErrorIs(t, s.Resize(24, 80), processes.ErrNotTerminal)
	waitDone(t, s)
	assert.ErrorIs(t, s.Signal(syscall.SIGTERM), processes.ErrExited)
	assert.NoError(t, s.Terminate(t.Context()), "Terminate of an exited process")
}

func TestWriteToChildThatClosedItsStdin(t *testing.T) {
	m := newReal(t)
	// The child closes its stdin and goes on without reading: the write
	// fails with EPIPE, which must neither kill this process with SIGPIPE
	// nor lose the error, which says the stdin, not the process, is gone.
	s := start(t, m, processes.StartOptions{}, "sh", "-c", "exec 0<&-; echo closed; sleep 1000")
	waitFor(t, s, "closed")
	_, err := s.Write(make([]byte, 1<<20))
	assert.ErrorIs(t, err, processes.ErrStdinClosed)
}

// goroutines counts goroutines from inside require.Eventually's own
// goroutine, so that counts taken before and after compare like with like.
func goroutines(t *testing.T) int {
	t.Helper()
	var n int
	require.Eventually(t, func() bool { n = runtime.NumGoroutine(); return true }, time.Second, time.Millisecond)
	return n
}

func TestGoroutinesPerSession(t *testing.T) {
	m := newReal(t)
	before := goroutines(t)
	const n = 10
	var sessions []*processes.Session
	for range n {
		sessions = append(sessions, start(t, m, processes.StartOptions{}, "sleep", "1000"))
	}
	// One forker serves the Manager's running sessions.
	perSession := float64(goroutines(t)-before-1) / n
	assert.LessOrEqual(t, perSession, 3.0, "got %.1f goroutines per running session", perSession)
	for _, s := range sessions {
		m.Forget(s.ID)
	}
	for _, s := range sessions {
		waitDone(t, s)
	}
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= before }, 10*time.Second, time.Millisecond,
		"goroutines left after Forget")
}

func TestSessionIDs(t *testing.T) {
	m := newReal(t)
	a := start(t, m, processes.StartOptions{}, "true")
	b := start(t, m, processes.StartOptions{}, "true")
	assert.NotEqual(t, a.ID, b.ID)
	for _, id := range []string{a.ID, b.ID} {
		assert.Len(t, id, 22, "128 bits in unpadded base64")
		assert.False(t, strings.ContainsAny(id, "+/="), "ID %q is not URL-safe", id)
	}
	got, ok := m.Get(a.ID)
	require.True(t, ok)
	assert.Same(t, a, got)
	waitDone(t, a)
	waitDone(t, b)
}

// A command's SysProcAttr that contradicts its session is refused with
// ErrInvalid naming the field, before anything is made; Setpgid beside
// Setsid, which asks for nothing more, is dropped (setpgid(2) after
// setsid(2) failed with EPERM).
func TestStartCallersSysProcAttr(t *testing.T) {
	m := newReal(t)
	refused := []struct {
		name  string
		attr  syscall.SysProcAttr
		field string
	}{
		{"another group", syscall.SysProcAttr{Setpgid: true, Pgid: 1}, "Pgid"},
		{"a controlling terminal", syscall.SysProcAttr{Setsid: true, Setctty: true}, "Setctty"},
		{"detaching from a terminal", syscall.SysProcAttr{Noctty: true}, "Noctty"},
		{"the foreground", syscall.SysProcAttr{Foreground: true}, "Foreground"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command("true")
			cmd.SysProcAttr = &tt.attr
			_, err := m.Start(cmd, processes.StartOptions{})
			require.ErrorIs(t, err, processes.ErrInvalid)
			assert.Contains(t, err.Error(), "SysProcAttr."+tt.field)
			assert.Zero(t, m.Len(), "a refused start left a session")
		})
	}
	t.Run("Setpgid beside Setsid", func(t *testing.T) {
		cmd := exec.Command("sleep", "60")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setpgid: true}
		s, err := m.Start(cmd, processes.StartOptions{})
		require.NoError(t, err)
		defer m.Forget(s.ID)
		p, ok := proctest.Stat(s.Pid())
		require.True(t, ok)
		assert.Equal(t, s.Pid(), p.Pgrp, "the child leads its process group")
		require.NoError(t, s.Terminate(t.Context()))
	})
}
