package cgroup

import "time"

// Usage is what a group has used, as [Group.Usage] read it. Fields whose
// file the kernel does not offer for the group (its controller is not
// enabled, or the kernel predates it) are absent: their OK field is false
// and the value 0, which is not a reading of zero. The zero Usage is no
// reading at all (its At is zero).
type Usage struct {
	// CPU is the CPU time used by the group and its descendants, now and
	// in the past (cpu.stat usage_usec, in microseconds; the kernel keeps
	// it without the cpu controller, cgroup-v2.rst, "CPU Interface Files").
	CPU time.Duration

	// Memory is memory.current in bytes: the memory used by the group and
	// its descendants now (cgroup-v2.rst, "Memory Interface Files").
	Memory   int64
	MemoryOK bool

	// MemoryPeak is memory.peak in bytes: the most Memory has been since
	// the group was created (Linux 5.19).
	MemoryPeak   int64
	MemoryPeakOK bool

	// OOMKills is memory.events oom_kill: how many processes of the group
	// and its descendants the OOM killer killed.
	OOMKills   int64
	OOMKillsOK bool

	// Procs is the number of processes in the group and its descendants
	// (their cgroup.procs), zombies excluded.
	Procs int

	// At is when the files were read: time.Now() after reading them,
	// with its monotonic clock reading, so that the CPU used between two
	// readings can be divided by At's difference.
	At time.Time
}
