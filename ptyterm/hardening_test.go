//go:build linux

package ptyterm_test

import (
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

// TestKeyboardSignalsReachTheForegroundJob: SIGINT, SIGQUIT and SIGTSTP
// sent to a terminal go to its foreground job, as typing ^C, ^\ or ^Z does,
// not to the shell that leads the session.
func TestKeyboardSignalsReachTheForegroundJob(t *testing.T) {
	tests := []struct {
		sig  syscall.Signal
		gone bool // the job ends; else it is stopped
	}{
		{syscall.SIGINT, true},
		{syscall.SIGQUIT, true},
		{syscall.SIGTSTP, false},
	}
	for _, tt := range tests {
		t.Run(tt.sig.String(), func(t *testing.T) {
			m := newManager(t)
			term := startTerm(t, m, ptyterm.Options{}, "bash", "--norc", "--noprofile", "-i")
			waitFor(t, term, "$ ")
			_, err := term.Write([]byte("sh -c 'echo job=$$; exec sleep 1000'\n"))
			require.NoError(t, err)
			jobPid := regexp.MustCompile(`job=(\d+)`)
			require.Eventually(t, func() bool { return jobPid.MatchString(output(term)) }, 10*time.Second, time.Millisecond)
			job, _ := strconv.Atoi(jobPid.FindStringSubmatch(output(term))[1])
			require.Eventually(t, func() bool {
				p, ok := proctest.Stat(job)
				return ok && p.Pgrp == job // bash made it a job of its own
			}, 10*time.Second, time.Millisecond)

			require.NoError(t, term.Session().Signal(tt.sig))
			if tt.gone {
				proctest.RequireGone(t, job)
			} else {
				require.Eventually(t, func() bool {
					p, ok := proctest.Stat(job)
					return ok && p.State == "T"
				}, 10*time.Second, time.Millisecond, "the job was not stopped")
			}
			assert.True(t, proctest.Alive(term.Session().Pid()), "the shell itself got the signal")
			require.NoError(t, term.Close())
			proctest.RequireGone(t, job)
		})
	}
}

// TestCloseWaitsForAWarningInProgress: Close called while OnIdleWarning
// runs on another goroutine returns only once that call has returned.
func TestCloseWaitsForAWarningInProgress(t *testing.T) {
	c := clock.NewMock()
	m := newManager(t, processes.WithClock(c))
	entered, release := make(chan struct{}), make(chan struct{})
	term := startTerm(t, m, ptyterm.Options{
		IdleTimeout: time.Minute,
		WarnBefore:  10 * time.Second,
		OnIdleWarning: func(*ptyterm.Terminal) {
			close(entered)
			<-release
		},
	}, "sh", "-i")
	waitFor(t, term, "$ ")
	go c.Add(50 * time.Second)
	proctest.Recv(t, entered)
	closed := make(chan error, 1)
	go func() { closed <- term.Close() }()
	proctest.Recv(t, term.Session().Done())
	select {
	case <-closed:
		t.Fatal("Close returned while OnIdleWarning was still running")
	default:
	}
	close(release)
	assert.NoError(t, proctest.Recv(t, closed))
}

// TestNeverIdleTerminal: a negative IdleTimeout never idles out, and zero
// inherits DefaultIdleTimeout.
func TestNeverIdleTerminal(t *testing.T) {
	c := clock.NewMock()
	m := newManager(t, processes.WithClock(c))
	never := startTerm(t, m, ptyterm.Options{IdleTimeout: processes.NeverIdle}, "sh", "-i")
	def := startTerm(t, m, ptyterm.Options{}, "sh", "-i")
	c.Add(ptyterm.DefaultIdleTimeout + time.Second)
	m.Sweep()
	_, ok := m.Get(never.Session().ID)
	assert.True(t, ok, "a NeverIdle terminal was evicted")
	_, ok = m.Get(def.Session().ID)
	assert.False(t, ok, "a zero IdleTimeout did not inherit DefaultIdleTimeout")
}

// TestViewersDoNotKeepAnIdleTerminal: a terminal idles by what its user
// types; a connected viewer (an open event stream, an attachment) does not
// keep it open.
func TestViewersDoNotKeepAnIdleTerminal(t *testing.T) {
	c := clock.NewMock()
	m := newManager(t, processes.WithClock(c))
	term := startTerm(t, m, ptyterm.Options{IdleTimeout: time.Minute}, "sh", "-i")
	release := term.Session().Hold()
	defer release()
	c.Add(time.Minute + time.Second)
	m.Sweep()
	_, ok := m.Get(term.Session().ID)
	assert.False(t, ok, "a viewer kept an idle terminal open")
	assert.ErrorIs(t, term.Session().CloseReason(), processes.ErrIdleTimeout)
}

// TestTerminalSizeAndTTY: a terminal's session says it is one, and reports
// the size its program sees, before and after a resize.
func TestTerminalSizeAndTTY(t *testing.T) {
	m := newManager(t)
	term := startTerm(t, m, ptyterm.Options{Rows: 30, Cols: 100}, "sh", "-i")
	s := term.Session()
	assert.True(t, s.TTY())
	rows, cols, err := s.TerminalSize()
	require.NoError(t, err)
	assert.Equal(t, [2]uint16{30, 100}, [2]uint16{rows, cols})
	require.NoError(t, term.Resize(50, 132))
	rows, cols, err = s.TerminalSize()
	require.NoError(t, err)
	assert.Equal(t, [2]uint16{50, 132}, [2]uint16{rows, cols})

	pipes, err := m.Start(exec.Command("sleep", "1000"), processes.StartOptions{})
	require.NoError(t, err)
	assert.False(t, pipes.TTY())
	_, _, err = pipes.TerminalSize()
	assert.ErrorIs(t, err, processes.ErrNotTerminal)
	_, _, err = (&processes.Session{}).TerminalSize()
	assert.ErrorIs(t, err, processes.ErrNoProcess)
}

// TestWarningIsPostedOnTheSession: a terminal with WarnBefore posts its
// warning on its session, callback or not, for clients to show.
func TestWarningIsPostedOnTheSession(t *testing.T) {
	c := clock.NewMock()
	m := newManager(t, processes.WithClock(c))
	term := startTerm(t, m, ptyterm.Options{IdleTimeout: time.Minute, WarnBefore: 10 * time.Second}, "sh", "-i")
	s := term.Session()
	waitFor(t, term, "$ ")
	last := s.LastActivity()
	c.Add(50 * time.Second)
	require.Eventually(t, func() bool { _, _, ok := s.IdleWarning(); return ok }, 10*time.Second, time.Millisecond,
		"no warning on the session")
	at, _, _ := s.IdleWarning()
	assert.Equal(t, last.Add(time.Minute), at, "the warning announces the idle close")
	_, err := term.Write([]byte("\n"))
	require.NoError(t, err)
	_, _, ok := s.IdleWarning()
	assert.False(t, ok, "input did not withdraw the warning")
}

// TestWarnBeforeMustBeShorterThanTheIdleTimeout: a warning due at or
// before the start of an idle stretch would come at every key press, so
// Start refuses it, and starts nothing.
func TestWarnBeforeMustBeShorterThanTheIdleTimeout(t *testing.T) {
	tests := []struct {
		name       string
		idle, warn time.Duration
		want       error
	}{
		{"equal", time.Minute, time.Minute, processes.ErrInvalid},
		{"longer", time.Minute, 2 * time.Minute, processes.ErrInvalid},
		{"longer than the default", 0, ptyterm.DefaultIdleTimeout, processes.ErrInvalid},
		{"shorter", time.Minute, time.Minute - time.Nanosecond, nil},
		{"never idle", processes.NeverIdle, time.Hour, nil},
		{"negative warning", time.Minute, -time.Hour, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newManager(t, processes.WithClock(clock.NewMock()))
			term, err := ptyterm.Start(m, exec.Command("sleep", "1000"), ptyterm.Options{IdleTimeout: tt.idle, WarnBefore: tt.warn})
			if tt.want != nil {
				assert.ErrorIs(t, err, tt.want)
				assert.ErrorContains(t, err, "WarnBefore")
				assert.Nil(t, term)
				assert.Zero(t, m.Len(), "started a program for a refused terminal")
				return
			}
			require.NoError(t, err)
			require.NoError(t, term.Close())
		})
	}
}

