package activity_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/activity"
)

// Log messages the monitor tests synchronise on.
const (
	logStarted = "activity: idle monitor started"
	logTick    = "activity: idle monitor tick"
	logStopped = "activity: idle monitor stopped"
	logError   = "activity: idle monitor"
)

// staggered creates, in namespace "ns" and with a grace of 1 minute, sessions
// that become due at different minutes, and some that never do. It returns
// the names due at each minute (1-based), assuming "c" is touched right after
// minute 3.
func staggered(t *testing.T, st activity.Store) map[int][]string {
	t.Helper()
	hibernated := running("ns", "e", time.Minute)
	hibernated.State = activity.StateHibernated
	stopped := running("ns", "f", time.Minute)
	stopped.State = "stopped"
	for _, s := range []activity.Session{
		running("ns", "a", time.Minute),   // due after 2m: minute 3
		running("ns", "b", 3*time.Minute), // due after 4m: minute 5
		running("ns", "c", 2*time.Minute), // due after 3m, but touched at 3m: minute 7
		running("ns", "d", 0),             // never idle
		hibernated,
		stopped,
		running("other", "x", time.Minute), // another namespace
	} {
		create(t, st, s)
	}
	return map[int][]string{3: {"a"}, 5: {"b"}, 7: {"c"}}
}

func TestHibernateIdleOverMinutes(t *testing.T) {
	st := activity.NewMemoryStore()
	want := staggered(t, st)
	tr, c, pub := newTracker(st, activity.WithGracePeriod(time.Minute))

	for minute := 1; minute <= 8; minute++ {
		c.Add(time.Minute)
		got, err := tr.HibernateIdle(t.Context(), "ns")
		require.NoError(t, err, "minute %d", minute)
		assert.Equal(t, want[minute], got, "minute %d: got %v, want %v", minute, got, want[minute])
		assert.Equal(t, want[minute], names(pub.drain()), "minute %d: events for the wrong sessions", minute)
		if minute == 3 {
			require.NoError(t, tr.UpdateSessionActivity(t.Context(), "ns", "c"))
		}
	}
}

func TestHibernateIdleErrors(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name      string
		store     func(mem activity.Store) activity.Store
		pubFails  int32
		wantNames []string
		wantErrs  []error
	}{
		{"list error", func(mem activity.Store) activity.Store {
			return &hookStore{Store: mem, listErrs: []error{boom}}
		}, 0, nil, []error{boom}},
		{"update errors do not stop the pass", func(mem activity.Store) activity.Store {
			return &hookStore{Store: mem, updateErr: boom}
		}, 0, nil, []error{boom}},
		{"publish error keeps the hibernation", func(mem activity.Store) activity.Store {
			return mem
		}, 1, []string{"a", "b"}, []error{activity.ErrPublish}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := activity.NewMemoryStore()
			create(t, mem, running("ns", "a", time.Minute))
			create(t, mem, running("ns", "b", time.Minute))
			st := tt.store(mem)
			tr, c, pub := newTracker(st)
			pub.err = boom
			pub.fail.Store(tt.pubFails)
			c.Add(time.Hour)

			got, err := tr.HibernateIdle(t.Context(), "ns")
			assert.Equal(t, tt.wantNames, got, "got hibernated %v, want %v", got, tt.wantNames)
			for _, want := range tt.wantErrs {
				assert.ErrorIs(t, err, want, "got %v, want %v", err, want)
			}
			for _, name := range []string{"a", "b"} {
				s := get(t, mem, "ns", name)
				wantState := activity.StateRunning
				if tt.wantNames != nil {
					wantState = activity.StateHibernated
				}
				assert.Equal(t, wantState, s.State, "session %s: got State %q, want %q", name, s.State, wantState)
			}
			if h, ok := st.(*hookStore); ok && h.updateErr != nil {
				assert.Equal(t, int32(2), h.updates.Load(), "got %d Update calls, want 2: one failure must not stop the pass", h.updates.Load())
			}
		})
	}
}

func TestHibernateIdleStopsWhenContextEnds(t *testing.T) {
	mem := activity.NewMemoryStore()
	create(t, mem, running("ns", "a", time.Minute))
	create(t, mem, running("ns", "b", time.Minute))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	st := &hookStore{Store: mem, afterUpdate: []func(){cancel}} // ends ctx during the first hibernation, once stored
	tr, c, _ := newTracker(st)
	c.Add(time.Hour)

	got, err := tr.HibernateIdle(ctx, "ns")
	assert.ErrorIs(t, err, context.Canceled, "got %v, want context.Canceled", err)
	assert.Equal(t, []string{"a"}, got, "got hibernated %v, want only the session before ctx ended", got)
	s := get(t, mem, "ns", "b")
	assert.Equal(t, activity.StateRunning, s.State, "got State %q for b, want running: the pass stops when ctx ends", s.State)
}

