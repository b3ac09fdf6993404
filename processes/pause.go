package processes

import (
	"context"
	"strconv"
)

// PauseMethod says how [Session.PauseWith] stops a session's process tree.
// The zero value is [PauseAuto], what [Session.Pause] does.
type PauseMethod uint8

const (
	// PauseAuto freezes the session's cgroup where it has one and sends
	// SIGSTOP to the tree otherwise: what Pause does.
	PauseAuto PauseMethod = iota
	// PauseFreeze freezes the session's cgroup (cgroup.freeze; the
	// processes cannot tell, and no signal is involved). Without a cgroup
	// it fails with an error for which errors.Is(err,
	// errors.ErrUnsupported) holds.
	PauseFreeze
	// PauseSignal sends SIGSTOP to every process of the tree, even where
	// the session has a cgroup (then to every member of the cgroup), and
	// waits until every thread of each is stopped. The processes can tell
	// (a parent sees SIGCHLD, a tracer the stop), as with a ^Z.
	PauseSignal
)

// String returns "auto", "freeze" or "signal".
func (m PauseMethod) String() string {
	switch m {
	case PauseAuto:
		return "auto"
	case PauseFreeze:
		return "freeze"
	case PauseSignal:
		return "signal"
	}
	return "PauseMethod(" + strconv.Itoa(int(m)) + ")"
}

// PauseWith is [Session.Pause] by the given method: [PauseFreeze] or
// [PauseSignal] whatever the session's containment, or [PauseAuto] as
// Pause chooses. [Session.Resume] undoes either: it thaws a frozen cgroup
// and sends SIGCONT to a stopped tree. It returns what Pause returns, nil
// for a session already paused (by whichever method), [ErrTerminating]
// once the session's termination began (one that begins while it waits
// undoes the pause, so that the tree runs the handler of its graceful
// signal), [ErrExited] once the process exited (likewise), an error for which
// errors.Is(err, errors.ErrUnsupported) holds for PauseFreeze without a
// cgroup, and [ErrInvalid] for an unknown method.
//
// A stop by signal waits until every thread is in the stopped state ("T"
// in /proc/<pid>/stat). A member traced by a debugger enters a tracing
// stop instead ("t"), which its tracer ends as it likes, possibly
// discarding the SIGSTOP: such a tree may never count as stopped, so give
// PauseSignal a ctx with a deadline. The cgroup freezer has no such
// exception.
func (s *Session) PauseWith(ctx context.Context, how PauseMethod) error {
	if how > PauseSignal {
		return ErrInvalid
	}
	proc, err := s.running()
	if err != nil {
		return err
	}
	return proc.pauseWith(ctx, how)
}
