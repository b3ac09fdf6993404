package processes

import (
	"errors"
	"fmt"
)

// Errors returned by this package, usable with [errors.Is].
var (
	// ErrNotFound is returned for an ID the Manager does not hold.
	ErrNotFound = errors.New("processes: session not found")
	// ErrExited is returned for stdin written, and signals sent, after the
	// process exited.
	ErrExited = errors.New("processes: process exited")
	// ErrStdinClosed is returned for stdin written while the process runs
	// but its stdin is closed: by [Session.CloseStdin], or by the process,
	// which closed its end of the pipe or its terminal (EPIPE or EIO from
	// write(2)).
	ErrStdinClosed = errors.New("processes: stdin closed")
	// ErrNoProcess is returned for stdin or signals on a session that has no
	// process behind it, such as a Session registered with [Manager.Register].
	ErrNoProcess = errors.New("processes: session has no process")
	// ErrTooManySessions is returned by [Manager.Start] past the limits of
	// [WithMaxSessions] and [WithMaxSessionsPerWorkspace].
	ErrTooManySessions = errors.New("processes: too many sessions")
	// ErrInvalid is returned for arguments that cannot work, such as a
	// command that was already started or whose Stdout is already set.
	ErrInvalid = errors.New("processes: invalid argument")
	// ErrExists is returned by [Manager.Start] for an ID already in use.
	ErrExists = errors.New("processes: session ID in use")
	// ErrNotTerminal is returned by [Session.Resize] for a session whose
	// process runs on pipes rather than a terminal.
	ErrNotTerminal = errors.New("processes: session is not a terminal")
	// ErrTerminating is returned by [Session.Pause] and [Session.PauseWith]
	// once the session's termination began ([Session.Terminate], or the
	// Forget, eviction or Shutdown that closed it): a paused tree could
	// not run the handler of its graceful signal.
	ErrTerminating = errors.New("processes: process is being terminated")
	// ErrClosed is returned once a session was forgotten or evicted, and by a
	// Manager after [Manager.Shutdown]. The reasons below wrap it.
	ErrClosed = errors.New("processes: session closed")
)

// Why a session was closed, as [Session.CloseReason] and [Session.WaitOutput]
// return it. Each wraps [ErrClosed], so errors.Is(err, ErrClosed) holds for
// every one of them.
var (
	// ErrIdleTimeout: the Manager's sweep evicted the session as idle.
	ErrIdleTimeout = fmt.Errorf("%w: idle timeout", ErrClosed)
	// ErrForgotten: [Manager.Forget] or [Manager.Remove] closed it.
	ErrForgotten = fmt.Errorf("%w: forgotten", ErrClosed)
	// ErrReplaced: another session was registered under its ID.
	ErrReplaced = fmt.Errorf("%w: replaced", ErrClosed)
	// ErrReclaimed: its slot was reclaimed for a new session past the
	// Manager's limits, after it had exited.
	ErrReclaimed = fmt.Errorf("%w: reclaimed", ErrClosed)
	// ErrShutdown: [Manager.Shutdown] closed it.
	ErrShutdown = fmt.Errorf("%w: manager shut down", ErrClosed)
)
