package fleet

import "errors"

// Errors of package fleet, usable with errors.Is. Functions wrap them with
// what they were doing.
var (
	// ErrNoAgent is returned by [AgentSelector.SelectAgent] and
	// [AgentSelector.Place] when no host is online, connected (if
	// required), matching the criteria and with a free seat.
	ErrNoAgent = errors.New("fleet: no agent fits the criteria")
	// ErrNotFound is returned for an unknown host, session or command.
	ErrNotFound = errors.New("fleet: not found")
	// ErrExists is returned when a session ID is placed while a session of
	// that ID still holds a seat, or a command ID is enqueued twice.
	ErrExists = errors.New("fleet: already exists")
	// ErrQueueFull is returned by [CommandDispatcher.DispatchCommand] when
	// its queue holds GetQueueCapacity commands: nothing was stored, the
	// caller may retry later. It never blocks.
	ErrQueueFull = errors.New("fleet: command queue is full")
	// ErrStopped is returned by a dispatcher after Stop, and by a Gateway
	// after Close.
	ErrStopped = errors.New("fleet: stopped")
	// ErrInvalid is returned for a malformed host, command or option, or
	// text a Store cannot hold (see [Store]).
	ErrInvalid = errors.New("fleet: invalid argument")
	// ErrRunning is returned by [Agent.Run] while another Run of the
	// same Agent runs.
	ErrRunning = errors.New("fleet: agent already running")
	// ErrNotHeld is returned by Store.Complete when the command is not
	// acknowledged by the host that completes it.
	ErrNotHeld = errors.New("fleet: command not held by this host")
)
