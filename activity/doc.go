// Package activity decides when a session has been idle long enough to be
// hibernated, and hibernates it.
//
// It is the calculator of the hibernation design, free of any orchestrator: a
// [Session] is a small record (state, idle timeout, last activity, creation
// time, version) kept by a [Store]; [Status] turns one record and the current
// time into an [ActivityStatus]; a [Tracker] records activity, finds idle
// sessions, hibernates them with compare-and-set, and announces each
// hibernation to an optional [Publisher]. [MemoryStore] is a Store for tests
// and single-process programs; package pgstore is one on PostgreSQL, shared
// by many servers, and package storetest is the contract suite every Store
// must pass.
//
// # State rules
//
// [Status] is a pure function of the session, a grace period and now:
//
//   - The idle duration is now minus LastActivity, or minus CreatedAt when
//     LastActivity is nil, and is never negative: a timestamp in the future
//     counts as now.
//   - A session is idle when its idle duration is strictly greater than its
//     IdleTimeout and the IdleTimeout is positive. A negative IdleTimeout,
//     such as [NeverIdle], means never idle; 0 inherits the Tracker's
//     default ([WithIdleTimeout]), and means never idle where there is none,
//     as in [Status]. Active is the opposite of idle.
//   - A session should be hibernated when it is in state [StateRunning] and
//     its idle duration is strictly greater than IdleTimeout plus the grace
//     period. A negative grace period counts as 0.
//   - The status reports the LastActivity pointer as recorded: nil stays nil,
//     so a session nobody ever touched still goes to sleep, measured from its
//     creation.
//
// [Tracker.HibernateIdleSession] never acts on a stale read: it gets a fresh
// copy, re-checks its status, and stores the new state with compare-and-set;
// when another writer got there first it reads again and checks again, so a
// session that became active in between stays running and the call returns
// [ErrNotIdle].
//
// # Backing the Store with a real system
//
// A [Store] may sit on a database, a key-value store or an orchestrator's API.
// The Tracker's guarantees hold only if the Store keeps these promises:
//
//   - Update is an atomic compare-and-set on Version: it stores the session
//     only if the given Version equals the stored one, and otherwise stores
//     nothing and returns an error wrapping [ErrConflict]. Two Updates carrying
//     the same Version can never both succeed.
//   - Every successful Update increments the Version and returns the session
//     with it (the MemoryStore adds exactly one, and a created session has
//     Version 1), so a Version once read goes stale at the next write.
//   - Update of an absent session with Version 0 creates it; with any other
//     Version it returns an error wrapping [ErrNotFound], as Get does for an
//     absent session.
//   - Values returned are copies: a caller that changes what it got, including
//     the time LastActivity points to, changes nothing stored, and the Store
//     keeps no reference to the session passed to Update.
//   - List returns the sessions of exactly the namespace asked for.
//   - Each method returns an error wrapping ctx.Err() when its context is
//     done, and then changes nothing.
//   - A Store that implements [BatchRecorder] moves stamps forward only and
//     gives each session it changes the next Version.
//
// Package storetest checks all of this: run storetest.Run against your
// Store.
//
// # Write-behind
//
// Writing LastActivity on every keystroke cannot scale: ten million sessions
// touched every second are ten million writes a second. With
// [WithWriteBehind] a Tracker records activity in memory, keeps the latest
// stamp of each session, and writes all of them every interval in one batch
// ([BatchRecorder]), so a database sees at most one write per active session
// per interval. Stamps only move forward, the Tracker's own decisions use
// the newer of the stored and the pending stamp, and [Tracker.Flush] and
// [Tracker.Close] write what is pending. A crash loses at most one interval
// of activity (plus a flush in progress) and never makes a session look more
// recent than it was.
//
// # Concurrency
//
// [MemoryStore] and [Tracker] are safe for concurrent use. Several Trackers,
// in one process or many, may share a Store: compare-and-set arbitrates
// between them, and a Tracker retries a conflicting Update on a fresh copy,
// so idle monitors on several servers hibernate each session once and
// publish one event for it. The Tracker calls its Publisher and logger with
// no lock held.
//
// # Lifecycle
//
// A Tracker without write-behind holds no goroutine of its own; one with
// [WithWriteBehind] owns the goroutine that flushes, from [NewTracker] until
// [Tracker.Close], which writes what is pending and waits for it to exit.
// [Tracker.StartIdleMonitor] blocks
// its caller, runs the periodic check on the Tracker's clock through the sweep
// package, and returns once its context is done and the check in progress, if
// any, has finished; no goroutine survives it. Each tick is a call of
// [Tracker.HibernateIdle], which tests and custom schedulers may call
// directly.
//
// # What it does not do
//
// The package does not wake hibernated sessions, stop or start any process,
// or decide what counts as activity: callers report activity with
// [Tracker.UpdateSessionActivity] and act on hibernation through the
// Publisher's events or the Store. It does not retry a failed publish; the
// hibernation stands and the error is returned.
package activity
