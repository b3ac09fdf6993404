// Package processes keeps long-running process sessions: each session's
// stdout and stderr in a ring of at most [MaxBufferBytes] of
// sequence-numbered chunks, polled by Seq, and a [Manager] that evicts the
// sessions nobody uses.
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
// A session is created, either as a literal that the embedder feeds with
// [Session.Append] and [Session.SetExit], or by [Manager.Start] with a process
// behind it. It is registered in a Manager ([Manager.Register]) and stays
// there, running and then exited, until it is forgotten ([Manager.Forget]),
// replaced by a session with the same ID, or evicted by [Manager.Sweep]. A
// session is idle when now − LastActivity > IdleTimeout, strictly; an
// IdleTimeout <= 0 never evicts. [Session.SetExit] refreshes LastActivity, so
// an exited session stays one more idle window for its final polls.
//
// Forgetting, replacing and evicting close the session: its WaitOutput callers
// get [ErrClosed] and a process still running behind it is terminated.
//
// # Memory
//
// A session's buffer grows with what it retains, so a session that printed
// 100 bytes holds about 100 bytes, and a full one holds 1 MiB plus eight bytes
// per retained chunk and per remembered dropped chunk (at most 4,000). Append
// into a full ring does not allocate. OutputSince returns copies in two
// allocations however many chunks there are.
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
// session it registers do the same, so tests drive idleness with
// clock.NewMock() from github.com/benbjohnson/clock and call Sweep directly.
//
// # What it does not do
//
// It does not persist output, interpret it (chunks are raw bytes, not lines)
// or limit how fast a process writes: a session nobody polls keeps only the
// newest MaxBufferBytes.
package processes
