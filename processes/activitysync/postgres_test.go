package activitysync_test

import (
	"context"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/activity"
	"github.com/sessionkit/sessionkit/activity/pgstore"
	"github.com/sessionkit/sessionkit/internal/pgtest"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/activitysync"
)

// TestFleetOnPostgres: two hosts report their sessions into one PostgreSQL
// store through write-behind, and a third server's idle monitor hibernates
// the session that is idle on its host and not the one busy on the other.
func TestFleetOnPostgres(t *testing.T) {
	db := pgtest.New(t)
	require.NoError(t, pgstore.Migrate(t.Context(), db.Pool))
	store := pgstore.New(db.Pool)
	c := clock.NewMock() // one time for the whole fleet
	c.Set(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))

	type server struct {
		h  *host
		tr *activity.Tracker
		b  *activitysync.Bridge
	}
	servers := make([]server, 2)
	for i := range servers {
		h := &host{m: processes.NewManager(idleTimeout, processes.WithClock(c)), c: c}
		t.Cleanup(func() { assert.NoError(t, h.m.Shutdown(context.Background())) })
		tr := activity.NewTracker(store, activity.WithClock(c), activity.WithWriteBehind(time.Minute))
		t.Cleanup(func() { assert.NoError(t, tr.Close(context.Background())) })
		servers[i] = server{h: h, tr: tr, b: activitysync.New(tr, activitysync.Options{Sessions: h.sessions(), Clock: c})}
	}
	busy := servers[0].h.add("ws", "busy")
	servers[1].h.add("ws", "quiet")

	events := make(chan activity.Event, 10)
	monitor := activity.NewTracker(store, activity.WithClock(c), activity.WithGracePeriod(grace),
		activity.WithPublisher(activity.PublisherFunc(func(_ context.Context, e activity.Event) error {
			events <- e
			return nil
		})))

	for minute := 0; minute <= 13; minute++ {
		if minute == 12 {
			busy.Append("stdout", []byte("still here\n"))
		}
		for _, s := range servers {
			require.NoError(t, s.b.Sync(t.Context()))
			require.NoError(t, s.tr.Flush(t.Context()))
		}
		c.Add(time.Minute)
	}
	names, err := monitor.HibernateIdle(t.Context(), "ws")
	require.NoError(t, err)
	assert.Equal(t, []string{"quiet"}, names)
	require.Len(t, events, 1)
	e := <-events
	assert.Equal(t, "quiet", e.Name)

	for _, s := range servers {
		require.NoError(t, s.b.Sync(t.Context()))
	}
	quiet, err := store.Get(t.Context(), "ws", "quiet")
	require.NoError(t, err)
	assert.Equal(t, activity.StateHibernated, quiet.State, "the next Sync left the hibernation standing")
	b, err := store.Get(t.Context(), "ws", "busy")
	require.NoError(t, err)
	assert.Equal(t, processes.StateRunning, b.State)
}
