package pgfleet_test

import (
	"context"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/fleet"
)

// TestDeletedHostComesBack: over PostgreSQL, a host that left the fleet
// is deleted with the statement the package documents; its agent, back,
// registers it again at its next beat, and the reconciler, which saw the
// deleted host with the same beat count, times it anew instead of
// judging it gone at once and losing the sessions placed on it.
func TestDeletedHostComesBack(t *testing.T) {
	ctx := t.Context()
	st, db := newStore(t)
	clk := clock.NewMock()
	clk.Set(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	m := processes.NewManager(0, processes.WithClock(clk))
	t.Cleanup(func() { require.NoError(t, m.Shutdown(context.Background())) })
	a, err := fleet.NewAgent(fleet.AgentOptions{Host: fleet.Host{ID: "h", Capacity: 1}, Store: st, Manager: m})
	require.NoError(t, err)
	require.NoError(t, a.Register(ctx))
	require.NoError(t, a.Sync(ctx))
	r := fleet.NewSessionReconciler(fleet.ReconcilerOptions{Store: st, Clock: clk, GoneAfter: time.Minute})
	_, err = r.Reconcile(ctx)
	require.NoError(t, err)

	clk.Add(time.Hour) // h is silent, and deleted
	tag, err := db.Pool.Exec(ctx, `DELETE FROM sessionkit_fleet_hosts h WHERE last_heartbeat < $1
		AND NOT EXISTS (SELECT 1 FROM sessionkit_fleet_sessions WHERE host_id = h.id)`, clk.Now().Add(-30*time.Minute))
	require.NoError(t, err)
	require.EqualValues(t, 1, tag.RowsAffected(), "hosts deleted")

	require.NoError(t, a.Sync(ctx), "the agent's beat after its host was deleted")
	h, err := st.Host(ctx, "h")
	require.NoError(t, err, "registered again")
	assert.EqualValues(t, 1, h.Beats)
	_, err = st.Place(ctx, fleet.Placement{SessionID: "s", Now: clk.Now(), TTL: time.Minute})
	require.NoError(t, err)
	p, err := r.Reconcile(ctx)
	require.NoError(t, err)
	assert.Empty(t, p.GoneHosts, "the host back judged gone at once")
	rec, err := st.Session(ctx, "s")
	require.NoError(t, err)
	assert.Equal(t, fleet.SessionPending, rec.State)
}
