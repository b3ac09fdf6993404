package processes

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// StartOptions configures one session made by [Manager.Start]. The zero
// value is valid: a random ID, the workspace "", the Manager's IdleTimeout,
// and output and connected clients as activity (see [StartOptions.Activity]).
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
	// Limits bounds the memory, processes and CPU of the session's tree,
	// through its cgroup. The zero Limits limits nothing; see [Limits].
	Limits Limits
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
// cmd.SysProcAttr is kept, with what the session needs set over it: a
// process group of its own (Setpgid, but not beside Setsid, since a session
// leader leads its group already), the session's cgroup (UseCgroupFD), a
// pidfd, and Pdeathsig SIGKILL unless it is set.
//
// Start returns [ErrInvalid] for a nil cmd, one already started, one
// whose Stdin, Stdout or Stderr is set (the session owns them), or one
// whose SysProcAttr contradicts the session: a Pgid of another group, or,
// on pipes, Setctty, Noctty or Foreground, which need a terminal, or
// whose Limits hold a value no kernel accepts (negative, NaN, or a CPUMax
// below 0.01), with or without a cgroup;
// [ErrExists] for an ID in use; [ErrTooManySessions] past the Manager's
// limits; [ErrClosed] after Shutdown; an error wrapping the *fs.PathError
// of os.Stat, or syscall.ENOTDIR, when cmd.Dir is set and is not a
// directory, before any process is made; and the error of exec.Cmd.Start,
// wrapped, when the program cannot be started.
func (m *Manager) Start(cmd *exec.Cmd, opts StartOptions) (*Session, error) {
	s, err := m.start(cmd, opts)
	if err != nil && opts.TTY != nil {
		opts.TTY.Close()
	}
	return s, err
}

// checkDir returns an error naming dir, a command's working directory,
// unless dir is empty or a directory. Without it exec.Cmd.Start reports a
// missing one as if the program were missing: chdir(2) fails in the child,
// and the error it returns names the program.
func checkDir(dir string) error {
	if dir == "" {
		return nil
	}
	fi, err := os.Stat(dir)
	if err == nil && !fi.IsDir() {
		err = &fs.PathError{Op: "chdir", Path: dir, Err: syscall.ENOTDIR}
	}
	if err != nil {
		return fmt.Errorf("processes: working directory: %w", err)
	}
	return nil
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
	if err := checkDir(cmd.Dir); err != nil {
		return nil, err
	}
	if err := opts.Limits.validate(); err != nil {
		return nil, err
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
