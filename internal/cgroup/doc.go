// Package cgroup puts processes in cgroup v2 groups and acts on a group as
// a whole: it starts children inside a group atomically, signals, kills,
// freezes and thaws every process in it, waits for it to be empty without
// polling, reads its usage, sets its limits, and reaps groups left behind by
// a process that died. It is the containment of sessionkit's sessions: a
// session's processes, however they fork, setsid or clear their
// environment, stay in its group, and nothing in the group outlives a
// [Group.Kill].
//
// Every behaviour comes from the kernel's cgroup v2 interface, documented
// in Documentation/admin-guide/cgroup-v2.rst; the doc comments name the
// section and the file each one uses.
//
// # Lifecycle
//
// Find the cgroup2 mount with [Mount] and this process's group with [Self];
// [Writable] tells whether a directory is delegated to this process. Make a
// group with [Create] (or [CreateOwned], whose name records this process as
// its owner), or take an existing one with [Open]. Start a child in it
// with
//
//	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: g.FD()}
//
// which clones the child directly into the group (clone3 CLONE_INTO_CGROUP,
// Linux 5.7): no instruction of it, and no process it forks, ever runs
// outside. Then [Group.Signal] for a graceful stop, [Group.Kill] to end
// everything, [Group.WaitEmpty] until the last process is gone,
// [Group.Remove] to remove the directory and [Group.Close] to release the
// descriptor. [Group.Freeze] and [Group.Thaw] pause and resume the group,
// [Group.Usage] reads its CPU time, memory and process count, and
// [Group.SetLimits] writes memory.max, pids.max and cpu.max.
//
// A process that dies without cleaning up leaves its groups, and maybe
// processes in them, behind. [ReapStale] finds the groups whose recorded
// owner is gone (see [Owner]), kills their processes and removes them.
//
// # Concurrency
//
// A [Group] is safe for concurrent use. [Group.Close] may race with other
// calls: those in flight finish with the descriptor, later ones return
// [ErrClosed]. The package starts no goroutine that outlives a call, and
// blocking calls ([Group.WaitEmpty], [Group.Freeze], [Group.Thaw],
// [ReapStale]) wait in the Go runtime's network poller, holding no OS
// thread, and return ctx.Err() when their context ends.
//
// # Platform support
//
// Linux only; elsewhere every function that would touch a cgroup returns an
// error for which errors.Is(err, errors.ErrUnsupported) holds, [Writable]
// and [Stale] report false, and [Owned], which only parses a name, works. The kernel features used,
// by the version that brought them: cgroup.freeze and "frozen" in
// cgroup.events (5.2), pidfd_open (5.3), CLONE_INTO_CGROUP (5.7),
// cgroup.kill (5.14; [Group.Kill] falls back to freezing and signalling
// through pidfds before), memory.peak (5.19, absent from [Usage] before).
// Limits and memory figures need their controllers enabled for the group
// (cgroup.controllers); where they are not, [Group.SetLimits] fails with an
// error naming the controller and [Usage] reports the figures absent. The
// core files and the CPU time work with no controller at all, as on hybrid
// hosts whose controllers are all on cgroup v1 mounts.
//
// The kernel rate-limits the notifications of a change in cgroup.events to
// one per 10 ms per file (3 jiffies at HZ=250, 12 ms) and drops a held-back
// one when the group is removed; the documentation does not say so. So
// [Group.Freeze] may see "frozen 1" up to that late after an earlier change
// of the same file, and [Group.WaitEmpty] watches the pidfds of the group's
// last processes as well, to learn of their end at once.
//
// # What it does not do
//
// It does not mount cgroupfs, set up delegation (chown a subtree to a user)
// or enable controllers anywhere but where asked ([Group.EnableControllers]);
// it never moves an existing process between groups (it writes no
// cgroup.procs) and does not use threaded groups or cgroup v1. It does not
// reap child processes: the caller waits for the children it started
// (os/exec's Cmd.Wait), and [Group.WaitEmpty] ends when the group's
// processes have exited, zombies or not. Ownership records name a process
// by pid and start time in this process's pid namespace; reapers in another
// pid namespace cannot tell whether an owner is alive.
package cgroup
