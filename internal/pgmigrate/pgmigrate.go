package pgmigrate

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Set is one package's migrations and where their versions are recorded.
// Its fields are read, never changed; a Set is safe for concurrent use.
type Set struct {
	// Pkg prefixes the errors: "pgstore" gives "pgstore: migrate: …".
	Pkg string
	// FS holds the migrations in the directory Dir, each named
	// NNNN_name.sql: 0001_x.sql is version 1, and the versions run from 1
	// without a gap. A released file is never edited; changes come as new
	// files.
	FS  fs.FS
	Dir string
	// Version is the schema version the package works with; the number of
	// files must equal it.
	Version int
	// LockKey is the first key of the transaction-scoped advisory lock
	// Migrate takes; the second is hashtext(current_schema()), so that the
	// schemas of one database migrate independently.
	LockKey int32
	// VersionTable records the versions applied, in the current schema.
	VersionTable string
	// TooNew is the sentinel that Migrate wraps when the database holds a
	// version newer than Version.
	TooNew error
}

// current returns the version the current schema is at, 0 when it has no
// version table, with reads only. A version table in a later schema of the
// search_path is not the current schema's.
func (s Set) current(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	var exists bool
	err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relname = $1)`, s.VersionTable).Scan(&exists)
	if err != nil || !exists {
		return 0, err
	}
	var current int
	err = pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+s.VersionTable).Scan(&current)
	return current, err
}

// Migration is one file of a Set.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Load returns the Set's migrations in version order, or an error naming a
// file whose name has no version, a missing version, or a count that is
// not s.Version.
func (s Set) Load() ([]Migration, error) {
	entries, err := fs.ReadDir(s.FS, s.Dir)
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("%s: migration %s: name must start with a version number and _", s.Pkg, e.Name())
		}
		b, err := fs.ReadFile(s.FS, path.Join(s.Dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	slices.SortFunc(out, func(a, b Migration) int { return cmp.Compare(a.Version, b.Version) })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("%s: migration %s: want version %d", s.Pkg, m.Name, i+1)
		}
	}
	if len(out) != s.Version {
		return nil, fmt.Errorf("%s: %d embedded migrations, SchemaVersion says %d", s.Pkg, len(out), s.Version)
	}
	return out, nil
}

// Migrate brings the current schema (the first of the connections'
// search_path) to s.Version: in one transaction that first takes the
// advisory lock (s.LockKey, hashtext(current_schema())), so that one
// server migrates while the others wait and then find nothing to do, it
// applies the migrations not yet recorded in s.VersionTable and records
// them. It is idempotent. It returns an error wrapping s.TooNew when the
// database holds a newer version, ctx.Err() when ctx ends first, and the
// database's errors otherwise; on any error nothing is changed.
//
// A schema already at s.Version is found so with reads alone, before any
// lock or DDL, so that servers whose role may only read and write the
// tables, or whose connections are read-only, can call Migrate at start
// too; a schema to create or upgrade needs the right to create in it.
func (s Set) Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	ms, err := s.Load()
	if err != nil {
		return err
	}
	if current, err := s.current(ctx, pool); err == nil {
		switch {
		case current == s.Version:
			return nil
		case current > s.Version:
			return fmt.Errorf("%w: version %d, this package knows %d", s.TooNew, current, s.Version)
		}
	} // else the locked path below tells what is wrong
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("%s: migrate: %w", s.Pkg, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // after Commit, a no-op
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext(coalesce(current_schema(), '')))", s.LockKey); err != nil {
		return fmt.Errorf("%s: migrate: lock: %w", s.Pkg, err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+s.VersionTable+` (
		version    int PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return fmt.Errorf("%s: migrate: %w", s.Pkg, err)
	}
	var current int
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+s.VersionTable).Scan(&current); err != nil {
		return fmt.Errorf("%s: migrate: %w", s.Pkg, err)
	}
	if current > s.Version {
		return fmt.Errorf("%w: version %d, this package knows %d", s.TooNew, current, s.Version)
	}
	for _, m := range ms[current:] {
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("%s: migrate: %s: %w", s.Pkg, m.Name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO "+s.VersionTable+" (version) VALUES ($1)", m.Version); err != nil {
			return fmt.Errorf("%s: migrate: %s: %w", s.Pkg, m.Name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("%s: migrate: %w", s.Pkg, err)
	}
	return nil
}
