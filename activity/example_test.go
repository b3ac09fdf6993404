package activity_test

import (
	"context"
	"fmt"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/sessionkit/sessionkit/activity"
)

// Status is a pure function of the session, the grace period and now.
func ExampleStatus() {
	created := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	s := activity.Session{
		Name:        "build",
		State:       activity.StateRunning,
		IdleTimeout: 10 * time.Minute,
		CreatedAt:   created, // no activity yet: idle since creation
	}
	for _, after := range []time.Duration{10 * time.Minute, 11 * time.Minute, 16 * time.Minute} {
		st := activity.Status(s, 5*time.Minute, created.Add(after))
		fmt.Printf("after %v: idle=%v hibernate=%v\n", after, st.IsIdle, st.ShouldHibernate)
	}
	// Output:
	// after 10m0s: idle=false hibernate=false
	// after 11m0s: idle=true hibernate=false
	// after 16m0s: idle=true hibernate=true
}

// A Tracker over a MemoryStore on a mock clock records activity and
// hibernates a session once it has been idle past its timeout and the grace
// period.
func ExampleTracker_HibernateIdleSession() {
	ctx := context.Background()
	c := clock.NewMock()
	store := activity.NewMemoryStore()
	events := activity.PublisherFunc(func(_ context.Context, e activity.Event) error {
		fmt.Printf("event: %s %s/%s after %v idle\n", e.Type, e.Namespace, e.Name, e.IdleDuration)
		return nil
	})
	tr := activity.NewTracker(store,
		activity.WithClock(c),
		activity.WithGracePeriod(time.Minute),
		activity.WithPublisher(events))

	if _, err := store.Update(ctx, activity.Session{
		Namespace:   "team",
		Name:        "notebook",
		State:       activity.StateRunning,
		IdleTimeout: 5 * time.Minute,
		CreatedAt:   c.Now(),
	}); err != nil {
		fmt.Println(err)
		return
	}

	c.Add(4 * time.Minute)
	_ = tr.UpdateSessionActivity(ctx, "team", "notebook") // the user typed something

	c.Add(5 * time.Minute)
	idle, _ := tr.CheckIdleSessions(ctx, "team")
	fmt.Println("idle sessions:", len(idle))
	fmt.Println("hibernate:", tr.HibernateIdleSession(ctx, "team", "notebook")) // still in its grace period

	c.Add(2 * time.Minute)
	fmt.Println("hibernate:", tr.HibernateIdleSession(ctx, "team", "notebook"))

	s, _ := store.Get(ctx, "team", "notebook")
	fmt.Println("state:", s.State)
	// Output:
	// idle sessions: 0
	// hibernate: activity: hibernate team/notebook: activity: session not idle
	// event: hibernated team/notebook after 7m0s idle
	// hibernate: <nil>
	// state: hibernated
}

// With write-behind, a Tracker keeps activity in memory and writes it once
// per interval, in one batch: a hundred keystrokes cost one write.
func ExampleWithWriteBehind() {
	ctx := context.Background()
	c := clock.NewMock()
	store := activity.NewMemoryStore()
	created := c.Now()
	if _, err := store.Update(ctx, activity.Session{
		Namespace: "team", Name: "notebook", State: activity.StateRunning,
		IdleTimeout: 5 * time.Minute, CreatedAt: created,
	}); err != nil {
		fmt.Println(err)
		return
	}
	tr := activity.NewTracker(store, activity.WithClock(c), activity.WithWriteBehind(time.Minute))
	defer tr.Close(ctx) // flushes what is pending and stops the flushing goroutine

	for range 100 { // ten seconds of typing
		c.Add(100 * time.Millisecond)
		_ = tr.UpdateSessionActivity(ctx, "team", "notebook")
	}
	s, _ := store.Get(ctx, "team", "notebook")
	fmt.Println("stored before the flush:", s.LastActivity, "version", s.Version)
	fmt.Println("idle as the tracker sees it:", tr.GetActivityStatus(&s).IdleDuration)

	_ = tr.Flush(ctx) // what the interval does by itself
	s, _ = store.Get(ctx, "team", "notebook")
	fmt.Println("stored after:", s.LastActivity.Sub(created), "version", s.Version)
	// Output:
	// stored before the flush: <nil> version 1
	// idle as the tracker sees it: 0s
	// stored after: 10s version 2
}
