//go:build linux

package ptyterm_test

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
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

func newManager(t *testing.T, opts ...processes.Option) *processes.Manager {
	t.Helper()
	m := processes.NewManager(0, append([]processes.Option{processes.WithKillGrace(2 * time.Second)}, opts...)...)
	shutdown(t, m)
	return m
}

func startTerm(t *testing.T, m *processes.Manager, opts ptyterm.Options, name string, args ...string) *ptyterm.Terminal {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = shellEnv()
	term, err := ptyterm.Start(m, cmd, opts)
	require.NoError(t, err)
	return term
}

func TestInteractiveShellKeepsState(t *testing.T) {
	m := newManager(t)
	term := startTerm(t, m, ptyterm.Options{}, "sh", "-i")
	for i, step := range []struct{ input, want string }{
		{"X=42\n", "$ "},
		{"Y=$((X + 1))\n", "$ "},
		{"echo value=$X,$Y\n", "value=42,43"},
		{"cd /tmp && pwd\n", "/tmp"},
	} {
		_, err := term.Write([]byte(step.input))
		require.NoError(t, err, "step %d", i)
		waitFor(t, term, step.want)
	}
	require.NoError(t, term.Close())
	proctest.RequireGone(t, term.Session().Pid())
}

func TestSize(t *testing.T) {
	t.Run("initial", func(t *testing.T) {
		m := newManager(t)
		term := startTerm(t, m, ptyterm.Options{Rows: 40, Cols: 120}, "stty", "size")
		<-term.Session().Done()
		assert.Contains(t, output(term), "40 120")
	})
	t.Run("default", func(t *testing.T) {
		m := newManager(t)
		term := startTerm(t, m, ptyterm.Options{}, "stty", "size")
		<-term.Session().Done()
		assert.Contains(t, output(term), "24 80")
	})
	t.Run("after Resize", func(t *testing.T) {
		m := newManager(t)
		term := startTerm(t, m, ptyterm.Options{}, "sh", "-i")
		waitFor(t, term, "$ ")
		require.NoError(t, term.Resize(30, 100))
		_, err := term.Write([]byte("stty size\n"))
		require.NoError(t, err)
		waitFor(t, term, "30 100")
		assert.ErrorIs(t, term.Resize(0, 80), processes.ErrInvalid)
		require.NoError(t, term.Close())
	})
}

func TestTtyIsAPseudoTerminal(t *testing.T) {
	m := newManager(t)
	term := startTerm(t, m, ptyterm.Options{}, "tty")
	<-term.Session().Done()
	assert.Regexp(t, `/dev/pts/\d+`, output(term))
	_, exit, _ := term.Session().OutputSince(0)
	require.NotNil(t, exit)
	assert.Equal(t, 0, *exit)
}

func TestResizeSendsWinch(t *testing.T) {
	m := newManager(t)
	term := startTerm(t, m, ptyterm.Options{}, "sh", "-c",
		`trap 'echo winch $(stty size); exit 0' WINCH; echo ready; while :; do sleep 0.01; done`)
	waitFor(t, term, "ready")
	require.NoError(t, term.Resize(33, 99))
	waitFor(t, term, "winch 33 99")
	<-term.Session().Done()
}

func TestCloseKillsTheTerminalsProcesses(t *testing.T) {
	m := newManager(t)
	term := startTerm(t, m, ptyterm.Options{}, "sh", "-i")
	waitFor(t, term, "$ ")
	// A background job of an interactive shell runs in a process group of
	// its own, in the terminal's session.
	_, err := term.Write([]byte("sleep 1000 & echo bg=$!\n"))
	require.NoError(t, err)
	bgPid := regexp.MustCompile(`bg=(\d+)`)
	require.Eventually(t, func() bool { return bgPid.MatchString(output(term)) }, 10*time.Second, time.Millisecond)
	match := bgPid.FindStringSubmatch(output(term))
	require.Len(t, match, 2)
	bg, _ := strconv.Atoi(match[1])
	require.True(t, proctest.Alive(bg))

	require.NoError(t, term.Close())
	require.NoError(t, term.Close(), "second Close")
	_, exit, alive := term.Session().OutputSince(0)
	assert.False(t, alive)
	require.NotNil(t, exit)
	assert.Equal(t, 128+int(syscall.SIGHUP), *exit, "the shell ends on SIGHUP")
	proctest.RequireGone(t, term.Session().Pid(), bg)
	_, ok := m.Get(term.Session().ID)
	assert.False(t, ok)
}

