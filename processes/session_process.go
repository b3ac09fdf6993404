package processes

import (
	"context"
	"fmt"
	"os"
)

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
// a session without a process, [ErrExited] once the process exited,
// [ErrStdinClosed] while it runs with its stdin closed (by CloseStdin, or by
// the child, which closed its end), and ctx.Err() when ctx ended first (some
// bytes may have been written then).
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
	proc, err := s.running()
	if err != nil {
		return err
	}
	return proc.signal(sig)
}

// running counts an action on the process as input activity and returns
// the process, or ErrNoProcess for a session without one and ErrExited once
// it exited.
func (s *Session) running() (*process, error) {
	proc, exited := s.input()
	switch {
	case proc == nil:
		return nil, ErrNoProcess
	case exited || proc.finished.Load():
		return nil, ErrExited
	}
	return proc, nil
}

// Terminate stops the process and every descendant: the graceful signal
// (SIGTERM, or SIGHUP for a terminal) and SIGCONT, so that a stopped process
// runs its handler, to every process of the session (its cgroup, thawed
// first if paused; in the fallback, its process group and the descendants
// found), then SIGKILL after the Manager's kill grace. It joins a termination that
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

// Pause stops the session's whole process tree and waits until it is
// stopped, or ctx ends: with the session's cgroup, cgroup.freeze (the
// kernel freezes every member at once; Documentation/admin-guide/
// cgroup-v2.rst, "Core Interface Files"); without one, SIGSTOP to the
// process group and every descendant found. A paused session uses no CPU,
// keeps its memory, and is reported by [Session.Paused]; terminating it
// resumes it first, so its handlers run. Pause counts as input activity.
// It returns nil for a session already paused, [ErrNoProcess] for a session
// without a process, [ErrTerminating] once its termination began (by
// Terminate, Forget, the sweep or Shutdown; a Pause waiting then undoes its
// stop), [ErrExited] once the process exited, and ctx.Err() when ctx ended
// before every member was stopped (the tree is then being stopped; call
// Resume to undo). [Session.PauseWith] chooses the method.
func (s *Session) Pause(ctx context.Context) error {
	proc, err := s.running()
	if err != nil {
		return err
	}
	return proc.pause(ctx)
}

// Resume continues a session that Pause or [Session.PauseWith] stopped:
// cgroup.freeze 0 for a frozen cgroup, else SIGCONT to every member of the
// tree (the cgroup's, or the process group and every descendant found),
// and waits until the tree runs, or ctx ends. It counts as input
// activity, and returns nil for a session that is not paused,
// [ErrNoProcess] for a session without a process, and ctx.Err() when ctx
// ended first.
func (s *Session) Resume(ctx context.Context) error {
	proc, _ := s.input()
	if proc == nil {
		return ErrNoProcess
	}
	return proc.resume(ctx)
}

// Paused reports whether the session was paused by [Session.Pause] and not
// resumed since. A session without a process, or whose process exited, is
// never paused.
func (s *Session) Paused() bool {
	proc := s.process()
	return proc != nil && proc.paused.Load()
}

// Usage reports what the session's process tree uses now: CPU time, the
// number of processes and, where the cgroup's memory controller is
// enabled, memory. It returns [ErrNoProcess] for a session without a
// process and [ErrExited] once the process exited and its cgroup, if any,
// is empty.
func (s *Session) Usage() (Usage, error) {
	proc := s.process()
	if proc == nil {
		return Usage{}, ErrNoProcess
	}
	return proc.usage()
}

// process returns the session's process, nil for a session without one.
func (s *Session) process() *process {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc
}

// TTY reports whether the session's process runs on a terminal
// ([StartOptions].TTY, as package ptyterm starts it) rather than on pipes.
func (s *Session) TTY() bool {
	proc := s.process()
	return proc != nil && proc.tty != nil
}

// TerminalSize returns the size of the session's terminal, in rows and
// columns, as its program sees it (TIOCGWINSZ, tty_ioctl(4)). It does not
// count as activity. It returns [ErrNoProcess] for a session without a
// process, [ErrNotTerminal] for one on pipes and [ErrExited] once the
// terminal was closed.
func (s *Session) TerminalSize() (rows, cols uint16, err error) {
	proc := s.process()
	switch {
	case proc == nil:
		return 0, 0, ErrNoProcess
	case proc.tty == nil:
		return 0, 0, ErrNotTerminal
	}
	return proc.size()
}
