package processes

import "time"

// Usage is what a session's process tree uses at one instant, as
// [Session.Usage] reads it. Fields whose source is absent are reported as
// such (the OK fields), never as zero.
type Usage struct {
	// CPU is the CPU time (user and system) the tree used so far: the
	// cgroup's cpu.stat usage_usec, which cgroup v2 keeps without any
	// controller; without a cgroup, the sum over the leader (with its
	// reaped children) and every live descendant found of utime and stime
	// from /proc/<pid>/stat, in USER_HZ ticks (10 ms), so that the time of
	// a descendant that exited and was reaped by another process is lost.
	CPU time.Duration
	// Memory is the cgroup's memory.current in bytes, where the memory
	// controller is enabled for it (MemoryOK).
	Memory   int64
	MemoryOK bool
	// MemoryPeak is the cgroup's memory.peak in bytes (MemoryPeakOK).
	MemoryPeak   int64
	MemoryPeakOK bool
	// OOMKills counts the processes the kernel killed for want of memory
	// in the cgroup: memory.events oom_kill (OOMKillsOK).
	OOMKills   int64
	OOMKillsOK bool
	// Procs is the number of processes in the tree.
	Procs int
	// At is when it was read, on the Manager's clock.
	At time.Time
}
