package ptyterm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/creack/pty"

	"github.com/sessionkit/sessionkit/processes"
)

// DefaultIdleTimeout is how long a terminal may go without input or resize
// before it is closed, unless Options.IdleTimeout says otherwise.
const DefaultIdleTimeout = 5 * time.Minute

// Options configures a terminal in [Start]. The zero value is valid: a
// random ID, the workspace "", 24 × 80, idle after five minutes without
// input, no warning.
type Options struct {
	// ID and WorkspaceID are the session's, as in processes.StartOptions.
	ID, WorkspaceID string
	// Rows and Cols are the initial size; zero means 24 and 80.
	Rows, Cols uint16
	// IdleTimeout is how long the terminal may go without input or resize
	// before the Manager's sweep closes it. Zero inherits the terminal
	// default, DefaultIdleTimeout; a negative value, such as
	// processes.NeverIdle, means it never idles out.
	IdleTimeout time.Duration
	// CountOutput makes program output count as activity too.
	CountOutput bool
	// WarnBefore is how long before the idle close the terminal warns: it
	// posts the warning on its session (processes.Session.WarnIdle), which
	// package httpapi sends to event streams and attachments, and calls
	// OnIdleWarning. It must be shorter than the idle timeout (Start
	// returns processes.ErrInvalid otherwise). Zero or negative means no
	// warning. The warning announces the idle deadline; the close itself
	// comes at the Manager's first sweep after it, so run the Manager
	// with a sweep interval well under WarnBefore
	// (processes.WithSweepInterval) for the close to come when announced.
	WarnBefore time.Duration
	// OnIdleWarning is called once per idle stretch, WarnBefore ahead of the
	// idle close, on the Manager's clock, in a goroutine of its own and with
	// no lock held. Input or a resize starts a new stretch. A terminal
	// whose program has exited does not warn: typing cannot keep it.
	// Terminal.Close waits for a call in progress; eviction and
	// Manager.Shutdown do not, so call Close after Shutdown to wait for
	// it. Nil means none.
	OnIdleWarning func(*Terminal)
}

// Terminal is an interactive program under a pseudo-terminal, living as a
// processes.Session in a processes.Manager. Its methods are safe for
// concurrent use. A Terminal is made by Start and found again by Attach; the
// zero Terminal is not usable.
type Terminal struct {
	m     *processes.Manager
	s     *processes.Session
	clk   clock.Clock
	idle  time.Duration
	warn  time.Duration
	onIdl func(*Terminal)

	mu        sync.Mutex
	timer     *clock.Timer
	warnedFor time.Time // the LastActivity of the stretch already warned
	closed    bool
	calling   map[uint64]int // OnIdleWarning calls in progress, by goroutine
	called    sync.Cond      // on mu, broadcast when a call ends
}

