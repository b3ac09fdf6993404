package wake

import "errors"

// Errors returned by this package, usable with [errors.Is].
var (
	// ErrInvalidSpec is returned by [Group.Add] for a spec that cannot
	// work: no ID, no Command, an unknown Mode or Condition, a negative
	// timeout, or an Upstream that is not host:port.
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
	// ErrHeld is returned by [Unit.Sleep] while a hold is open or a wake
	// is in flight.
	ErrHeld = errors.New("wake: unit is held")
	// ErrClosed is returned once the group was shut down.
	ErrClosed = errors.New("wake: group shut down")
)
