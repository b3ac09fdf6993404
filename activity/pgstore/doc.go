// Package pgstore keeps the sessions of package activity in PostgreSQL, so
// that the Trackers and idle monitors of many servers share one view and one
// idle policy, and a hibernation decision survives a restart.
//
// [Store] is an activity.Store over a pgx pool (github.com/jackc/pgx/v5):
// one row per session in the table sessionkit_activity_sessions, whose
// primary key (namespace, name) is the index that List, Get and every write
// use. Compare-and-set goes through a version column, in one statement
// (UPDATE … WHERE version = $v); creating is an INSERT that conflicts with
// an existing row. Store is also an activity.BatchRecorder: a Tracker with
// activity.WithWriteBehind flushes all the sessions touched in an interval
// with one UPDATE from arrays, so write load grows with the number of
// active sessions per interval, not with the rate of activity. It passes
// the contract suite of package storetest.
//
// # Lifecycle
//
// The schema ships in the package and is applied by [Migrate], which every
// server may call at start: it is idempotent and takes an advisory lock, so
// servers starting together migrate once. Then:
//
//	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
//	...
//	if err := pgstore.Migrate(ctx, pool); err != nil { ... }
//	tr := activity.NewTracker(pgstore.New(pool), activity.WithWriteBehind(10*time.Second))
//	defer tr.Close(ctx)
//	tr.StartIdleMonitor(ctx, "team", time.Minute) // blocks until ctx ends
//
// The tables go in the connections' current schema (the first of their
// search_path), so one database can hold several independent stores. The
// Store holds no goroutine and nothing to close; the pool is the caller's.
//
// # Concurrency
//
// A Store is safe for concurrent use, and any number of servers may share
// the database: each write is one statement, the database decides every
// compare-and-set, and batched activity from several servers never
// deadlocks (stamps are sent in key order, and a statement the database
// still aborts as a deadlock victim is run again). Several idle monitors
// over one database hibernate each idle session once and publish one event
// for it; the tests prove this with three processes and 1,000 sessions.
//
// # Platform support
//
// Any platform pgx supports, with PostgreSQL 13 or newer (the tests run
// against the server binaries of the machine, see internal/pgtest).
//
// # What it does not do
//
// It does not create the database or the pool, delete sessions (no Store
// does), expire old rows, listen for changes (LISTEN/NOTIFY), or keep times
// finer than PostgreSQL's microseconds.
package pgstore
