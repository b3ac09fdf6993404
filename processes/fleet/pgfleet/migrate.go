package pgfleet

import (
	"context"
	"embed"
	"errors"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessionkit/sessionkit/internal/pgmigrate"
)

var (
	// ErrSchemaTooNew is returned, wrapped, by [Migrate] when the database
	// holds a schema version newer than this package knows: a newer release
	// migrated it. Nothing is changed.
	ErrSchemaTooNew = errors.New("pgfleet: database schema is newer than this package")
	// ErrNotMigrated is returned, wrapped, by the Store's methods when its
	// table does not exist in the connection's schema: run [Migrate] first.
	ErrNotMigrated = errors.New("pgfleet: schema not migrated (run pgfleet.Migrate)")
)

// migrations are the schema's versions, applied in order: 0001_x.sql is
// version 1. A released file is never edited; changes come as new files.
//
//go:embed migrations/*.sql
var migrations embed.FS

// schema describes the migrations to internal/pgmigrate: the advisory
// lock's first key, the table of applied versions, and the sentinel of a
// schema too new.
var schema = pgmigrate.Set{
	Pkg:          "pgfleet",
	FS:           migrations,
	Dir:          "migrations",
	Version:      SchemaVersion,
	LockKey:      0x0f1e_e701, // "fleet", roughly
	VersionTable: "sessionkit_fleet_schema",
	TooNew:       ErrSchemaTooNew,
}

// SchemaVersion is the schema version this package migrates to and works
// with: the number of its embedded migrations.
const SchemaVersion = 1

// Migrate creates or upgrades the Store's tables in the first schema of the
// connections' search_path (their current_schema()), and returns once they
// are at [SchemaVersion]. It is idempotent, and safe when several servers
// run it at once: it works in one transaction that first takes a
// transaction-scoped advisory lock on (0x0f1ee701, hashtext(schema)), so one
// server migrates while the others wait and then find nothing left to do.
// Applied versions are recorded in the table sessionkit_fleet_schema. A
// schema already at SchemaVersion is found so with reads alone, before the
// lock, so that servers whose role may only read and write the tables (or
// whose connections are read-only) may call it too; creating or upgrading
// the schema needs the right to create in it.
//
// It returns an error wrapping [ErrSchemaTooNew] when the database was
// migrated by a newer release, ctx.Err() when ctx ends first, and the
// database's errors otherwise; on any error the transaction is rolled back
// and nothing is changed.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return schema.Migrate(ctx, pool)
}
