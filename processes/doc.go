// Package processes keeps long-running process sessions: each session's
// stdout and stderr in a ring of at most [MaxBufferBytes] of
// sequence-numbered chunks, polled by Seq, and a [Manager] that starts
// programs behind sessions, terminates them, and evicts the sessions nobody
// uses.
//
// A client polls with [Session.OutputSince] or [Session.Output], passing the
// Seq of the last chunk it saw (0 at first), and long-polls with
// [Session.WaitOutput]. When output outruns the ring, whole chunks are dropped
// from its head and the oldest survivor is cut at its front; the session
// counts exactly what was dropped ([Session.LostBytes]) and tells each cursor
// exactly what it missed ([Output].Missed).
//
// # Lifecycle
//
// A session goes through four stages:
//
//   - start: [Manager.Start] runs an exec.Cmd in its own process group and
//     registers its session; [Manager.Register] adds a session that the
//     embedder feeds itself with [Session.Append] and [Session.SetExit].
//   - running: output is read into the ring as it comes, whether anyone
//     polls or not; [Session.Write], [Session.CloseStdin], [Session.Signal],
//     [Session.Resize] (terminals) and [Session.Terminate] act on the
//     process.
//   - exited: once the process exited and all of its output is in the ring,
//     the exit is recorded (128+N for a process killed by signal N; the
//     whole story in [Session.ExitStatus]), [Session.Done] is closed and
//     polls report Alive false. The exit counts as activity whatever the
//     session's [Activity], so the session stays registered one more idle
//     window for final polls.
//   - closed: [Manager.Sweep] (every sweep interval after [Manager.Run])
//     evicts a session idle for more than its idle timeout: now −
//     LastActivity > IdleTimeout, strictly; a timeout <= 0 never evicts.
//     [Manager.Forget], [Manager.Remove], registering another session under
//     the same ID, reclaiming an exited session's slot past the limits, and
//     [Manager.Shutdown] close a session the same way. [Session.CloseReason]
//     tells which: [ErrIdleTimeout], [ErrForgotten], [ErrReplaced],
//     [ErrReclaimed] or [ErrShutdown], each an [ErrClosed].
//
// What counts as activity is the session's [Activity]: output and connected
// clients by default, input and polls on request. A connected client (a
// long poll in [Session.WaitOutput], or any [Session.Hold], which package
// httpapi takes for each event stream) keeps such a session from being
// evicted however silent it is, unless the Manager was made
// [WithCullConnected](true). Terminals count input alone: an idle terminal
// closes whoever watches it.
//
// An idle timeout means the same everywhere: zero inherits the enclosing
// default (a session's from its Manager), a negative value such as
// [NeverIdle] never idles out; a Manager's own zero means never.
//
// Each session registered under an ID has its own [Session.InvocationID],
// which every poll carries, so a client that kept a cursor from an earlier
// session under the same ID can tell.
//
// # Containment and termination
//
// On Linux each session's process tree lives in a cgroup v2 of its own,
// under a cgroup the Manager creates for itself: in the parent given with
// [WithCgroup], or by default in the host process's own cgroup where it may
// create groups (a delegated subtree; as root, any). The child is started
// inside its cgroup (clone3 CLONE_INTO_CGROUP), so nothing it forks, setsid
// or environment-cleared or double-forked, can leave the session. Where no
// writable cgroup2 exists, or with [WithoutCgroup], the Manager falls back
// to the process group and a walk of /proc, says so once at Info, and
// [Manager.Containment] reports which mode is in use and why.
//
// Closing a session that still has a process behind it terminates the
// process: the graceful signal (SIGTERM, or SIGHUP for a terminal) and then
// SIGCONT, so that a stopped process runs its handler (as systemd.kill(5)
// does); a frozen cgroup is thawed first. With a cgroup the signals go to
// every member (cgroup.procs); in the fallback, to the process group and
// every descendant found in /proc by parent links, by group and session and
// by an environment cookie that descendants inherit. SIGKILL follows after
// the kill grace ([WithKillGrace], five seconds by default), each session on
// its own timer: cgroup.kill, or the fallback's signals. The child is reaped
// by the Manager, and what is left of its tree is killed once it is and
// waited for until it is gone: with a cgroup, cgroup.kill and then
// cgroup.events "populated 0", after which the cgroup is removed; in the
// fallback, scans of /proc until one finds nothing. Descendants that hold
// the output pipes open after the process exited are given the wait delay
// ([WithWaitDelay]) before the pipes are closed, so Done never hangs on
// them. Nothing outlives its session.
//
// What the fallback cannot see, it cannot kill: a descendant that clears its
// environment and leaves the process group, the session and the tree (its
// parent exits) between two scans.
//
// Forget, eviction and the other closes terminate in the background;
// [Session.Terminate] waits until the process and every descendant it
// signalled are gone (ptyterm's Close uses it), and [Manager.Shutdown]
// waits for every session, returning by the end of its context in any case.
//
// No process is ever signalled by a pid that may have been reused: the
// leader's process group only while the leader is unreaped (a zombie keeps
// its pid), every other process through a pidfd opened after checking that
// its pid still names the process found, or its cgroup (pidfd_open(2),
// pidfd_send_signal(2)).
//
// When the host process dies, so do the sessions. Every child carries a
// parent-death SIGKILL (PR_SET_PDEATHSIG), from a thread the Manager keeps
// for forking while it has processes (the kernel ties the signal to the
// forking thread). With cgroups, a small watchdog process per Manager,
// outside its cgroup, waits on a pipe only the host writes to; when the
// host dies, it writes cgroup.kill of the Manager's cgroup, which kills
// every process of every session, and the next Manager under the same
// parent removes the groups left behind. In the fallback only the sessions'
// own processes die with the host; their descendants live on.
//
// # Pause, usage and limits
//
// [Session.Pause] freezes a session's tree (cgroup.freeze; SIGSTOP to every
// member found in the fallback) and [Session.Resume] thaws it;
// [Session.PauseWith] chooses the method, so that a tree can be stopped
// by signal (each thread in state T, as job control does) even in a
// cgroup. Terminating a paused session resumes it first, so that its
// handlers run, and a Pause once termination began returns
// [ErrTerminating]. Package processes/wake puts idle programs to sleep
// this way.
// [Session.Usage] reads CPU time, processes and, where the memory
// controller is enabled, memory (cgroup files, or /proc in the fallback),
// and [ActivityCPU] makes CPU use count as activity. [StartOptions].Limits
// sets memory.max, pids.max and cpu.max where their controllers are
// enabled, and fails with an errors.ErrUnsupported error naming the
// controller where they are not, never silently; limits that cannot be
// valid (negative, NaN, CPUMax below 0.01) are [ErrInvalid] in every mode.
//
// # The caller's command
//
// Start runs the caller's *exec.Cmd and finishes it the way os/exec
// expects: once the child has exited (a pidfd tells, without a thread),
// the Manager calls cmd.Wait, which reaps it at once, sets cmd.ProcessState
// and retires the goroutine that exec.CommandContext keeps. Nothing else
// writes to the command after Start returns: cmd.Process.Pid stays valid.
// cmd.SysProcAttr is kept, with the session's own process group (or the
// session leader's, with Setsid), cgroup and pidfd set over it; fields
// that contradict the session (a Pgid of another group; on pipes Setctty,
// Noctty, Foreground) are [ErrInvalid].
// A command made with exec.CommandContext is cancelled as os/exec documents
// when its context ends: cmd.Cancel (by default SIGKILL to the child
// alone) and cmd.WaitDelay are honoured, and the session records the exit.
// Give it a context that lives as long as the session should, not a
// request's.
//
// # Memory and threads
//
// A session's buffer grows with what it retains, so a session that printed
// 100 bytes holds about 100 bytes, and a full one holds 1 MiB plus eight bytes
// per retained chunk and per remembered dropped chunk (at most 4,000). Output
// is read straight into the ring, and Append into a full ring does not
// allocate. The readers add to the newest chunk while no poll has returned
// it and no cursor is at it (a poll, wait or [Session.LastSeq] at its Seq),
// so a child writing a byte at a time makes chunks as small as the polls,
// not as its writes, and a reader never misses what is added. A poll copies what it returns: [Session.Page]
// bounds that by bytes, counting each chunk's framing, and can merge runs
// of one stream into one chunk, so a server's memory per request follows
// the bytes it returns, not the number of chunks. A running session costs
// at most three goroutines and no OS thread: exits are waited for on a
// pidfd and pipes are read through the runtime poller.
//
// Byte counts are kept in 64 bits. LostBytes and Missed are returned as
// int, as the seed API has them, and saturate at math.MaxInt where int is
// 32 bits (2 GiB − 1). Seq is an int too: where it is 32 bits, a session
// numbers at most 2,147,483,647 chunks, and output after that joins the
// newest chunk, which a reader that already received it does not get
// again nor count as missed.
//
// # Concurrency
//
// Every method of Session and Manager is safe for concurrent use. No lock is
// held while a Manager logs. [Manager.Sweep] scans the table shard by shard
// under read locks, so it never holds off [Manager.Get] for the whole scan.
//
// # Time
//
// A Manager reads time from the clock given with [WithClock], and makes every
// session it registers do the same, so tests drive idleness, kill graces and
// wait delays with clock.NewMock() from github.com/benbjohnson/clock and call
// Sweep directly. Elapsed time is always the difference of two readings of
// that clock by time.Time.Sub, which uses their monotonic parts whenever
// both have one, as the real clock's do: a step of the system's wall clock
// neither evicts an active session nor keeps an idle one.
//
// # Platform support
//
// Sessions, the Manager and the sweep work everywhere. Starting processes
// needs Linux (pidfds from 5.3, /proc); elsewhere [Manager.Start] returns an
// error for which errors.Is(err, errors.ErrUnsupported) holds. Without
// pidfds, waiting for an exit falls back to a blocked thread per process.
// Containment in cgroups needs cgroup v2 with clone3 (Linux 5.7) and
// cgroup.kill (5.14).
//
// # What it does not do
//
// It does not persist output, interpret it (chunks are raw bytes, not lines)
// or slow a process down: a session nobody polls keeps only the newest
// MaxBufferBytes. It does not decide what may run: that is the embedder's
// job.
package processes
