package processes

import (
	"strconv"
	"syscall"
	"time"
)

// ExitStatus is how a session's process ended, as os.ProcessState tells it,
// kept with the session. The zero value is a process that exited with
// status 0.
type ExitStatus struct {
	// Code is the status the process passed to exit(2), or -1 when it was
	// killed by a signal or its status was lost.
	Code int
	// Signal is the signal that killed the process, 0 if it exited.
	Signal syscall.Signal
	// CoreDump reports that the process dumped core as it was killed.
	CoreDump bool
	// Lost reports that the status could not be collected because code
	// outside the Manager reaped the child first (waitid's ECHILD); Code is
	// -1 then.
	Lost bool
	// OOMKills counts the processes of the session's cgroup that the
	// kernel's OOM killer killed, up to the exit (memory.events oom_kill):
	// non-zero says why a process died of SIGKILL. It is 0 where unknown:
	// without a cgroup or its memory controller.
	OOMKills int64
	// At is when the exit was recorded, on the session's clock.
	At time.Time
}

// recorded returns the code that polls report: Code, 128+N for a process
// killed by signal N, -1 for a lost status.
func (e ExitStatus) recorded() int {
	switch {
	case e.Lost:
		return -1
	case e.Signal != 0:
		return 128 + int(e.Signal)
	}
	return e.Code
}

// String describes the exit as a shell would: "exit status 1", "signal:
// killed" (with " (core dumped)" where it did), or "exit status lost".
func (e ExitStatus) String() string {
	switch {
	case e.Lost:
		return "exit status lost"
	case e.Signal != 0:
		s := "signal: " + e.Signal.String()
		if e.CoreDump {
			s += " (core dumped)"
		}
		return s
	}
	return "exit status " + strconv.Itoa(e.Code)
}
