package pgstore_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessionkit/sessionkit/activity"
	"github.com/sessionkit/sessionkit/activity/pgstore"
)

// A server's start: migrate (every server may; it happens once), then a
// Tracker with write-behind over the Store, and its idle monitor. It needs
// a database, so it is compiled, not run; the tests run the same calls.
func Example() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Close()
	if err := pgstore.Migrate(ctx, pool); err != nil {
		fmt.Println(err)
		return
	}
	store := pgstore.New(pool)
	tr := activity.NewTracker(store,
		activity.WithWriteBehind(10*time.Second), // one UPDATE per 10 s for all the sessions touched
		activity.WithPublisher(activity.PublisherFunc(func(_ context.Context, e activity.Event) error {
			fmt.Println("hibernated", e.Namespace, e.Name)
			return nil
		})))
	defer tr.Close(context.Background()) // writes what is pending

	if _, err := store.Update(ctx, activity.Session{
		Namespace: "team", Name: "notebook", State: activity.StateRunning,
		IdleTimeout: 15 * time.Minute, CreatedAt: time.Now(),
	}); err != nil {
		fmt.Println(err)
		return
	}
	_ = tr.UpdateSessionActivity(ctx, "team", "notebook") // on every keystroke: costs nothing until the flush

	monitored := make(chan struct{})
	go func() {
		defer close(monitored)
		tr.StartIdleMonitor(ctx, "team", time.Minute) // with the other servers' monitors: each session once
	}()
	// ... serve, until shutdown:
	stop()
	<-monitored
}
