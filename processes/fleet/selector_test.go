package fleet_test

import (
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/processes/fleet"
)

// TestSelectAgent: least loaded by seats/capacity, a seat reserved per
// selection, offline and disconnected hosts skipped, ErrNoAgent when full,
// and GetAgentInfo's view.
func TestSelectAgent(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewMock()
	st := fleet.NewMemoryStore()
	sel := fleet.NewAgentSelector(st, fleet.SelectorOptions{Clock: clk, TTL: 10 * time.Second})
	for _, h := range []fleet.Host{
		{ID: "small", Region: "eu", Capacity: 1},
		{ID: "big", Region: "eu", Capacity: 3},
		{ID: "us", Region: "us", Capacity: 100},
	} {
		require.NoError(t, st.RegisterHost(ctx, h, clk.Now()))
	}
	eu := &fleet.SelectionCriteria{Region: "eu", PreferLowLoad: true, RequireConnected: true}
	var got []string
	for range 4 {
		info, err := sel.SelectAgent(ctx, eu)
		require.NoError(t, err)
		got = append(got, info.AgentID)
	}
	// big 0/3 < small 0/1 by seats tie → ID order: big first (0 = 0, fewer
	// seats equal, "big" < "small"), then small 0/1 vs big 1/3: small.
	assert.Equal(t, []string{"big", "small", "big", "big"}, got)
	_, err := sel.SelectAgent(ctx, eu)
	assert.ErrorIs(t, err, fleet.ErrNoAgent)

	info, err := sel.GetAgentInfo(ctx, "big")
	require.NoError(t, err)
	assert.Equal(t, "online", info.Status)
	assert.Equal(t, 3, info.SessionCount)
	assert.Equal(t, map[string]any{"sessions": 3, "used": 3, "free": 0}, info.Capacity)
	assert.True(t, info.IsConnected)

	require.NoError(t, st.SetConnected(ctx, "us", false))
	_, err = sel.SelectAgent(ctx, &fleet.SelectionCriteria{Region: "us", RequireConnected: true})
	assert.ErrorIs(t, err, fleet.ErrNoAgent, "placed on a disconnected host")
	info, err = sel.GetAgentInfo(ctx, "us")
	require.NoError(t, err)
	assert.Equal(t, "disconnected", info.Status)

	clk.Add(11 * time.Second) // every heartbeat is now older than the TTL
	_, err = sel.SelectAgent(ctx, nil)
	assert.ErrorIs(t, err, fleet.ErrNoAgent, "placed on an offline host")
	info, err = sel.GetAgentInfo(ctx, "us")
	require.NoError(t, err)
	assert.Equal(t, "offline", info.Status)
	assert.False(t, info.IsConnected)

	_, err = sel.GetAgentInfo(ctx, "nope")
	assert.ErrorIs(t, err, fleet.ErrNotFound)

	// Release frees a seat that was never used.
	require.NoError(t, st.Heartbeat(ctx, "small", 0, clk.Now()))
	info, err = sel.Place(ctx, nil, "mine", "")
	require.ErrorIs(t, err, fleet.ErrNoAgent, "small is full")
	_ = info
	recs, err := st.Sessions(ctx, fleet.SessionFilter{HostID: "small"})
	require.NoError(t, err)
	require.Len(t, recs, 1)
	released, err := sel.Release(ctx, recs[0].ID, "not needed")
	require.NoError(t, err)
	assert.True(t, released)
	info, err = sel.Place(ctx, nil, "mine", "ws")
	require.NoError(t, err)
	assert.Equal(t, "small", info.AgentID)
}

// TestSelectAgentHostClockAhead: a host whose clock runs an hour ahead
// and which died is offline once its last heartbeat is more than the TTL
// from the selector's now on either side: it is not chosen for the hour
// its timestamps claim, nor reported online.
func TestSelectAgentHostClockAhead(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewMock()
	st := fleet.NewMemoryStore()
	const ttl = 10 * time.Second
	sel := fleet.NewAgentSelector(st, fleet.SelectorOptions{Clock: clk, TTL: ttl})
	require.NoError(t, st.RegisterHost(ctx, fleet.Host{ID: "ahead", Capacity: 10}, clk.Now().Add(time.Hour)))
	_, err := sel.SelectAgent(ctx, nil)
	assert.ErrorIs(t, err, fleet.ErrNoAgent, "placed on a host stamping heartbeats an hour ahead")
	info, err := sel.GetAgentInfo(ctx, "ahead")
	require.NoError(t, err)
	assert.Equal(t, "offline", info.Status)

	// Ahead by the TTL exactly: online, and offline 2 TTLs after its
	// last beat on the selector's clock, not later.
	require.NoError(t, st.Heartbeat(ctx, "ahead", 0, clk.Now().Add(ttl)))
	info, err = sel.SelectAgent(ctx, nil)
	require.NoError(t, err)
	assert.Equal(t, "ahead", info.AgentID)
	clk.Add(2 * ttl)
	_, err = sel.SelectAgent(ctx, nil)
	require.NoError(t, err)
	clk.Add(time.Nanosecond)
	_, err = sel.SelectAgent(ctx, nil)
	assert.ErrorIs(t, err, fleet.ErrNoAgent, "placed on a host silent for more than 2 TTLs")
}
