// Package pgmigrate applies a package's embedded SQL migrations to the
// current schema of a PostgreSQL database, once each and in order. The
// PostgreSQL packages of the library (activity/pgstore,
// processes/fleet/pgfleet) each describe their migrations with a [Set]
// and call [Set.Migrate] from their own Migrate.
//
// # Lifecycle
//
// A migration is a file NNNN_name.sql whose number is its version; a
// released file is never edited, changes come as new files. [Set.Migrate]
// applies, in one transaction, the versions that the Set's version table
// does not record yet, and records them; a database at a newer version
// than the Set is refused with the Set's sentinel, and nothing changes.
//
// # Concurrency
//
// A Set is a value read by its methods, safe for concurrent use. Migrate
// is safe when several servers run it at once: it takes a
// transaction-scoped advisory lock (pg_advisory_xact_lock, keyed by the
// Set's LockKey and a hash of the schema) first, so one migrates while the
// others wait and then find nothing to do. A schema already at the Set's
// version is found so with reads alone, before the lock, so that Migrate
// needs no right to create where there is nothing to create.
//
// # Platform support
//
// Anywhere pgx runs; PostgreSQL 9.5 or newer for the statements it uses.
//
// # What it does not do
//
// No down migrations, no checksums of applied files, no migrations in Go
// code, and nothing outside the current schema. It is internal: its API
// may change with its callers.
package pgmigrate