// startMonitor runs StartIdleMonitor in a goroutine and waits until its ticker
// exists. The returned stop cancels it and waits for it to return.
func startMonitor(t *testing.T, tr *activity.Tracker, logs *logRecorder, namespace string, interval time.Duration) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		tr.StartIdleMonitor(ctx, namespace, interval)
	}()
	logs.waitFor(t, logStarted)
	return func() {
		cancel()
		recv(t, returned, "StartIdleMonitor to return")
	}
}

func TestStartIdleMonitorHibernatesAtTheRightTicks(t *testing.T) {
	st := activity.NewMemoryStore()
	want := staggered(t, st)
	logs := newLogRecorder()
	tr, c, pub := newTracker(st, activity.WithGracePeriod(time.Minute), activity.WithLogger(slog.New(logs)))
	stop := startMonitor(t, tr, logs, "ns", time.Minute)

	wantIdle := map[string]time.Duration{"a": 3 * time.Minute, "b": 5 * time.Minute, "c": 4 * time.Minute}
	for minute := 1; minute <= 8; minute++ {
		c.Add(time.Minute)
		records := logs.waitFor(t, logTick) // the tick is over
		for _, r := range records {
			assert.NotEqual(t, slog.LevelError, r.Level, "minute %d: got error log %q %v", minute, r.Message, attr(r, "err"))
		}
		events := pub.drain()
		assert.Equal(t, want[minute], names(events), "minute %d: got events for %v, want %v", minute, names(events), want[minute])
		for _, e := range events {
			assert.Equal(t, activity.EventHibernated, e.Type, "got event type %q", e.Type)
			assert.Equal(t, at(time.Duration(minute)*time.Minute), e.At, "session %s: got At %v, want minute %d", e.Name, e.At, minute)
			assert.Equal(t, wantIdle[e.Name], e.IdleDuration, "session %s: got IdleDuration %v, want %v", e.Name, e.IdleDuration, wantIdle[e.Name])
		}
		if minute == 3 {
			require.NoError(t, tr.UpdateSessionActivity(t.Context(), "ns", "c"))
		}
	}
	stop()
	logs.waitFor(t, logStopped)

	c.Add(time.Hour) // no monitor any more: nothing happens
	assert.Empty(t, pub.drain(), "got events after the monitor stopped")
	wantStates := map[string]string{
		"a": activity.StateHibernated, "b": activity.StateHibernated, "c": activity.StateHibernated,
		"d": activity.StateRunning, "e": activity.StateHibernated, "f": "stopped",
	}
	for name, want := range wantStates {
		s := get(t, st, "ns", name)
		assert.Equal(t, want, s.State, "session %s: got State %q, want %q", name, s.State, want)
	}
	other := get(t, st, "other", "x")
	assert.Equal(t, activity.StateRunning, other.State, "got State %q for another namespace's session, want running", other.State)
}

