package wake

import "errors"

// Errors returned by this package, usable with [errors.Is].
var (
	// ErrInvalidSpec is returned by [Group.Add] for a spec that cannot
	// work: no ID, no Command, an unknown Mode or Condition, a negative
	// timeout, an Upstream or TCP probe address that is not host:port
	// with a port number from 1 to 65535, or an HTTP probe URL that is
	// neither a path nor an http or https URL with a host.
	ErrInvalidSpec = errors.New("wake: invalid spec")
	// ErrDuplicate is returned by [Group.Add] for a unit ID in use.
	ErrDuplicate = errors.New("wake: unit ID in use")
	// ErrUnknownDependency is returned by [Group.Add] for a DependsOn
	// naming no unit of the group nor of the same call.
	ErrUnknownDependency = errors.New("wake: unknown dependency")
	// ErrCycle is returned by [Group.Add] when the units' dependencies
	// form a cycle: a unit could never wake.
	ErrCycle = errors.New("wake: dependency cycle")
	// ErrWakeTimeout is returned by [Unit.Wake] when the wake did not
	// finish within the unit's WakeTimeout, dependencies included. It comes
	// wrapped with context.DeadlineExceeded, so errors.Is holds for both.
	ErrWakeTimeout = errors.New("wake: wake timed out")
	// ErrExitedBeforeReady is returned by a wake whose process exited
	// before its probe said it was ready.
	ErrExitedBeforeReady = errors.New("wake: process exited before it was ready")
	// ErrAddrInUse is returned by a wake that found, before starting the
	// unit's process, something accepting connections at an address the
	// process is to serve on: the unit's Upstream, or the address of its
	// TCP or HTTP probe. Another program listens there (a server started
	// by hand, an orphan of an earlier run), so the unit's own program
	// could not, and its probe would pass against the other one. The
	// error names the address. A unit whose own process is kept (frozen
	// or paused) is not checked when it resumes.
	ErrAddrInUse = errors.New("wake: address in use")
	// ErrHeld is returned by [Unit.Sleep] while a hold is open or a wake
	// is in flight.
	ErrHeld = errors.New("wake: unit is held")
	// ErrClosed is returned once [Group.Shutdown] began.
	ErrClosed = errors.New("wake: group shut down")
)
