package pgfleet_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/processes/fleet"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

// TestDispatcherKilledMidBatch: a dispatcher process placing and
// dispatching a batch of 400 starts is SIGKILLed half way, its workers
// still sending what it queued (with 50 more
// starts stored and never sent, as a dispatcher killed between its INSERT
// and its send leaves them), and a new one started: every command stored
// reaches a final state (completed), and
// none was executed twice: each command ID and each session started
// exactly once on the three host processes.
func TestDispatcherKilledMidBatch(t *testing.T) {
	const batch = 400
	st, db := newStore(t)
	ev := newEvents()
	for _, id := range []string{"h1", "h2", "h3"} {
		startHost(t, ev, db, id, 1000)
	}
	first := startHelper(t, ev, "dispatch-1", "dispatch", envURL+"="+db.URL, envBatch+"=400", envPause+"=200")
	// It stops dispatching half way and is killed there: killed once it
	// had queued half, it could finish the batch first on a busy machine.
	require.Equal(t, "paused", first.line(t))
	first.kill(t)
	ctx := t.Context()
	// And 50 starts stored and never sent, as a dispatcher that died
	// between its INSERT and its worker's Send leaves them, so that the
	// restart has pending commands to recover whatever the timing above.
	sel := fleet.NewAgentSelector(st, fleet.SelectorOptions{TTL: time.Hour})
	for i := range 50 {
		sid := fmt.Sprintf("orphan%02d", i)
		info, err := sel.Place(ctx, nil, sid, "")
		require.NoError(t, err)
		body, _ := json.Marshal(httpapi.StartRequest{ID: sid, Argv: []string{"true"}})
		payload, _ := json.Marshal(fleet.StartPayload{Body: body, ClientID: sid})
		require.NoError(t, st.Enqueue(ctx, time.Now(), &fleet.Command{ID: "start-" + sid, HostID: info.AgentID, SessionID: sid, Kind: fleet.KindStart, Payload: payload}))
	}
	all, err := st.Commands(ctx, fleet.CommandFilter{})
	require.NoError(t, err)
	ev.mu.Lock()
	queued := len(ev.queued)
	ev.mu.Unlock()
	require.Less(t, len(all), batch+50, "the dispatcher finished its batch before it was killed")
	require.GreaterOrEqual(t, len(all), queued+50, "a command it said it queued is not stored")
	byState := map[string]int{}
	for _, c := range all {
		byState[c.State]++
	}
	t.Logf("killed after %d queued; with the 50 orphans, %d stored: %v", queued, len(all), byState)

	second := startHelper(t, ev, "dispatch-2", "dispatch", envURL+"="+db.URL, envBatch+"=0")
	require.Equal(t, "idle", second.line(t))
	ev.wait(t, func(e *events) bool { return len(e.dones) == len(all) })

	final, err := st.Commands(ctx, fleet.CommandFilter{})
	require.NoError(t, err)
	require.Len(t, final, len(all), "commands appeared after the first dispatcher died")
	for _, c := range final {
		assert.Equal(t, fleet.CommandCompleted, c.State, "command %s: %s", c.ID, c.Error)
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	assert.Len(t, ev.execs, len(all), "commands executed")
	for id, n := range ev.execs {
		assert.Equal(t, 1, n, "command %s executed %d times", id, n)
	}
	assert.Len(t, ev.sids, len(all), "sessions started")
	for sid, n := range ev.sids {
		assert.Equal(t, 1, n, "session %s started %d times", sid, n)
	}
}