// Start runs cmd under a new pseudo-terminal of the requested size, as a
// session leader with the terminal as its controlling terminal, and
// registers it in m as a session whose output is one "stdout" stream.
//
// It returns processes.ErrInvalid (wrapped) for a nil cmd or one whose
// Stdin, Stdout or Stderr is set, or a WarnBefore that is not shorter than
// the idle timeout (it would warn at every key press); the errors of
// processes.Manager.Start (ErrExists, ErrTooManySessions, ErrClosed, the
// program's start error); and the error of opening a terminal. On Linux
// only: elsewhere it returns an error for which errors.Is(err,
// errors.ErrUnsupported) holds.
//
// Start sets cmd's Stdin, Stdout and Stderr to the terminal, and its
// SysProcAttr to a copy of the caller's (whose struct it does not change)
// that makes the program a session leader with the terminal as its
// controlling terminal (Setsid, Setctty, Ctty 0). A session leader leads
// a process group of its own, so Setpgid is dropped; Pgid, Noctty and
// Foreground, which contradict it, are refused with processes.ErrInvalid
// (they failed the start with "operation not permitted" or "inappropriate
// ioctl for device"). When Start fails before the program started
// (ErrExists, for one), it leaves cmd as it was given, so that it can be
// started again.
func Start(m *processes.Manager, cmd *exec.Cmd, opts Options) (*Terminal, error) {
	if m == nil || cmd == nil {
		return nil, fmt.Errorf("%w: nil Manager or command", processes.ErrInvalid)
	}
	if cmd.Stdin != nil || cmd.Stdout != nil || cmd.Stderr != nil {
		return nil, fmt.Errorf("%w: command's Stdin, Stdout or Stderr already set", processes.ErrInvalid)
	}
	rows, cols := opts.Rows, opts.Cols
	if rows == 0 {
		rows = 24
	}
	if cols == 0 {
		cols = 80
	}
	idle := opts.IdleTimeout
	if idle == 0 {
		idle = DefaultIdleTimeout
	}
	if idle > 0 && opts.WarnBefore >= idle {
		return nil, fmt.Errorf("%w: WarnBefore %v is not shorter than the idle timeout %v: make it shorter, or 0 for no warning", processes.ErrInvalid, opts.WarnBefore, idle)
	}
	attr := syscall.SysProcAttr{}
	if cmd.SysProcAttr != nil {
		attr = *cmd.SysProcAttr
	}
	if err := setControllingTerminal(&attr); err != nil {
		return nil, err
	}
	master, slave, err := pty.Open()
	if err != nil {
		if errors.Is(err, pty.ErrUnsupported) {
			err = fmt.Errorf("%w: %w", errors.ErrUnsupported, err)
		}
		return nil, fmt.Errorf("ptyterm: open terminal: %w", err)
	}
	defer slave.Close() // the child has its own copies
	if err := pty.Setsize(master, &pty.Winsize{Rows: rows, Cols: cols}); err != nil {
		master.Close()
		return nil, fmt.Errorf("ptyterm: set size: %w", err)
	}
	callerAttr := cmd.SysProcAttr
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &attr

	activity := processes.ActivityInput
	if opts.CountOutput {
		activity |= processes.ActivityOutput
	}
	t := &Terminal{m: m, clk: m.Clock(), idle: idle, warn: opts.WarnBefore, onIdl: opts.OnIdleWarning}
	t.called.L = &t.mu
	s, err := m.Start(cmd, processes.StartOptions{
		ID:          opts.ID,
		WorkspaceID: opts.WorkspaceID,
		IdleTimeout: idle,
		Activity:    activity,
		TTY:         master,
		Value:       t,
	})
	if err != nil {
		if cmd.Process == nil {
			// Not started: the command is the caller's again, as
			// Manager.Start leaves it, to start under another ID.
			cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
			cmd.SysProcAttr = callerAttr
		}
		return nil, err
	}
	t.mu.Lock()
	t.s = s
	t.mu.Unlock()
	t.arm()
	return t, nil
}

// Attach returns the live terminal registered in m under id, so that a
// client that reconnects gets the same terminal back; it replays the
// buffered output with t.Session().OutputSince(0). It returns an error for
// which errors.Is(err, processes.ErrNotFound) holds when no session has that
// ID or it was closed, and processes.ErrNotTerminal (wrapped) for a session
// that is not a terminal.
func Attach(m *processes.Manager, id string) (*Terminal, error) {
	s, ok := m.Get(id)
	if !ok || s.Closed() {
		return nil, fmt.Errorf("ptyterm: attach %q: %w", id, processes.ErrNotFound)
	}
	t, ok := s.Value().(*Terminal)
	if !ok {
		return nil, fmt.Errorf("ptyterm: attach %q: %w", id, processes.ErrNotTerminal)
	}
	if t.Session() == nil {
		// Registered by the Manager, but Start has not returned yet.
		return nil, fmt.Errorf("ptyterm: attach %q while it starts: %w", id, processes.ErrNotFound)
	}
	return t, nil
}

// Session returns the terminal's session: its output, polling and exit.
func (t *Terminal) Session() *processes.Session {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.s
}