// TestNoWarningOnceTheProgramExited: a terminal whose program exited is
// closed one idle window later whatever anyone types, so it posts no idle
// warning and does not call OnIdleWarning.
func TestNoWarningOnceTheProgramExited(t *testing.T) {
	c := clock.NewMock()
	m := newManager(t, processes.WithClock(c))
	opts := func(warnings chan<- string, name string) ptyterm.Options {
		return ptyterm.Options{
			IdleTimeout:   time.Minute,
			WarnBefore:    10 * time.Second,
			OnIdleWarning: func(*ptyterm.Terminal) { warnings <- name },
		}
	}
	warnings := make(chan string, 10)
	exited := startTerm(t, m, opts(warnings, "exited"), "true")
	<-exited.Session().Done()
	c.Add(time.Second)
	// Started a second later, so that its warning comes after the one
	// the exited terminal must not give: it shows the clock's timers ran.
	running := startTerm(t, m, opts(warnings, "running"), "sleep", "1000")

	c.Add(49 * time.Second) // the exited terminal's warning would be due
	c.Add(time.Second)      // the running one's is
	assert.Equal(t, "running", proctest.Recv(t, warnings), "the first warning")
	_, _, ok := exited.Session().IdleWarning()
	assert.False(t, ok, "a warning was posted on the exited terminal's session")

	c.Add(10 * time.Second) // a minute after the exit
	m.Sweep()
	assert.ErrorIs(t, exited.Session().CloseReason(), processes.ErrIdleTimeout)
	assert.Empty(t, warnings)
	require.NoError(t, running.Close())
}
