package pgfleet

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
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

// lockKey is the first key of the advisory lock Migrate takes; the second
// is a hash of the schema it migrates, so that different schemas of one
// database migrate independently.
const lockKey = 0x0f1e_e701 // "fleet", roughly

// versionTable records which migrations were applied.
const versionTable = "sessionkit_fleet_schema"

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations returns the embedded migrations in version order.
func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("pgfleet: migration %s: name must start with a version number and _", e.Name())
		}
		b, err := migrations.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("pgfleet: migration %s: want version %d", m.name, i+1)
		}
	}
	return out, nil
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
// Applied versions are recorded in the table sessionkit_fleet_schema.
//
// It returns an error wrapping [ErrSchemaTooNew] when the database was
// migrated by a newer release, ctx.Err() when ctx ends first, and the
// database's errors otherwise; on any error the transaction is rolled back
// and nothing is changed.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgfleet: migrate: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // after Commit, a no-op
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext(coalesce(current_schema(), '')))", lockKey); err != nil {
		return fmt.Errorf("pgfleet: migrate: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+versionTable+` (
		version    int PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return fmt.Errorf("pgfleet: migrate: %w", err)
	}
	var current int
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+versionTable).Scan(&current); err != nil {
		return fmt.Errorf("pgfleet: migrate: %w", err)
	}
	if len(ms) != SchemaVersion {
		return fmt.Errorf("pgfleet: %d embedded migrations, SchemaVersion says %d", len(ms), SchemaVersion)
	}
	if current > SchemaVersion {
		return fmt.Errorf("%w: version %d, this package knows %d", ErrSchemaTooNew, current, SchemaVersion)
	}
	for _, m := range ms[current:] {
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return fmt.Errorf("pgfleet: migrate: %s: %w", m.name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO "+versionTable+" (version) VALUES ($1)", m.version); err != nil {
			return fmt.Errorf("pgfleet: migrate: %s: %w", m.name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgfleet: migrate: %w", err)
	}
	return nil
}
