package activitysync_test

import (
	"context"
	"fmt"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/sessionkit/sessionkit/activity"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/activitysync"
)

// A host reports its Manager's sessions into a Store (here in memory; in a
// fleet, package pgstore's), through a Tracker with write-behind. package
// processes cannot list a Manager's sessions, so the embedder lists those
// it registered.
func Example() {
	ctx := context.Background()
	c := clock.NewMock()
	m := processes.NewManager(10*time.Minute, processes.WithClock(c))
	defer m.Shutdown(ctx)

	var ids []string
	register := func(workspace, id string) *processes.Session {
		s := &processes.Session{ID: id, WorkspaceID: workspace}
		m.Register(s)
		ids = append(ids, id)
		return s
	}
	listed := func(yield func(*processes.Session) bool) {
		for _, id := range ids {
			if s, ok := m.Get(id); ok && !yield(s) {
				return
			}
		}
	}

	store := activity.NewMemoryStore()
	tr := activity.NewTracker(store, activity.WithClock(c), activity.WithWriteBehind(time.Minute))
	defer tr.Close(ctx)
	b := activitysync.New(tr, activitysync.Options{Sessions: listed, Clock: c})

	build := register("team", "build")
	register("team", "shell")
	_ = b.Sync(ctx) // creates both records
	c.Add(30 * time.Second)
	build.Append("stdout", []byte("compiling\n"))
	_ = b.Sync(ctx) // the activity waits in the write-behind...
	_ = tr.Flush(ctx)
	m.Forget("shell")
	_ = b.Sync(ctx) // ...and a forgotten session is closed

	sessions, _ := store.List(ctx, "team")
	for _, s := range sessions {
		fmt.Printf("%s: %s, idle after %v, last active %v after start\n", s.Name, s.State, s.IdleTimeout, s.LastActivity.Sub(time.Unix(0, 0)))
	}
	// Output:
	// build: running, idle after 10m0s, last active 30s after start
	// shell: closed, idle after 10m0s, last active 0s after start
}
