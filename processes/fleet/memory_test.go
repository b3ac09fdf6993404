package fleet_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/processes/fleet"
)

// TestMemoryStorePrune: Prune deletes the final commands done, and the
// final records changed, strictly before its time, and nothing open: a
// MemoryStore serving for long otherwise kept every command and record
// there ever was, and its claims and recovery scans walked them all.
func TestMemoryStorePrune(t *testing.T) {
	ctx := t.Context()
	st := fleet.NewMemoryStore()
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	require.NoError(t, st.RegisterHost(ctx, fleet.Host{ID: "h", Capacity: 10}, t0))
	for _, id := range []string{"failed", "running", "lost", "exited"} {
		_, err := st.Place(ctx, fleet.Placement{SessionID: id, Now: t0, TTL: time.Minute})
		require.NoError(t, err)
		if id != "running" {
			_, err = st.Transition(ctx, id, nil, id, "", t0)
			require.NoError(t, err)
		}
	}
	_, err := st.Transition(ctx, "running", nil, fleet.SessionRunning, "", t0)
	require.NoError(t, err)
	for _, id := range []string{"done", "gaveup", "acked", "sent", "pending"} {
		require.NoError(t, st.Enqueue(ctx, t0, &fleet.Command{ID: id, HostID: "h", Kind: fleet.KindForget}))
	}
	for _, id := range []string{"done", "acked", "sent"} {
		_, err := st.Send(ctx, id, t0, time.Hour, 5)
		require.NoError(t, err)
	}
	_, err = st.Send(ctx, "gaveup", t0, time.Hour, 0) // failed at once
	require.NoError(t, err)
	claimed, err := st.Claim(ctx, "h", 2, t0, time.Hour)
	require.NoError(t, err)
	require.Len(t, claimed, 2)
	require.NoError(t, st.Complete(ctx, "done", "h", nil, "", t0))

	c, s := st.Prune(t0)
	assert.Zero(t, c+s, "pruned what was final exactly at the time given")
	c, s = st.Prune(t0.Add(time.Nanosecond))
	assert.Equal(t, 2, c, "commands pruned")
	assert.Equal(t, 2, s, "records pruned")

	cmds, err := st.Commands(ctx, fleet.CommandFilter{})
	require.NoError(t, err)
	var ids []string
	for _, c := range cmds {
		ids = append(ids, c.ID)
	}
	assert.Equal(t, []string{"acked", "sent", "pending"}, ids, "open commands, oldest first")
	_, err = st.Command(ctx, "done")
	assert.ErrorIs(t, err, fleet.ErrNotFound)
	rec, err := st.Recoverable(ctx, t0.Add(2*time.Hour), 10)
	require.NoError(t, err)
	assert.Len(t, rec, 3)
	recs, err := st.Sessions(ctx, fleet.SessionFilter{})
	require.NoError(t, err)
	var sids []string
	for _, r := range recs {
		sids = append(sids, r.ID)
	}
	assert.Equal(t, []string{"exited", "running"}, sids, "records kept: those not final")
	h, err := st.Host(ctx, "h")
	require.NoError(t, err)
	assert.Equal(t, 1, h.Seats, "seats changed by pruning")
	_, err = st.Place(ctx, fleet.Placement{SessionID: "failed", Now: t0, TTL: time.Minute})
	assert.NoError(t, err, "placing a pruned ID again")
}

// TestMemoryStorePruneHostsAndTopics: Prune deletes the hosts silent
// since before its time that no record points to, and a topic keeps no
// entry once its last subscriber closed: a store serving churning hosts
// otherwise kept every host, and a topic per host, there ever was.
func TestMemoryStorePruneHostsAndTopics(t *testing.T) {
	ctx := t.Context()
	st := fleet.NewMemoryStore()
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, id := range []string{"left", "lost", "live"} {
		require.NoError(t, st.RegisterHost(ctx, fleet.Host{ID: id, Capacity: 1}, t0))
		sub, err := st.Subscribe(ctx, fleet.HostTopic(id))
		require.NoError(t, err)
		require.NoError(t, sub.Close())
	}
	assert.Zero(t, st.Topics(), "topics kept without a subscriber")
	_, err := st.Place(ctx, fleet.Placement{SessionID: "s", Criteria: &fleet.SelectionCriteria{}, Now: t0, TTL: time.Minute})
	require.NoError(t, err)
	rec, err := st.Session(ctx, "s")
	require.NoError(t, err)
	require.Equal(t, "left", rec.HostID, "placed on the lowest ID")
	_, err = st.Transition(ctx, "s", nil, fleet.SessionLost, "", t0.Add(2*time.Hour))
	require.NoError(t, err)
	require.NoError(t, st.Heartbeat(ctx, "live", 0, t0.Add(2*time.Hour)))

	st.Prune(t0.Add(time.Hour))
	hosts, err := st.Hosts(ctx)
	require.NoError(t, err)
	var ids []string
	for _, h := range hosts {
		ids = append(ids, h.ID)
	}
	// left: its lost record (changed after the prune's time) is kept,
	// and with it the host it names; lost: nothing points to it.
	assert.Equal(t, []string{"left", "live"}, ids, "hosts kept")
}
