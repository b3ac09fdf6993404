// Package pgfleet is the fleet.Store of package fleet on PostgreSQL (pgx),
// shared by every host, dispatcher, reconciler and gateway of a fleet.
//
// [Store] keeps three tables: sessionkit_fleet_hosts (the registry, with
// the seats each host's sessions hold), sessionkit_fleet_sessions (where
// each session lives, its state) and sessionkit_fleet_commands (the
// durable commands, pending → sent → ack → completed | failed, with their
// times, attempts, lease and error). Each method is one statement or one
// short transaction:
//
//   - Place locks the least loaded fitting host (SELECT … ORDER BY
//     seats/capacity LIMIT 1 FOR UPDATE), takes a seat and writes the
//     session's record in one transaction, so concurrent placements from
//     any number of processes never overfill a host.
//   - Claim takes a host's sent commands, oldest first, with
//     FOR UPDATE SKIP LOCKED, so claimers never wait for each other nor
//     take the same command ("The Locking Clause", in the SELECT page of
//     the PostgreSQL documentation).
//   - Send and Complete NOTIFY in the same statement: hosts LISTEN on a
//     channel of their own and claim when woken, and gateways learn that a
//     start completed (see LISTEN and NOTIFY in the PostgreSQL
//     documentation; notifications are delivered at commit). Channel
//     names are a hash of the schema and the topic, so stores in separate
//     schemas of one database never wake each other.
//
// # Lifecycle
//
// [Migrate] creates or upgrades the tables in the connections' current
// schema; every process may call it at start (it is idempotent and takes
// an advisory lock). Then:
//
//	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
//	...
//	if err := pgfleet.Migrate(ctx, pool); err != nil { ... }
//	st := pgfleet.New(pool) // a fleet.Store
//
// The Store holds nothing to close; the pool is the caller's. Each
// Subscription holds a connection of its own (a listener cannot share a
// pooled one) and a goroutine, both released by its Close.
//
// # Concurrency
//
// A Store is safe for concurrent use by any number of goroutines and
// processes. The tests prove it with three host processes and a gateway,
// a dispatcher process killed with SIGKILL mid-batch and restarted, and
// eight claimers over 10,000 commands.
//
// # Platform support
//
// Any platform pgx supports, with PostgreSQL 13 or newer (the tests run
// against the server binaries of the machine, see internal/pgtest).
//
// # What it does not do
//
// It does not create the database or the pool, delete old commands,
// session records or hosts (archive them with a DELETE … WHERE done_at <
// … of your own; a host that left the fleet with
// DELETE FROM sessionkit_fleet_hosts h WHERE last_heartbeat < … AND NOT
// EXISTS (SELECT 1 FROM sessionkit_fleet_sessions WHERE host_id = h.id),
// as fleet.MemoryStore.Prune does: reconcilers forget it at their next
// pass, and its agent, should it come back, registers it again at its
// next beat), or keep times finer than microseconds.
package pgfleet