func TestStartIdleMonitorCarriesOnPastErrors(t *testing.T) {
	mem := activity.NewMemoryStore()
	create(t, mem, running("ns", "a", time.Minute))   // due after 2m: minute 3
	create(t, mem, running("ns", "b", 2*time.Minute)) // due after 3m: minute 4
	listFailed := errors.New("store unavailable")
	st := &hookStore{Store: mem, listErrs: []error{listFailed}}
	logs := newLogRecorder()
	tr, c, pub := newTracker(st, activity.WithGracePeriod(time.Minute), activity.WithLogger(slog.New(logs)))
	pub.err = errors.New("broker down")
	pub.fail.Store(1)
	stop := startMonitor(t, tr, logs, "ns", time.Minute)
	defer stop()

	errorsIn := func(records []slog.Record) []error {
		var out []error
		for _, r := range records {
			if r.Level == slog.LevelError {
				err, ok := attr(r, "err").Any().(error)
				require.True(t, ok, "error record %q without an err attribute", r.Message)
				assert.Equal(t, logError, r.Message, "got error message %q", r.Message)
				out = append(out, err)
			}
		}
		return out
	}

	// Minute 1: List fails; the failure is logged.
	c.Add(time.Minute)
	logged := errorsIn(logs.waitFor(t, logTick))
	require.Len(t, logged, 1, "minute 1: got %d error logs, want 1", len(logged))
	assert.ErrorIs(t, logged[0], listFailed, "minute 1: got %v, want the List error", logged[0])

	// Minute 2: the monitor carries on; nothing is due.
	c.Add(time.Minute)
	logged = errorsIn(logs.waitFor(t, logTick))
	assert.Empty(t, logged, "minute 2: got error logs %v", logged)
	assert.Empty(t, pub.drain(), "minute 2: got events, want none")

	// Minute 3: a is hibernated, but its event fails; the failure is logged
	// and the hibernation stands.
	c.Add(time.Minute)
	logged = errorsIn(logs.waitFor(t, logTick))
	require.Len(t, logged, 1, "minute 3: got %d error logs, want 1", len(logged))
	assert.ErrorIs(t, logged[0], activity.ErrPublish, "minute 3: got %v, want ErrPublish", logged[0])
	assert.ErrorIs(t, logged[0], pub.err, "minute 3: got %v, want the Publisher's error", logged[0])
	assert.Equal(t, []string{"a"}, names(pub.drain()), "minute 3: want one publish attempt for a")
	assert.Equal(t, activity.StateHibernated, get(t, mem, "ns", "a").State, "minute 3: want a hibernated despite the publish failure")

	// Minute 4: b is hibernated and published; a is not hibernated twice.
	c.Add(time.Minute)
	logged = errorsIn(logs.waitFor(t, logTick))
	assert.Empty(t, logged, "minute 4: got error logs %v", logged)
	assert.Equal(t, []string{"b"}, names(pub.drain()), "minute 4: want one event for b")
	assert.Equal(t, activity.StateHibernated, get(t, mem, "ns", "b").State, "minute 4: want b hibernated")
}

func TestStartIdleMonitorReturnsWhenContextEnds(t *testing.T) {
	tests := []struct {
		name   string
		cancel bool // before the monitor starts
	}{
		{"cancelled before start", true},
		{"cancelled while running", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, _, _ := newTracker(activity.NewMemoryStore())
			ctx, cancel := context.WithCancel(t.Context())
			if tt.cancel {
				cancel()
			}
			returned := make(chan struct{})
			go func() {
				defer close(returned)
				tr.StartIdleMonitor(ctx, "ns", time.Minute)
			}()
			cancel()
			recv(t, returned, "StartIdleMonitor to return")
		})
	}
}

func TestStartIdleMonitorPanicsOnNonPositiveInterval(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration
	}{
		{"zero", 0},
		{"negative", -time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, _, _ := newTracker(activity.NewMemoryStore())
			assert.PanicsWithValue(t, "activity: non-positive interval for StartIdleMonitor", func() {
				tr.StartIdleMonitor(t.Context(), "ns", tt.interval)
			})
		})
	}
}

// TestStartIdleMonitorLogsAnEventLostToItsEnd: a hibernation whose event
// fails because the monitor's context ended during the publish is logged as
// an error: the session stays hibernated and no later pass publishes it.
// The monitor took it for an error caused by its stop and said nothing.
func TestStartIdleMonitorLogsAnEventLostToItsEnd(t *testing.T) {
	st := activity.NewMemoryStore()
	create(t, st, running("ns", "a", time.Minute))
	ctx, cancel := context.WithCancel(t.Context())
	pub := activity.PublisherFunc(func(ctx context.Context, _ activity.Event) error {
		cancel() // the server stops while the event is on its way
		<-ctx.Done()
		return ctx.Err()
	})
	logs := newLogRecorder()
	tr, c, _ := newTracker(st, activity.WithGracePeriod(time.Minute), activity.WithLogger(slog.New(logs)), activity.WithPublisher(pub))
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		tr.StartIdleMonitor(ctx, "ns", 3*time.Minute)
	}()
	logs.waitFor(t, logStarted)
	c.Add(3 * time.Minute)
	records := logs.waitFor(t, logTick)
	recv(t, returned, "StartIdleMonitor to return")

	require.Equal(t, activity.StateHibernated, get(t, st, "ns", "a").State, "precondition")
	var logged []error
	for _, r := range records {
		if r.Level == slog.LevelError {
			if err, ok := attr(r, "err").Any().(error); ok {
				logged = append(logged, err)
			}
		}
	}
	require.Len(t, logged, 1, "got %d error logs, want the lost event's", len(logged))
	assert.ErrorIs(t, logged[0], activity.ErrPublish, "got %v", logged[0])
}
