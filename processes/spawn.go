package processes

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"time"
)

// StartOptions configures one session made by [Manager.Start]. The zero
// value is valid: a random ID, the workspace "", the Manager's IdleTimeout,
// and output as the only activity.
type StartOptions struct {
	// ID is the session's ID. Empty means 128 random bits, URL-safe base64.
	ID string
	// WorkspaceID scopes the session, for limits and for callers that serve
	// several tenants.
	WorkspaceID string
	// IdleTimeout overrides Manager.IdleTimeout for this session. Zero means
	// the Manager's; a negative value, such as NeverIdle, means the session
	// is never evicted.
	IdleTimeout time.Duration
	// Activity says what keeps the session from being idle. Zero means
	// ActivityOutput|ActivityConnected: output, and connected clients.
	Activity Activity
	// TTY, when set, runs the command on a terminal instead of pipes: TTY is
	// the terminal's master side, and cmd's Stdin, Stdout and Stderr must be
	// its slave side, with cmd.SysProcAttr making the child a session
	// leader (Setsid). Output is read from TTY as one "stdout" stream, Write
	// writes to it, Resize resizes it and the graceful stop is SIGHUP. Start
	// takes ownership of TTY: it closes it, even on error. Package ptyterm
	// sets this; most callers leave it nil.
	TTY *os.File
	// Value is any data the caller keeps with the session, returned by
	// [Session.Value]. Package ptyterm keeps its Terminal there.
	Value any
}

// newID returns 128 random bits in URL-safe base64.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails on Linux
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Start runs cmd as a new session in its own process group and registers
// it. The child's stdout and stderr are read concurrently into the session
// as "stdout" and "stderr" chunks, its stdin is fed by [Session.Write], and
// its exit is recorded with SetExit once all of its output is in, 128+N
// for a child killed by signal N. The environment and working directory are
// cmd's, with one variable added, SESSIONKIT_SESSION_COOKIE, by which
// descendants that leave the process group are still found and terminated
// with the session. No shell is inserted.
//
// Start returns [ErrInvalid] for a nil cmd, one already started, or one
// whose Stdin, Stdout or Stderr is set (the session owns them);
// [ErrExists] for an ID in use; [ErrTooManySessions] past the Manager's
// limits; [ErrClosed] after Shutdown; and the error of exec.Cmd.Start,
// wrapped, when the program cannot be started.
func (m *Manager) Start(cmd *exec.Cmd, opts StartOptions) (*Session, error) {
	s, err := m.start(cmd, opts)
	if err != nil && opts.TTY != nil {
		opts.TTY.Close()
	}
	return s, err
}

func (m *Manager) start(cmd *exec.Cmd, opts StartOptions) (*Session, error) {
	m.startMu.RLock()
	defer m.startMu.RUnlock()
	switch {
	case cmd == nil:
		return nil, fmt.Errorf("%w: nil command", ErrInvalid)
	case cmd.Process != nil:
		return nil, fmt.Errorf("%w: command already started", ErrInvalid)
	case cmd.Err != nil:
		return nil, fmt.Errorf("processes: start %s: %w", cmd.Path, cmd.Err)
	case opts.TTY == nil && (cmd.Stdin != nil || cmd.Stdout != nil || cmd.Stderr != nil):
		return nil, fmt.Errorf("%w: command's Stdin, Stdout or Stderr already set", ErrInvalid)
	case m.closed.Load():
		return nil, ErrClosed
	}
	id := opts.ID
	if id == "" {
		id = newID()
	}
	// Checked again on insert; this spares spawning a process in vain.
	if _, ok := m.Get(id); ok {
		return nil, fmt.Errorf("%w: %q", ErrExists, id)
	}
	if err := m.reserve(opts.WorkspaceID); err != nil {
		return nil, err
	}
	s, p, err := m.spawn(cmd, id, opts)
	if err != nil {
		m.count(opts.WorkspaceID, -1)
		return nil, err
	}
	p.start()
	if _, err := m.insert(s, true, false); err != nil {
		m.count(opts.WorkspaceID, -1)
		reason := ErrForgotten
		if m.closed.Load() {
			reason = ErrShutdown
		}
		s.shut(reason)
		m.terminate([]*process{p})
		return nil, err
	}
	m.logger().Debug("processes: started", "id", id, "workspace", opts.WorkspaceID, "pid", p.pid, "path", cmd.Path)
	return s, nil
}

// reserve counts one more session for workspace ws if the limits allow it,
// reclaiming the slot of the session that exited first where they do not.
func (m *Manager) reserve(ws string) error {
	for {
		m.countMu.Lock()
		overAll := m.maxSessions > 0 && m.total >= m.maxSessions
		overWS := m.maxPerWS > 0 && m.perWS[ws] >= m.maxPerWS
		if !overAll && !overWS {
			m.countLocked(ws, 1)
			m.countMu.Unlock()
			return nil
		}
		m.countMu.Unlock()
		victim := m.oldestExited(ws, overWS && !overAll)
		if victim == nil {
			return fmt.Errorf("%w: limit reached for workspace %q", ErrTooManySessions, ws)
		}
		if m.remove(victim) {
			m.retire(victim, ErrReclaimed)
		}
	}
}

