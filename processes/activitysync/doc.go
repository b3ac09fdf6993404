// Package activitysync reports the sessions of a processes.Manager into an
// activity.Store, so that a fleet-wide view and idle policy (several hosts'
// sessions in one store, such as package pgstore's, with the idle monitors
// of package activity) see every host session with the same ActivityStatus
// as the host.
//
// A [Bridge] keeps, for each session, one record in the Store: its ID as
// Name, its workspace as Namespace (or what [Options.Namespace] says), its
// state (processes.StateRunning, StateExited or StateClosed), its effective
// idle timeout (the session's own or its Manager's; activity.NeverIdle for
// never) and its last activity as [processes.Session.ActivityStatus]
// reports it, a connected client counting as activity now. Each
// [Bridge.Sync] reads the sessions in memory and writes only what changed:
// a new session is created in the Store, a changed state or idle timeout is
// written with compare-and-set, and newer activity goes through the
// Tracker's [activity.Tracker.RecordActivity], which with
// activity.WithWriteBehind is batched: a session busy all the time costs
// one write per write-behind interval. A session that leaves the listing
// (forgotten, evicted) is recorded as closed and then forgotten by the
// Bridge.
//
// The Bridge never wakes a session: a stored state of activity.StateHibernated,
// set by an idle monitor, is left as is while the host's session runs, and
// replaced when the host's session exits or closes, which is what a
// Publisher acting on the hibernation usually brings about, or when another
// session replaces it under the same ID (a wake), even between two Syncs.
//
// # Where the sessions come from
//
// [Options.Sessions] lists the sessions to report at each Sync. package
// processes does not offer a way to iterate a Manager's sessions, so the
// embedder lists what it started or registered (see the package example);
// a Manager iterator, when there is one, plugs in as is.
//
// # Lifecycle
//
// A Bridge holds no goroutine of its own: [Bridge.Run] blocks its caller and
// runs Sync every interval of the Bridge's clock until its context ends,
// and tests call Sync directly. The Tracker's write-behind, if any, is the
// Tracker's: close the Tracker after the last Sync to write what is pending.
//
// # Concurrency
//
// A Bridge is safe for concurrent use; Syncs run one at a time. The
// Sessions function is called with no lock held.
//
// # Platform support
//
// Wherever package processes builds; sessions registered by the embedder,
// with no process behind them, work everywhere.
//
// # What it does not do
//
// It does not read the Store back into the Manager, stop or wake processes,
// or delete records: closed sessions stay in the Store as closed.
package activitysync