func TestCloseEscalatesToSIGKILL(t *testing.T) {
	c := clock.NewMock()
	m := newManager(t, processes.WithClock(c), processes.WithKillGrace(10*time.Second))
	term := startTerm(t, m, ptyterm.Options{}, "sh", "-c", `trap 'echo hup ignored' HUP; echo ready; while :; do sleep 0.01; done`)
	waitFor(t, term, "ready")
	closed := make(chan error, 1)
	go func() { closed <- term.Close() }()
	waitFor(t, term, "hup ignored") // SIGHUP arrived, so the grace is running
	c.Add(10*time.Second - time.Nanosecond)
	select {
	case <-closed:
		t.Fatal("Close returned before the grace ended")
	default:
	}
	c.Add(time.Nanosecond)
	assert.NoError(t, proctest.Recv(t, closed))
	proctest.RequireGone(t, term.Session().Pid())
}

func TestIdleByUserActivity(t *testing.T) {
	c := clock.NewMock()
	m := newManager(t, processes.WithClock(c))
	term := startTerm(t, m, ptyterm.Options{IdleTimeout: time.Minute}, "sh", "-i")
	waitFor(t, term, "$ ")
	id := term.Session().ID

	c.Add(50 * time.Second)
	_, err := term.Write([]byte("echo typing\n"))
	require.NoError(t, err)
	waitFor(t, term, "typing")
	c.Add(50 * time.Second) // 100s after start, 50s after input
	m.Sweep()
	_, ok := m.Get(id)
	require.True(t, ok, "a terminal with input 50s ago was evicted")

	c.Add(10*time.Second + time.Nanosecond)
	m.Sweep()
	_, ok = m.Get(id)
	require.False(t, ok, "an idle terminal was kept")
	<-term.Session().Done()
	proctest.RequireGone(t, term.Session().Pid())
	_, err = ptyterm.Attach(m, id)
	assert.ErrorIs(t, err, processes.ErrNotFound)
}

func TestOutputCountsOnlyWithCountOutput(t *testing.T) {
	for _, count := range []bool{false, true} {
		t.Run("CountOutput="+strconv.FormatBool(count), func(t *testing.T) {
			c := clock.NewMock()
			m := newManager(t, processes.WithClock(c))
			term := startTerm(t, m, ptyterm.Options{CountOutput: count}, "sh", "-c",
				`trap 'echo got' USR1; echo ready; while :; do sleep 0.01; done`)
			waitFor(t, term, "ready")
			start := c.Now()
			c.Add(30 * time.Second)
			// Signalled from outside the library, so that only the
			// program's output can count as activity.
			require.NoError(t, syscall.Kill(term.Session().Pid(), syscall.SIGUSR1))
			waitFor(t, term, "got")
			want := start
			if count {
				want = c.Now()
			}
			assert.Equal(t, want, term.Session().LastActivity())
			require.NoError(t, term.Close())
		})
	}
}

