package fleet_test

import (
	"context"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/activity"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/activitysync"
	"github.com/sessionkit/sessionkit/processes/fleet"
)

// TestAgentSyncReports: a heartbeat carries the Manager's session count;
// the host's records follow its sessions (pending → running, running →
// exited, gone → terminated), and the Bridge puts them, with their
// activity, in the activity Store.
func TestAgentSyncReports(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewMock()
	st := fleet.NewMemoryStore()
	m := processes.NewManager(0, processes.WithClock(clk))
	t.Cleanup(func() { require.NoError(t, m.Shutdown(context.Background())) })
	astore := activity.NewMemoryStore()
	tr := activity.NewTracker(astore, activity.WithClock(clk))
	bridge := activitysync.New(tr, activitysync.Options{Sessions: m.All(), Clock: clk})
	a, err := fleet.NewAgent(fleet.AgentOptions{Host: fleet.Host{ID: "h", Capacity: 10}, Store: st, Manager: m, Clock: clk, Bridge: bridge})
	require.NoError(t, err)
	require.NoError(t, a.Register(ctx))
	for _, id := range []string{"starts", "exits", "vanishes", "in-flight"} {
		_, err := st.Place(ctx, fleet.Placement{SessionID: id, Now: clk.Now(), TTL: time.Minute})
		require.NoError(t, err)
	}
	for _, id := range []string{"exits", "vanishes"} {
		_, err := st.Transition(ctx, id, nil, fleet.SessionRunning, "", clk.Now())
		require.NoError(t, err)
	}
	m.Register(&processes.Session{ID: "starts", WorkspaceID: "w"})
	exits := &processes.Session{ID: "exits", WorkspaceID: "w"}
	m.Register(exits)
	exits.Append("stdout", []byte("bye\n"))
	exits.SetExit(0)

	require.NoError(t, a.Sync(ctx))
	h, err := st.Host(ctx, "h")
	require.NoError(t, err)
	assert.Equal(t, 2, h.Sessions, "the heartbeat's session count")
	assert.Equal(t, int64(1), h.Beats)
	want := map[string]string{
		"starts": fleet.SessionRunning, "exits": fleet.SessionExited,
		"vanishes": fleet.SessionTerminated, "in-flight": fleet.SessionPending,
	}
	for id, state := range want {
		rec, err := st.Session(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, state, rec.State, "session %s", id)
	}
	assert.Equal(t, 2, h.Seats, "seats of the running and the in-flight session")
	recs, err := astore.List(ctx, "w")
	require.NoError(t, err)
	require.Len(t, recs, 2, "the Bridge reported the host's sessions")
	states := map[string]string{}
	for _, r := range recs {
		states[r.Name] = r.State
	}
	assert.Equal(t, map[string]string{"starts": processes.StateRunning, "exits": processes.StateExited}, states)
}

// TestNewAgentNeedsItsParts: a missing Host.ID, Store or Manager is
// ErrInvalid.
func TestNewAgentNeedsItsParts(t *testing.T) {
	m := processes.NewManager(0)
	t.Cleanup(func() { require.NoError(t, m.Shutdown(context.Background())) })
	st := fleet.NewMemoryStore()
	for name, opts := range map[string]fleet.AgentOptions{
		"no ID":      {Store: st, Manager: m},
		"no Store":   {Host: fleet.Host{ID: "h"}, Manager: m},
		"no Manager": {Host: fleet.Host{ID: "h"}, Store: st},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := fleet.NewAgent(opts)
			assert.ErrorIs(t, err, fleet.ErrInvalid)
		})
	}
}
