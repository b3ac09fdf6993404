package pgfleet_test

import (
	"testing"

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
