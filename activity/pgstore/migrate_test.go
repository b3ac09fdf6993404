package pgstore_test

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/activity/pgstore"
	"github.com/sessionkit/sessionkit/internal/pgtest"
)

// versions returns the schema versions recorded as applied.
func versions(t *testing.T, pool *pgxpool.Pool) []int {
	t.Helper()
	rows, err := pool.Query(t.Context(), "SELECT version FROM sessionkit_activity_schema ORDER BY version")
	require.NoError(t, err)
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		require.NoError(t, rows.Scan(&v))
		out = append(out, v)
	}
	require.NoError(t, rows.Err())
	return out
}

func allVersions() []int {
	var out []int
	for v := 1; v <= pgstore.SchemaVersion; v++ {
		out = append(out, v)
	}
	return out
}

// TestMigrateIsIdempotent: migrating a migrated schema changes nothing.
func TestMigrateIsIdempotent(t *testing.T) {
	db := pgtest.New(t)
	for i := range 3 {
		require.NoError(t, pgstore.Migrate(t.Context(), db.Pool), "run %d", i+1)
	}
	assert.Equal(t, allVersions(), versions(t, db.Pool))
	_, err := pgstore.New(db.Pool).List(t.Context(), "ns")
	assert.NoError(t, err, "the Store works after Migrate")
}

// TestMigrateBy4ServersAtOnce: four servers starting together, each with its
// own pool, all migrate successfully and the schema is applied once.
func TestMigrateBy4ServersAtOnce(t *testing.T) {
	const servers = 4
	db := pgtest.New(t)
	pools := make([]*pgxpool.Pool, servers)
	for i := range pools {
		p, err := pgxpool.New(t.Context(), db.URL)
		require.NoError(t, err)
		t.Cleanup(p.Close)
		require.NoError(t, p.Ping(t.Context()), "server %d connects before the start", i)
		pools[i] = p
	}
	start := make(chan struct{})
	errs := make([]error, servers)
	var wg sync.WaitGroup
	for i, p := range pools {
		wg.Go(func() {
			<-start
			errs[i] = pgstore.Migrate(t.Context(), p)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		assert.NoError(t, err, "server %d", i)
	}
	assert.Equal(t, allVersions(), versions(t, db.Pool), "got the applied versions recorded more than once or not at all")
}

// TestMigrateRefusesANewerSchema: a database migrated by a newer release is
// left alone.
func TestMigrateRefusesANewerSchema(t *testing.T) {
	db := pgtest.New(t)
	require.NoError(t, pgstore.Migrate(t.Context(), db.Pool))
	_, err := db.Pool.Exec(t.Context(), "INSERT INTO sessionkit_activity_schema (version) VALUES ($1)", pgstore.SchemaVersion+1)
	require.NoError(t, err)
	err = pgstore.Migrate(t.Context(), db.Pool)
	assert.ErrorIs(t, err, pgstore.ErrSchemaTooNew, "got %v", err)
	assert.Equal(t, append(allVersions(), pgstore.SchemaVersion+1), versions(t, db.Pool))
}

// TestMigrateWithADoneContext changes nothing.
func TestMigrateWithADoneContext(t *testing.T) {
	db := pgtest.New(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := pgstore.Migrate(ctx, db.Pool)
	assert.ErrorIs(t, err, context.Canceled, "got %v", err)
	var n int
	require.NoError(t, db.Pool.QueryRow(t.Context(), "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1", db.Schema).Scan(&n))
	assert.Zero(t, n, "got %d tables after a cancelled Migrate", n)
}
