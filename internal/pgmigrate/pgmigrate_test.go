package pgmigrate_test

import (
	"context"
	"errors"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sessionkit/sessionkit/internal/pgmigrate"
	"github.com/sessionkit/sessionkit/internal/pgtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(pgtest.Wrap(m))
}

var errTooNew = errors.New("test: schema too new")

// set returns a Set over files, at version.
func set(files map[string]string, version int) pgmigrate.Set {
	fsys := fstest.MapFS{}
	for name, sql := range files {
		fsys["m/"+name] = &fstest.MapFile{Data: []byte(sql)}
	}
	return pgmigrate.Set{Pkg: "test", FS: fsys, Dir: "m", Version: version, LockKey: 0x7e57, VersionTable: "test_schema", TooNew: errTooNew}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		version int
		want    []int
		err     string
	}{
		{"sorted by number, so 10 comes third", map[string]string{"0002_b.sql": "B", "0001_a.sql": "A", "0010_j.sql": "J"}, 3, nil, "0010_j.sql: want version 3"},
		{"ordered", map[string]string{"0002_b.sql": "B", "0001_a.sql": "A"}, 2, []int{1, 2}, ""},
		{"no number", map[string]string{"init.sql": ""}, 1, nil, "name must start with a version number"},
		{"zero", map[string]string{"0000_a.sql": ""}, 1, nil, "name must start with a version number"},
		{"a gap", map[string]string{"0001_a.sql": "", "0003_c.sql": ""}, 2, nil, "0003_c.sql: want version 2"},
		{"more files than the version", map[string]string{"0001_a.sql": "", "0002_b.sql": ""}, 1, nil, "2 embedded migrations, SchemaVersion says 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := set(tt.files, tt.version).Load()
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				assert.Contains(t, err.Error(), "test: ")
				return
			}
			require.NoError(t, err)
			var got []int
			for _, m := range ms {
				got = append(got, m.Version)
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestMigrateUpgrades applies version 1, then only version 2 once a
// release adds it; a database at a newer version than the Set is refused
// with the Set's sentinel and left as it is.
func TestMigrateUpgrades(t *testing.T) {
	db := pgtest.New(t)
	ctx := t.Context()
	v1 := map[string]string{"0001_a.sql": "CREATE TABLE a (n int); INSERT INTO a VALUES (1)"}
	require.NoError(t, set(v1, 1).Migrate(ctx, db.Pool))
	require.NoError(t, set(v1, 1).Migrate(ctx, db.Pool), "a second run has nothing to do")

	v2 := map[string]string{"0001_a.sql": v1["0001_a.sql"], "0002_b.sql": "INSERT INTO a VALUES (2)"}
	require.NoError(t, set(v2, 2).Migrate(ctx, db.Pool))
	var sum, versions int
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT sum(n) FROM a").Scan(&sum))
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FROM test_schema").Scan(&versions))
	assert.Equal(t, 3, sum, "each migration ran once")
	assert.Equal(t, 2, versions)

	err := set(v1, 1).Migrate(ctx, db.Pool)
	assert.ErrorIs(t, err, errTooNew)
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FROM test_schema").Scan(&versions))
	assert.Equal(t, 2, versions, "a refused Migrate changes nothing")
}

// A failing migration rolls back everything of its run, the versions
// recorded included.
func TestMigrateFailureChangesNothing(t *testing.T) {
	db := pgtest.New(t)
	ctx := t.Context()
	files := map[string]string{"0001_a.sql": "CREATE TABLE a (n int)", "0002_b.sql": "INSERT INTO nowhere VALUES (1)"}
	err := set(files, 2).Migrate(ctx, db.Pool)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "test: migrate: 0002_b.sql: ")
	var n int
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1", db.Schema).Scan(&n))
	assert.Zero(t, n, "got %d tables after a failed Migrate", n)
}

// TestMigrateCurrentSchemaNeedsOnlyReads: on a schema already at the Set's
// version, Migrate succeeds over read-only connections, as those of a
// server whose role may not create in the schema; it ran CREATE TABLE IF
// NOT EXISTS first, which PostgreSQL refuses there even when the table
// exists. A schema to upgrade still needs to be written, and says so.
func TestMigrateCurrentSchemaNeedsOnlyReads(t *testing.T) {
	db := pgtest.New(t)
	ctx := t.Context()
	cfg, err := pgxpool.ParseConfig(db.URL)
	require.NoError(t, err)
	cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	ro, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer ro.Close()

	v1 := map[string]string{"0001_a.sql": "CREATE TABLE a (n int)"}
	require.Error(t, set(v1, 1).Migrate(ctx, ro), "precondition: the connections are read-only")
	require.NoError(t, set(v1, 1).Migrate(ctx, db.Pool))
	assert.NoError(t, set(v1, 1).Migrate(ctx, ro), "a current schema over read-only connections")

	v2 := map[string]string{"0001_a.sql": v1["0001_a.sql"], "0002_b.sql": "CREATE TABLE b (n int)"}
	assert.Error(t, set(v2, 2).Migrate(ctx, ro), "an upgrade over read-only connections")
	require.NoError(t, set(v2, 2).Migrate(ctx, db.Pool))
	assert.NoError(t, set(v2, 2).Migrate(ctx, ro), "the upgraded schema over read-only connections")
	assert.ErrorIs(t, set(v1, 1).Migrate(ctx, ro), errTooNew, "a newer schema over read-only connections")
}

// TestMigrateMigratesTheFirstSchemaOfThePath: a schema of its own first in
// the search_path is migrated even when a later one of the path is
// migrated already.
func TestMigrateMigratesTheFirstSchemaOfThePath(t *testing.T) {
	db := pgtest.New(t)
	ctx := t.Context()
	v1 := map[string]string{"0001_a.sql": "CREATE TABLE a (n int)"}
	require.NoError(t, set(v1, 1).Migrate(ctx, db.Pool))

	first := db.Schema + "_first"
	_, err := db.Pool.Exec(ctx, "CREATE SCHEMA "+first)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = db.Pool.Exec(context.Background(), "DROP SCHEMA "+first+" CASCADE") })
	cfg, err := pgxpool.ParseConfig(db.URL)
	require.NoError(t, err)
	cfg.ConnConfig.RuntimeParams["search_path"] = first + "," + db.Schema
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer pool.Close()

	require.NoError(t, set(v1, 1).Migrate(ctx, pool))
	var n int
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1", first).Scan(&n))
	assert.Equal(t, 2, n, "got %d tables in the first schema of the path, want the migration's and the versions'", n)
}
