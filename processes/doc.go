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
//     the exit is recorded (128+N for a process killed by signal N),
//     [Session.Done] is closed and polls report Alive false. The session
//     stays registered for final polls, one more idle window at least.
//   - evicted: [Manager.Sweep] (every sweep interval after [Manager.Run])
//     evicts a session idle for more than its idle timeout: now −
//     LastActivity > IdleTimeout, strictly; a timeout <= 0 never evicts.
//     [Manager.Forget], [Manager.Remove], registering another session under
//     the same ID, and [Manager.Shutdown] end a session the same way.
//
// What counts as activity is the session's [Activity]: output by default,
// input and polls on request.
//
// # Termination
//
// Ending a session that still has a process behind it terminates the
// process: the graceful signal (SIGTERM, or SIGHUP for a terminal) to its
// process group and to every descendant that left it, found in /proc by
// parent links and by an environment cookie that descendants inherit; then
// SIGKILL after the kill grace ([WithKillGrace], five seconds by default).
// The child is reaped by the Manager, and what is left of its tree is killed
// once it is. Descendants that hold the output pipes open after the process
// exited are given the wait delay ([WithWaitDelay]) before the pipes are
// closed, so Done never hangs on them. Nothing outlives its session.
//
// # Memory and threads
//
// A session's buffer grows with what it retains, so a session that printed
// 100 bytes holds about 100 bytes, and a full one holds 1 MiB plus eight bytes
// per retained chunk and per remembered dropped chunk (at most 4,000). Output
// is read straight into the ring, and Append into a full ring does not
// allocate. A running session costs at most three goroutines and no OS
// thread: exits are waited for on a pidfd and pipes are read through the
// runtime poller.
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
// Sweep directly.
//
// # Platform support
//
// Sessions, the Manager and the sweep work everywhere. Starting processes
// needs Linux (pidfds from 5.3, /proc); elsewhere [Manager.Start] returns an
// error for which errors.Is(err, errors.ErrUnsupported) holds. Without
// pidfds, waiting for an exit falls back to a blocked thread per process.
//
// # What it does not do
//
// It does not persist output, interpret it (chunks are raw bytes, not lines)
// or slow a process down: a session nobody polls keeps only the newest
// MaxBufferBytes. It does not decide what may run: that is the embedder's
// job.
package processes