func TestIdleWarning(t *testing.T) {
	c := clock.NewMock()
	m := newManager(t, processes.WithClock(c))
	warnings := make(chan time.Time, 10)
	term := startTerm(t, m, ptyterm.Options{
		IdleTimeout:   time.Minute,
		WarnBefore:    10 * time.Second,
		OnIdleWarning: func(*ptyterm.Terminal) { warnings <- c.Now() },
	}, "sh", "-i")
	waitFor(t, term, "$ ")
	start := c.Now()

	c.Add(49 * time.Second)
	assert.Empty(t, warnings, "warned 11s before the close")
	c.Add(time.Second)
	got := proctest.Recv(t, warnings)
	assert.Equal(t, start.Add(50*time.Second), got, "warning time")

	// Input starts a new stretch, warned once again.
	_, err := term.Write([]byte("echo still here\n"))
	require.NoError(t, err)
	c.Add(50 * time.Second)
	got = proctest.Recv(t, warnings)
	assert.Equal(t, start.Add(100*time.Second), got, "second stretch's warning time")

	c.Add(10*time.Second + time.Nanosecond) // the idle close is due
	m.Sweep()
	<-term.Session().Done()
	c.Add(time.Minute)
	assert.Empty(t, warnings, "warned more than once per stretch, or after the close")
}

func TestAttachReplays(t *testing.T) {
	m := newManager(t)
	term := startTerm(t, m, ptyterm.Options{ID: "tab-1"}, "sh", "-i")
	_, err := term.Write([]byte("echo first-visit\n"))
	require.NoError(t, err)
	waitFor(t, term, "first-visit")

	// The client goes away and comes back with only the ID.
	again, err := ptyterm.Attach(m, "tab-1")
	require.NoError(t, err)
	assert.Same(t, term, again)
	assert.Contains(t, output(again), "first-visit", "replay of the buffered output")
	_, err = again.Write([]byte("echo second-visit\n"))
	require.NoError(t, err)
	waitFor(t, again, "second-visit")

	require.NoError(t, again.Close())
	_, err = ptyterm.Attach(m, "tab-1")
	assert.ErrorIs(t, err, processes.ErrNotFound, "attach after Close")
}

func TestAttachErrors(t *testing.T) {
	m := newManager(t)
	_, err := ptyterm.Attach(m, "nope")
	assert.ErrorIs(t, err, processes.ErrNotFound)

	s, err := m.Start(exec.Command("sleep", "1000"), processes.StartOptions{ID: "pipes"})
	require.NoError(t, err)
	_, err = ptyterm.Attach(m, "pipes")
	assert.ErrorIs(t, err, processes.ErrNotTerminal)
	m.Forget(s.ID)

	m.Register(&processes.Session{ID: "plain"})
	_, err = ptyterm.Attach(m, "plain")
	assert.ErrorIs(t, err, processes.ErrNotTerminal)
}

func TestStartErrors(t *testing.T) {
	m := newManager(t)
	withStdout := exec.Command("cat")
	withStdout.Stdout = os.Stdout
	tests := []struct {
		name string
		m    *processes.Manager
		cmd  *exec.Cmd
		want error
	}{
		{"nil manager", nil, exec.Command("true"), processes.ErrInvalid},
		{"nil command", m, nil, processes.ErrInvalid},
		{"stdout set", m, withStdout, processes.ErrInvalid},
		{"missing program", m, exec.Command("/nonexistent/program"), os.ErrNotExist},
		{"another process group", m, withAttr(&syscall.SysProcAttr{Setpgid: true, Pgid: 1}), processes.ErrInvalid},
		{"no controlling terminal", m, withAttr(&syscall.SysProcAttr{Noctty: true}), processes.ErrInvalid},
		{"foreground of the caller's terminal", m, withAttr(&syscall.SysProcAttr{Foreground: true}), processes.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			term, err := ptyterm.Start(tt.m, tt.cmd, ptyterm.Options{})
			assert.Nil(t, term)
			assert.ErrorIs(t, err, tt.want)
		})
	}
	assert.Zero(t, m.Len())
}

