package pgfleet_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes/fleet"
)

// TestSubscriptionSurvivesItsConnection: when the listening connection
// is killed (pg_terminate_backend), the subscription connects again,
// says so with an empty payload (look at the Store: something may have
// been missed), and delivers the next notifications. Stores in other
// schemas of the same database use other channels.
func TestSubscriptionSurvivesItsConnection(t *testing.T) {
	st, db := newStore(t)
	_, otherDB := newStore(t)
	ctx := context.Background()
	sub, err := st.Subscribe(ctx, fleet.HostTopic("h"))
	require.NoError(t, err)
	defer sub.Close()

	require.NoError(t, st.Enqueue(ctx, time.Now(), &fleet.Command{ID: "a", HostID: "h"}, &fleet.Command{ID: "b", HostID: "h"}))
	_, err = st.Send(ctx, "a", time.Now(), time.Minute, 3)
	require.NoError(t, err)
	assert.Equal(t, "", proctest.Recv(t, sub.C()))

	// The channel of a host's topic differs from one schema to another.
	const channelSQL = `SELECT 'fleet_' || md5(current_schema() || chr(31) || 'host:h')`
	var channel, otherChannel string
	require.NoError(t, db.Pool.QueryRow(ctx, channelSQL).Scan(&channel))
	require.NoError(t, otherDB.Pool.QueryRow(ctx, channelSQL).Scan(&otherChannel))
	assert.NotEqual(t, channel, otherChannel)
	var killed bool
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT coalesce(bool_and(pg_terminate_backend(pid)), false) FROM pg_stat_activity WHERE query = $1`,
		`LISTEN "`+channel+`"`).Scan(&killed))
	require.True(t, killed, "no listening backend found")
	assert.Equal(t, "", proctest.Recv(t, sub.C()), "the reconnection's wake-up")
	_, err = st.Send(ctx, "b", time.Now(), time.Minute, 3)
	require.NoError(t, err)
	assert.Equal(t, "", proctest.Recv(t, sub.C()), "a notification after the reconnection")
	require.NoError(t, sub.Close())
	for range sub.C() {
	}
}
