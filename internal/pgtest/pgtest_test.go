package pgtest_test

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/pgtest"
)

// TestNewGivesEachTestItsSchema: the pool's connections resolve unqualified
// names in the test's schema, and two DBs do not see each other's tables.
func TestNewGivesEachTestItsSchema(t *testing.T) {
	a, b := pgtest.New(t), pgtest.New(t)
	require.NotEqual(t, a.Schema, b.Schema)
	ctx := t.Context()
	_, err := a.Pool.Exec(ctx, "CREATE TABLE things (n int)")
	require.NoError(t, err)

	var schema string
	require.NoError(t, a.Pool.QueryRow(ctx, "SELECT current_schema()").Scan(&schema))
	assert.Equal(t, a.Schema, schema, "got current_schema %q, want the test's", schema)

	var where string
	require.NoError(t, a.Pool.QueryRow(ctx, "SELECT table_schema FROM information_schema.tables WHERE table_name = 'things'").Scan(&where))
	assert.Equal(t, a.Schema, where, "got the table in %q, want it in the test's schema", where)

	_, err = b.Pool.Exec(ctx, "SELECT * FROM things")
	assert.Error(t, err, "got the other test's table through b's search_path, want it invisible")

	// URL selects the same schema, for other pools and processes.
	conn, err := pgx.Connect(ctx, a.URL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var n int
	assert.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM things").Scan(&n), "a connection made from URL sees the schema")
}

// TestSchemaIsDroppedWhenTheTestEnds: nothing is left behind by a finished
// test.
func TestSchemaIsDroppedWhenTheTestEnds(t *testing.T) {
	var schema string
	t.Run("user", func(t *testing.T) {
		db := pgtest.New(t)
		schema = db.Schema
		_, err := db.Pool.Exec(t.Context(), "CREATE TABLE things (n int)")
		require.NoError(t, err)
	})
	db := pgtest.New(t)
	var n int
	require.NoError(t, db.Pool.QueryRow(t.Context(), "SELECT count(*) FROM pg_namespace WHERE nspname = $1", schema).Scan(&n))
	assert.Zero(t, n, "got schema %s still there after its test, want it dropped", schema)
}

// TestServerIsThrowaway: the settings that make the server fast and private.
// With SESSIONKIT_POSTGRES_URL the server is someone else's and this test
// does not apply.
func TestServerIsThrowaway(t *testing.T) {
	if pgtest.External() {
		t.Skip("using " + pgtest.EnvURL + ": not a throwaway server")
	}
	db := pgtest.New(t)
	tests := []struct{ setting, want string }{
		{"listen_addresses", ""},
		{"fsync", "off"},
		{"synchronous_commit", "off"},
		{"full_page_writes", "off"},
	}
	for _, tt := range tests {
		t.Run(tt.setting, func(t *testing.T) {
			var got string
			require.NoError(t, db.Pool.QueryRow(t.Context(), "SELECT current_setting($1)", tt.setting).Scan(&got))
			assert.Equal(t, tt.want, got, "got %s = %q, want %q", tt.setting, got, tt.want)
		})
	}
}