// TestCommandOfAFailedStartCanBeStartedAgain: a Start that fails before the
// program started (its ID in use) leaves the command as it was given, as
// Manager.Start does, so that it starts under another ID.
func TestCommandOfAFailedStartCanBeStartedAgain(t *testing.T) {
	m := newManager(t)
	first := startTerm(t, m, ptyterm.Options{ID: "taken"}, "sleep", "1000")
	attr := &syscall.SysProcAttr{Setpgid: true}
	cmd := exec.Command("stty", "size")
	cmd.SysProcAttr = attr
	_, err := ptyterm.Start(m, cmd, ptyterm.Options{ID: "taken"})
	require.ErrorIs(t, err, processes.ErrExists)
	assert.Nil(t, cmd.Process)
	assert.True(t, cmd.Stdin == nil && cmd.Stdout == nil && cmd.Stderr == nil, "the terminal is left in the command")
	assert.Same(t, attr, cmd.SysProcAttr)

	term, err := ptyterm.Start(m, cmd, ptyterm.Options{ID: "free", Rows: 30, Cols: 90})
	require.NoError(t, err, "the same command under another ID")
	<-term.Session().Done()
	assert.Contains(t, output(term), "30 90")
	require.NoError(t, first.Close())
}

// withAttr returns a command with attr as its SysProcAttr.
func withAttr(attr *syscall.SysProcAttr) *exec.Cmd {
	cmd := exec.Command("true")
	cmd.SysProcAttr = attr
	return cmd
}

// TestCallersSysProcAttr: the caller's SysProcAttr is kept but for what a
// terminal decides: a Setpgid, which a session leader's own group already
// gives, does not fail the start, and the caller's struct is not changed.
func TestCallersSysProcAttr(t *testing.T) {
	m := newManager(t)
	attr := &syscall.SysProcAttr{Setpgid: true}
	cmd := exec.Command("sh", "-c", `tty; ps -o pid=,pgid=,sid= -p $$`)
	cmd.SysProcAttr = attr
	term, err := ptyterm.Start(m, cmd, ptyterm.Options{})
	require.NoError(t, err)
	<-term.Session().Done()
	_, exit, _ := term.Session().OutputSince(0)
	require.NotNil(t, exit)
	assert.Equal(t, 0, *exit, "output %q", output(term))
	pid := strconv.Itoa(term.Session().Pid())
	assert.Regexp(t, `/dev/pts/\d+\s+`+pid+`\s+`+pid+`\s+`+pid+`\s`, output(term), "a session and group leader on its terminal")
	assert.Equal(t, syscall.SysProcAttr{Setpgid: true}, *attr, "the caller's SysProcAttr changed")
}

// TestExitCodeWhenProgramClosesItsTerminal: a program that closes its side
// of the terminal before it exits must report its own exit code. Closing the
// master before the program was reaped would hang the terminal up and kill
// it with SIGHUP (129).
func TestExitCodeWhenProgramClosesItsTerminal(t *testing.T) {
	m := newManager(t)
	for i := range 5 {
		term := startTerm(t, m, ptyterm.Options{}, "sh", "-c", "exec 0<&- 1>&- 2>&-; sleep 0.05; exit 7")
		<-term.Session().Done()
		_, exit, _ := term.Session().OutputSince(0)
		require.NotNil(t, exit)
		assert.Equal(t, 7, *exit, "run %d: got exit %d, want the program's 7", i, *exit)
	}
}

// TestCloseFromIdleWarning closes the terminal from its own warning
// callback, which must neither deadlock nor leave the program running.
func TestCloseFromIdleWarning(t *testing.T) {
	c := clock.NewMock()
	m := newManager(t, processes.WithClock(c))
	closed := make(chan error, 1)
	term := startTerm(t, m, ptyterm.Options{
		IdleTimeout:   time.Minute,
		WarnBefore:    10 * time.Second,
		OnIdleWarning: func(term *ptyterm.Terminal) { closed <- term.Close() },
	}, "sh", "-i")
	waitFor(t, term, "$ ")
	c.Add(50 * time.Second)
	assert.NoError(t, proctest.Recv(t, closed))
	<-term.Session().Done()
	proctest.RequireGone(t, term.Session().Pid())
}
