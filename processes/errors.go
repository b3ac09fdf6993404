package processes

import "errors"

// Errors returned by this package, usable with [errors.Is].
var (
	// ErrNotFound is returned for an ID the Manager does not hold.
	ErrNotFound = errors.New("processes: session not found")
	// ErrExited is returned for stdin written after the process exited.
	ErrExited = errors.New("processes: process exited")
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
	// ErrClosed is returned once a session was forgotten or evicted, and by a
	// Manager after [Manager.Shutdown].
	ErrClosed = errors.New("processes: session closed")
)