// Write sends p to the program as keyboard input and counts as activity. It
// returns processes.ErrExited once the program exited. It blocks while the
// program does not read, once the terminal's input buffer is full (a few
// KiB, for a program in raw mode; a line-editing one drops what overflows),
// until the program reads, exits or the terminal is closed; to bound the
// wait, write with Session().WriteContext, which counts as input too.
func (t *Terminal) Write(p []byte) (int, error) {
	n, err := t.Session().Write(p)
	t.arm()
	return n, err
}

// Resize sets the terminal's size, which the program sees as SIGWINCH, and
// counts as activity. It returns processes.ErrInvalid (wrapped) for a zero
// size and processes.ErrExited once the program exited.
func (t *Terminal) Resize(rows, cols uint16) error {
	err := t.Session().Resize(rows, cols)
	t.arm()
	return err
}

// Close closes the terminal as a real one going away does: SIGHUP, and
// SIGCONT for a stopped job, to the program's process group and every
// descendant, SIGKILL after the Manager's kill grace, then the terminal is
// closed and the program reaped. It removes the session from its Manager
// (its close reason is processes.ErrForgotten) and returns once the program
// and every descendant it signalled are gone and every OnIdleWarning call
// in progress has returned, except the one Close is called from, if any.
// No OnIdleWarning call starts after Close. Close is idempotent and returns
// nil.
func (t *Terminal) Close() error {
	t.mu.Lock()
	t.closed = true
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
	s := t.s
	t.mu.Unlock()
	// Remove begins the termination if s is still registered; Terminate
	// joins it (or begins it, if another session took the ID) and waits
	// until everything is gone.
	t.m.Remove(s)
	_ = s.Terminate(context.Background())

	self := goid()
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(t.calling) > 1 || len(t.calling) == 1 && t.calling[self] == 0 {
		t.called.Wait()
	}
	return nil
}

// goid returns the ID of the calling goroutine, from the first line of its
// stack ("goroutine 18 [running]:"). Close uses it only to tell a call from
// inside OnIdleWarning, which it must not wait for, from one elsewhere.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	var id uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}

// arm schedules the idle check for the current stretch.
func (t *Terminal) arm() {
	if t.warn <= 0 || t.idle < 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || t.s == nil {
		return
	}
	due := t.s.LastActivity().Add(t.idle - t.warn)
	t.schedule(due)
}

// schedule sets the check timer for due; t.mu must be held.
func (t *Terminal) schedule(due time.Time) {
	if t.timer != nil {
		t.timer.Stop()
	}
	t.timer = t.clk.AfterFunc(max(0, due.Sub(t.clk.Now())), t.check)
}

// check runs on the timer: it warns once per idle stretch when the warning
// is due, and otherwise re-arms for the stretch now running.
func (t *Terminal) check() {
	t.mu.Lock()
	s := t.s
	if t.closed || s.Closed() {
		t.mu.Unlock()
		return
	}
	if _, exited := s.ExitStatus(); exited {
		// Nothing typed can keep it: it closes one idle window after the
		// exit, unwarned.
		t.mu.Unlock()
		return
	}
	last, now := s.LastActivity(), t.clk.Now()
	due := last.Add(t.idle - t.warn)
	switch {
	case now.Before(due):
		// Activity (output, with CountOutput) moved the stretch on.
		t.schedule(due)
		t.mu.Unlock()
		return
	case t.warnedFor.Equal(last):
		// Warned already: look again once the warning period is over, in
		// case output starts a new stretch without input.
		t.schedule(now.Add(t.warn))
		t.mu.Unlock()
		return
	}
	t.warnedFor = last
	t.schedule(last.Add(t.idle + time.Nanosecond))
	s.WarnIdle(last.Add(t.idle))
	if t.onIdl == nil {
		t.mu.Unlock()
		return
	}
	self := goid()
	if t.calling == nil {
		t.calling = make(map[uint64]int)
	}
	t.calling[self]++
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		if t.calling[self]--; t.calling[self] == 0 {
			delete(t.calling, self)
		}
		t.called.Broadcast()
		t.mu.Unlock()
	}()
	t.onIdl(t)
}
