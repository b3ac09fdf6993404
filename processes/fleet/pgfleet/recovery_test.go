package pgfleet_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/processes/fleet"
)

// TestDispatcherKilledMidBatch: a dispatcher process placing and
// dispatching a batch of 400 starts is SIGKILLed half way, and a new one
// started: every command stored reaches a final state (completed), and
// none was executed twice: each command ID and each session started
// exactly once on the three host processes.
func TestDispatcherKilledMidBatch(t *testing.T) {
	const batch = 400
	st, db := newStore(t)
	ev := newEvents()
	for _, id := range []string{"h1", "h2", "h3"} {
		startHost(t, ev, db, id, 1000)
	}
	first := startHelper(t, ev, "dispatch-1", "dispatch", envURL+"="+db.URL, envBatch+"=400")
	ev.wait(t, func(e *events) bool { return len(e.queued) >= batch/2 })
	first.kill(t)
	ctx := t.Context()
	all, err := st.Commands(ctx, fleet.CommandFilter{})
	require.NoError(t, err)
	ev.mu.Lock()
	queued := len(ev.queued)
	ev.mu.Unlock()
	require.Less(t, len(all), batch, "the dispatcher finished its batch before it was killed")
	require.GreaterOrEqual(t, len(all), queued, "a command it said it queued is not stored")
	inFlight := 0
	for _, c := range all {
		if !fleet.CommandDone(c.State) {
			inFlight++
		}
	}
	t.Logf("killed after %d queued: %d stored, %d not final yet", queued, len(all), inFlight)

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
