package pgfleet_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/processes/fleet/pgfleet"
)

// TestClaimUsesItsOwnIndex: with half of a host's commands acknowledged
// (and statistics that say all are sent), the claim walks the partial
// index of sent commands, never an index that holds the acknowledged
// ones too, which made each claim scan past every one of them (3 times
// slower at 2,000, and growing).
func TestClaimUsesItsOwnIndex(t *testing.T) {
	st, db := newStore(t)
	ctx := context.Background()
	fillSent(t, st, db, 2000)
	_, err := st.Claim(ctx, "h", 1000, time.Now(), time.Minute)
	require.NoError(t, err)
	rows, err := db.Pool.Query(ctx, "EXPLAIN "+pgfleet.ClaimSQL, "h", 1, time.Now(), time.Now())
	require.NoError(t, err)
	var plan []string
	for rows.Next() {
		var line string
		require.NoError(t, rows.Scan(&line))
		plan = append(plan, line)
	}
	require.NoError(t, rows.Err())
	assert.Contains(t, strings.Join(plan, "\n"), "Index Scan using sessionkit_fleet_commands_claim", "the claim's plan:\n%s", strings.Join(plan, "\n"))
}
