package processes

import (
	"fmt"

	"github.com/sessionkit/sessionkit/internal/cgroup"
)

// Containment says how a Manager keeps track of its sessions' process
// trees, as [Manager.Containment] reports it.
//
// With a cgroup (Linux cgroup v2), each session's tree lives in a cgroup of
// its own, entered at clone time, so that nothing it forks can leave it:
// termination signals every member and ends with cgroup.kill, Pause
// freezes, Usage reads the cgroup's files, limits apply, and a watchdog
// process kills every session if the host process dies. Without one, the
// Manager falls back to the process group and a walk of /proc, which
// misses a descendant that clears its environment and leaves the group and
// the tree before a scan; when the host dies, only the sessions' direct
// children die with it (their parent-death signal).
type Containment struct {
	// Cgroup is the directory of the Manager's own cgroup, under which
	// each session has one; empty in the fallback.
	Cgroup string
	// Err says why there is no cgroup: nil with one, or an error for which
	// errors.Is(err, errors.ErrUnsupported) holds where cgroup v2 is not
	// available or not writable, or the error of WithoutCgroup's choice.
	Err error
}

// String describes the containment in one line, for logs.
func (c Containment) String() string {
	if c.Cgroup != "" {
		return "cgroup " + c.Cgroup
	}
	if c.Err == nil {
		return "undecided: no process started yet"
	}
	return "process group and /proc walk: " + c.Err.Error()
}

// Limits are resource limits of one session's process tree, applied to its
// cgroup ([StartOptions].Limits). The zero Limits limits nothing. A limit
// needs its cgroup controller enabled for the Manager's cgroup
// (cgroup.subtree_control); where it is not, or without a cgroup, Start
// fails with an error for which errors.Is(err, errors.ErrUnsupported) holds
// and that names the controller, rather than run without the limit. A
// negative or NaN limit, or a CPUMax below 0.01, makes Start fail with
// [ErrInvalid], with a cgroup or without.
type Limits struct {
	// MemoryMax is the most memory, in bytes, the tree may use before the
	// kernel's OOM killer acts in it: memory.max. The session's
	// ExitStatus counts the processes it killed.
	MemoryMax int64
	// PidsMax is the most processes and threads the tree may hold; fork
	// fails with EAGAIN beyond it: pids.max.
	PidsMax int64
	// CPUMax is how many CPUs' worth of time the tree may use, such as 0.5
	// for half of one: cpu.max, with a 100 ms period; at least 0.01.
	CPUMax float64
}

// validate returns an error wrapping ErrInvalid for a limit no kernel
// accepts, whatever the containment, so that a Manager with a cgroup and
// one without refuse the same Limits for the same reason.
func (l Limits) validate() error {
	if err := cgroup.Limits(l).Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}