// oldestExited returns the session that exited first, of workspace ws only
// if inWS, or nil if none exited.
func (m *Manager) oldestExited(ws string, inWS bool) *Session {
	var best *Session
	var bestAt time.Time
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.RLock()
		for _, s := range sh.sessions {
			if inWS && s.WorkspaceID != ws {
				continue
			}
			s.mu.Lock()
			if s.exited && (best == nil || s.exit.At.Before(bestAt)) {
				best, bestAt = s, s.exit.At
			}
			s.mu.Unlock()
		}
		sh.mu.RUnlock()
	}
	return best
}

// input counts an action on the process as input activity and returns the
// process (nil for a session without one) and whether it exited.
func (s *Session) input() (*process, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.touch(ActivityInput)
	return s.proc, s.exited
}

// Write writes p to the process's stdin (the keyboard, for a terminal) and
// counts as input activity. It is WriteContext with context.Background():
// it blocks while the child does not read, until it exits or its stdin is
// closed.
func (s *Session) Write(p []byte) (int, error) {
	return s.WriteContext(context.Background(), p)
}

// WriteContext writes p to the process's stdin, as Write does, until ctx
// ends: a child that does not read blocks it no longer than ctx's deadline.
// Writers are served one at a time, so the bytes of two writes never
// interleave. It returns how many bytes were written and [ErrNoProcess] for
// a session without a process, [ErrExited] once the process exited, its
// stdin was closed or the child closed its end, and ctx.Err() when ctx
// ended first (some bytes may have been written then).
func (s *Session) WriteContext(ctx context.Context, p []byte) (int, error) {
	proc, _ := s.input()
	if proc == nil {
		return 0, ErrNoProcess
	}
	return proc.write(ctx, p)
}

// CloseStdin closes the process's stdin, so that it reads end of file, and
// counts as input activity. For a terminal it only stops Write; send an
// end-of-file character (Ctrl-D) to the program instead. It returns
// [ErrNoProcess] for a session without a process and nil if stdin was
// already closed.
func (s *Session) CloseStdin() error {
	proc, _ := s.input()
	if proc == nil {
		return ErrNoProcess
	}
	return proc.closeStdin()
}

// Signal sends sig to the process's whole process group and counts as input
// activity. On a terminal, SIGINT, SIGQUIT and SIGTSTP go to the terminal's
// foreground process group instead, as typing ^C, ^\ or ^Z does, so that
// they reach the job a shell runs. It returns [ErrNoProcess] for a session
// without a process, [ErrExited] once the process exited, and [ErrInvalid]
// for a signal that is not a syscall.Signal.
func (s *Session) Signal(sig os.Signal) error {
	proc, exited := s.input()
	switch {
	case proc == nil:
		return ErrNoProcess
	case exited || proc.finished.Load():
		return ErrExited
	}
	return proc.signal(sig)
}

// Terminate stops the process and every descendant: the graceful signal
// (SIGTERM, or SIGHUP for a terminal) and SIGCONT, so that a stopped process
// runs its handler, to its process group and to descendants that left it,
// then SIGKILL after the Manager's kill grace. It joins a termination that
// Forget, eviction or Shutdown began. It returns nil once the process was
// reaped, its output is in, and every descendant signalled is gone (at
// once for a session whose process and descendants are all gone). When ctx
// ends first, it sends SIGKILL to this session's process and descendants
// only, and returns ctx.Err() without waiting further; Done is closed
// shortly after. It returns [ErrNoProcess] for a session without a process.
// Terminate counts as input activity; the session stays registered,
// exited, for final polls.
func (s *Session) Terminate(ctx context.Context) error {
	proc, _ := s.input()
	if proc == nil {
		return ErrNoProcess
	}
	proc.m.terminate([]*process{proc}) // does nothing if one began already
	select {
	case <-proc.gone:
		return nil
	case <-ctx.Done():
		proc.kill()
		return ctx.Err()
	}
}

// Resize sets the terminal's size to rows × cols, which the program sees as
// SIGWINCH, and counts as input activity. It returns [ErrNoProcess] for a
// session without a process, [ErrNotTerminal] for one on pipes, [ErrExited]
// once the process exited, and [ErrInvalid] for a zero size.
func (s *Session) Resize(rows, cols uint16) error {
	proc, exited := s.input()
	switch {
	case proc == nil:
		return ErrNoProcess
	case proc.tty == nil:
		return ErrNotTerminal
	case rows == 0 || cols == 0:
		return fmt.Errorf("%w: terminal size %dx%d", ErrInvalid, rows, cols)
	case exited:
		return ErrExited
	}
	return proc.resize(rows, cols)
}

// Pid returns the process ID of the session's process, which is also its
// process group ID, or 0 for a session without a process.
func (s *Session) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.pid
}

// Value returns the StartOptions.Value the session was started with, nil
// for a session made otherwise.
func (s *Session) Value() any {
	return s.value // set before the session is shared, never changed
}
