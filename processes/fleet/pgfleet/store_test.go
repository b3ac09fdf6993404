package pgfleet_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/pgtest"
	"github.com/sessionkit/sessionkit/processes/fleet"
	"github.com/sessionkit/sessionkit/processes/fleet/fleettest"
	"github.com/sessionkit/sessionkit/processes/fleet/pgfleet"
)

// newStore returns a migrated Store in a schema of the test's own.
func newStore(t testing.TB) (*pgfleet.Store, *pgtest.DB) {
	t.Helper()
	db := pgtest.New(t)
	require.NoError(t, pgfleet.Migrate(t.Context(), db.Pool))
	return pgfleet.New(db.Pool), db
}

// TestContract: the PostgreSQL Store passes the contract of fleet.Store.
func TestContract(t *testing.T) {
	fleettest.Run(t, func(t *testing.T) fleet.Store { st, _ := newStore(t); return st })
}

// TestClaimOrderAcrossAWideSeqGap: a claim returns its commands oldest
// first even when their seqs are more than 2^31 apart (the order is not
// computed by subtracting seqs into an int, which wraps where int has 32
// bits).
func TestClaimOrderAcrossAWideSeqGap(t *testing.T) {
	st, db := newStore(t)
	ctx := t.Context()
	now := time.Now()
	require.NoError(t, st.Enqueue(ctx, now, &fleet.Command{ID: "old", HostID: "h"}))
	_, err := db.Pool.Exec(ctx, `ALTER TABLE sessionkit_fleet_commands ALTER COLUMN seq RESTART WITH 3000000000`)
	require.NoError(t, err)
	require.NoError(t, st.Enqueue(ctx, now, &fleet.Command{ID: "new", HostID: "h"}))
	for _, id := range []string{"new", "old"} {
		_, err := st.Send(ctx, id, now, time.Minute, 3)
		require.NoError(t, err)
	}
	got, err := st.Claim(ctx, "h", 2, now, time.Minute)
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, []string{"old", "new"}, []string{got[0].ID, got[1].ID})
}
