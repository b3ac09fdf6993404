// Package fleettest is the contract suite of fleet.Store: every
// implementation runs [Run] in its tests, so that the fleet's components
// behave the same over each.
//
// The suite checks the registry (registration keeps counters, heartbeats
// count, unknown hosts are ErrNotFound), placement (least loaded by
// seats/capacity, the filters of SelectionCriteria, offline and
// disconnected hosts and those without capacity, a heartbeat online
// within the TTL on either side of now, ErrNoAgent when full, ErrExists
// for a session that holds a seat, concurrent placements that never
// overfill), text no Store can hold (refused with ErrInvalid where
// stored, naming nothing where looked up), session transitions and the
// seats they take and release (TransitionOn only on the record's host),
// and the command lifecycle: enqueue all-or-none, send and its lease,
// retries up to the attempt limit then failed, claims in order and per
// host, completion rules (ErrNotHeld, completing twice is harmless),
// notifications on the host's topic and DoneTopic, and concurrent
// claimers that never share a command.
//
// # Lifecycle
//
// Run calls newStore once per subtest; the Store is the caller's to clean
// up (with t.Cleanup).
//
// # Concurrency
//
// Subtests run one after the other; two of them run [Claimers] and
// [Placers] goroutines against one Store.
//
// # Platform support
//
// Wherever the Store under test runs.
//
// # What it does not do
//
// It does not test the dispatcher, agent, reconciler or gateway (package
// fleet's own tests do, over the memory Store and PostgreSQL), nor
// durability across restarts, which only a persistent Store has.
package fleettest
