package activity_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/activity"
)

// newTracker returns a tracker over st on a mock clock at epoch, with a grace
// period of 5 minutes and a chanPublisher.
func newTracker(st activity.Store, opts ...activity.Option) (*activity.Tracker, *clock.Mock, *chanPublisher) {
	c := clock.NewMock()
	pub := newChanPublisher()
	opts = append([]activity.Option{activity.WithClock(c), activity.WithPublisher(pub), activity.WithGracePeriod(5 * time.Minute)}, opts...)
	return activity.NewTracker(st, opts...), c, pub
}

func get(t *testing.T, st activity.Store, namespace, name string) activity.Session {
	t.Helper()
	s, err := st.Get(t.Context(), namespace, name)
	require.NoError(t, err)
	return s
}

func TestNewTrackerNilStorePanics(t *testing.T) {
	assert.PanicsWithValue(t, "activity: nil Store", func() { activity.NewTracker(nil) })
}

func TestUpdateSessionActivity(t *testing.T) {
	tests := []struct {
		name    string
		session string
		wantErr error
	}{
		{"known session", "a", nil},
		{"unknown session", "b", activity.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := activity.NewMemoryStore()
			create(t, st, running("ns", "a", time.Minute))
			tr, c, _ := newTracker(st)
			c.Add(time.Hour)

			err := tr.UpdateSessionActivity(t.Context(), "ns", tt.session)
			assert.ErrorIs(t, err, tt.wantErr, "got %v, want %v", err, tt.wantErr)
			if tt.wantErr != nil {
				return
			}
			s := get(t, st, "ns", tt.session)
			require.NotNil(t, s.LastActivity, "got nil LastActivity after UpdateSessionActivity")
			assert.Equal(t, at(time.Hour), *s.LastActivity, "got LastActivity %v, want %v", *s.LastActivity, at(time.Hour))
			assert.Equal(t, int64(2), s.Version, "got Version %d, want 2", s.Version)
			assert.Equal(t, activity.StateRunning, s.State, "got State %q, want it unchanged", s.State)
		})
	}
}

func TestUpdateSessionActivityReappliesAfterConflict(t *testing.T) {
	mem := activity.NewMemoryStore()
	create(t, mem, running("ns", "a", time.Minute))
	// Another writer changes the timeout between the tracker's Get and Update.
	st := &hookStore{Store: mem, onUpdate: []func(){func() {
		s := get(t, mem, "ns", "a")
		s.IdleTimeout = 2 * time.Hour
		_, err := mem.Update(t.Context(), s)
		require.NoError(t, err)
	}}}
	tr, c, _ := newTracker(st)
	c.Add(time.Hour)

	require.NoError(t, tr.UpdateSessionActivity(t.Context(), "ns", "a"))
	s := get(t, mem, "ns", "a")
	require.NotNil(t, s.LastActivity)
	assert.Equal(t, at(time.Hour), *s.LastActivity, "got LastActivity %v, want %v", *s.LastActivity, at(time.Hour))
	assert.Equal(t, 2*time.Hour, s.IdleTimeout, "got IdleTimeout %v, want the other writer's 2h kept", s.IdleTimeout)
	assert.Equal(t, int64(3), s.Version, "got Version %d, want 3", s.Version)
	assert.Equal(t, int32(2), st.updates.Load(), "got %d Update calls, want 2 (one conflict, one retry)", st.updates.Load())
}

func TestUpdateSessionActivityGivesUpOnEndlessConflicts(t *testing.T) {
	tests := []struct {
		name    string
		cancel  bool // ctx ends during the first Update, which conflicts
		wantErr error
		wantOne bool
	}{
		{"context ended stops retrying", true, context.Canceled, true},
		{"no deadline gives up after bounded retries", false, activity.ErrConflict, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := activity.NewMemoryStore()
			create(t, mem, running("ns", "a", time.Minute))
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			st := &hookStore{Store: mem, updateErr: activity.ErrConflict}
			if tt.cancel {
				st.onUpdate = []func(){cancel}
			}
			tr, _, _ := newTracker(st)

			err := tr.UpdateSessionActivity(ctx, "ns", "a")
			assert.ErrorIs(t, err, tt.wantErr, "got %v, want %v", err, tt.wantErr)
			if tt.wantOne {
				assert.Equal(t, int32(1), st.updates.Load(), "got %d Update calls, want 1", st.updates.Load())
			} else {
				assert.Greater(t, st.updates.Load(), int32(1), "got %d Update calls, want retries", st.updates.Load())
			}
		})
	}
}

func TestUpdateSessionActivityConcurrent(t *testing.T) {
	const goroutines, calls = 16, 50
	st := activity.NewMemoryStore()
	create(t, st, running("ns", "a", time.Minute))
	tr, _, _ := newTracker(st)

	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range calls {
				assert.NoError(t, tr.UpdateSessionActivity(t.Context(), "ns", "a"))
			}
		})
	}
	wg.Wait()
	s := get(t, st, "ns", "a")
	assert.Equal(t, int64(goroutines*calls+1), s.Version, "got Version %d, want %d", s.Version, goroutines*calls+1)
}

func TestGetActivityStatus(t *testing.T) {
	tr, c, _ := newTracker(activity.NewMemoryStore())
	assert.Nil(t, tr.GetActivityStatus(nil), "got a status for a nil session, want nil")

	s := running("ns", "a", 10*time.Minute)
	c.Add(15 * time.Minute)
	got := tr.GetActivityStatus(&s)
	require.NotNil(t, got)
	assert.Equal(t, 15*time.Minute, got.IdleDuration, "got IdleDuration %v, want 15m by the tracker's clock", got.IdleDuration)
	assert.True(t, got.IsIdle, "got IsIdle false, want true")
	assert.False(t, got.ShouldHibernate, "got ShouldHibernate at exactly IdleTimeout+grace, want false")

	c.Add(time.Nanosecond)
	got = tr.GetActivityStatus(&s)
	assert.True(t, got.ShouldHibernate, "got ShouldHibernate false 1ns past IdleTimeout+grace, want true")
}

func TestCheckIdleSessions(t *testing.T) {
	st := activity.NewMemoryStore()
	withActivity := func(s activity.Session, last time.Time) activity.Session {
		s.LastActivity = &last
		return s
	}
	hibernated := running("ns", "c-hibernated", 10*time.Minute)
	hibernated.State = activity.StateHibernated
	for _, s := range []activity.Session{
		withActivity(running("ns", "a-idle", 10*time.Minute), at(5*time.Minute)),
		running("ns", "b-active", time.Hour),
		hibernated,
		running("ns", "d-never-idle", 0),
		running("other", "e-other-namespace", time.Minute),
		running("ns", "f-untouched", 10*time.Minute),
		withActivity(running("ns", "g-touched-just-in-time", 10*time.Minute), at(10*time.Minute)),
	} {
		create(t, st, s)
	}
	tr, c, _ := newTracker(st)
	c.Add(20 * time.Minute)

	got, err := tr.CheckIdleSessions(t.Context(), "ns")
	require.NoError(t, err)
	var gotNames []string
	for _, s := range got {
		gotNames = append(gotNames, s.Name)
	}
	want := []string{"a-idle", "f-untouched"}
	assert.Equal(t, want, gotNames, "got %v, want %v", gotNames, want)

	require.NotEmpty(t, got)
	*got[0].LastActivity = at(time.Hour)
	got[0].State = "changed"
	s := get(t, st, "ns", "a-idle")
	assert.Equal(t, at(5*time.Minute), *s.LastActivity, "got stored LastActivity %v after changing the returned copy, want it unchanged", *s.LastActivity)
	assert.Equal(t, activity.StateRunning, s.State, "got stored State %q after changing the returned copy, want it unchanged", s.State)
}

func TestCheckIdleSessionsListError(t *testing.T) {
	boom := errors.New("boom")
	tr, _, _ := newTracker(&hookStore{Store: activity.NewMemoryStore(), listErrs: []error{boom}})
	got, err := tr.CheckIdleSessions(t.Context(), "ns")
	assert.ErrorIs(t, err, boom, "got %v, want the Store's error", err)
	assert.Nil(t, got, "got %v with an error, want nil", got)
}

func TestHibernateIdleSession(t *testing.T) {
	// Timeout 10m and grace 5m: due strictly after 15m.
	tests := []struct {
		name      string
		state     string
		timeout   time.Duration
		session   string
		now       time.Duration
		wantErr   error
		wantState string
	}{
		{"due is hibernated", activity.StateRunning, 10 * time.Minute, "a", 15*time.Minute + 1, nil, activity.StateHibernated},
		{"exactly IdleTimeout+grace is not idle", activity.StateRunning, 10 * time.Minute, "a", 15 * time.Minute, activity.ErrNotIdle, activity.StateRunning},
		{"idle within grace is not idle", activity.StateRunning, 10 * time.Minute, "a", 12 * time.Minute, activity.ErrNotIdle, activity.StateRunning},
		{"zero timeout is never idle", activity.StateRunning, 0, "a", 1000 * time.Hour, activity.ErrNotIdle, activity.StateRunning},
		{"hibernated is not running", activity.StateHibernated, 10 * time.Minute, "a", time.Hour, activity.ErrNotRunning, activity.StateHibernated},
		{"other state is not running", "stopped", 10 * time.Minute, "a", time.Hour, activity.ErrNotRunning, "stopped"},
		{"unknown session", activity.StateRunning, 10 * time.Minute, "b", time.Hour, activity.ErrNotFound, activity.StateRunning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := activity.NewMemoryStore()
			s := running("ns", "a", tt.timeout)
			s.State = tt.state
			create(t, st, s)
			tr, c, pub := newTracker(st)
			c.Add(tt.now)

			err := tr.HibernateIdleSession(t.Context(), "ns", tt.session)
			assert.ErrorIs(t, err, tt.wantErr, "got %v, want %v", err, tt.wantErr)
			got := get(t, st, "ns", "a")
			assert.Equal(t, tt.wantState, got.State, "got State %q, want %q", got.State, tt.wantState)

			events := pub.drain()
			if tt.wantErr != nil {
				assert.Empty(t, events, "got events %v on error, want none", events)
				return
			}
			want := []activity.Event{{Type: activity.EventHibernated, Namespace: "ns", Name: "a", IdleDuration: tt.now, At: at(tt.now)}}
			assert.Equal(t, want, events, "got events %+v, want %+v", events, want)
		})
	}
}

// TestHibernateIdleSessionActivityAfterCheck: activity that arrives between
// CheckIdleSessions and HibernateIdleSession keeps the session running.
func TestHibernateIdleSessionActivityAfterCheck(t *testing.T) {
	st := activity.NewMemoryStore()
	create(t, st, running("ns", "a", 10*time.Minute))
	tr, c, pub := newTracker(st)
	c.Add(time.Hour)

	idle, err := tr.CheckIdleSessions(t.Context(), "ns")
	require.NoError(t, err)
	require.Len(t, idle, 1, "precondition: the session is idle")
	require.True(t, tr.GetActivityStatus(idle[0]).ShouldHibernate, "precondition: the session is due")

	require.NoError(t, tr.UpdateSessionActivity(t.Context(), "ns", "a"))
	err = tr.HibernateIdleSession(t.Context(), "ns", "a")
	assert.ErrorIs(t, err, activity.ErrNotIdle, "got %v, want ErrNotIdle", err)
	s := get(t, st, "ns", "a")
	assert.Equal(t, activity.StateRunning, s.State, "got State %q, want running", s.State)
	assert.Empty(t, pub.drain(), "got events, want none")
}

// TestHibernateIdleSessionRechecksAfterConflict: when another writer updates
// the session between the tracker's Get and Update, the tracker reads it again
// and decides on the fresh copy.
func TestHibernateIdleSessionRechecksAfterConflict(t *testing.T) {
	tests := []struct {
		name        string
		write       func(s *activity.Session)
		wantErr     error
		wantState   string
		wantVersion int64
	}{
		{"activity in between stays running", func(s *activity.Session) { s.LastActivity = ptr(at(time.Hour)) }, activity.ErrNotIdle, activity.StateRunning, 2},
		{"hibernated by another in between", func(s *activity.Session) { s.State = activity.StateHibernated }, activity.ErrNotRunning, activity.StateHibernated, 2},
		{"unrelated write in between still hibernates", func(*activity.Session) {}, nil, activity.StateHibernated, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := activity.NewMemoryStore()
			create(t, mem, running("ns", "a", 10*time.Minute))
			st := &hookStore{Store: mem, onUpdate: []func(){func() {
				s := get(t, mem, "ns", "a")
				tt.write(&s)
				_, err := mem.Update(t.Context(), s)
				require.NoError(t, err)
			}}}
			tr, c, pub := newTracker(st)
			c.Add(time.Hour)

			err := tr.HibernateIdleSession(t.Context(), "ns", "a")
			assert.ErrorIs(t, err, tt.wantErr, "got %v, want %v", err, tt.wantErr)
			s := get(t, mem, "ns", "a")
			assert.Equal(t, tt.wantState, s.State, "got State %q, want %q", s.State, tt.wantState)
			assert.Equal(t, tt.wantVersion, s.Version, "got Version %d, want %d", s.Version, tt.wantVersion)
			wantEvents := 0
			if tt.wantErr == nil {
				wantEvents = 1
			}
			assert.Len(t, pub.drain(), wantEvents, "got a wrong number of events, want %d", wantEvents)
		})
	}
}

func TestHibernateIdleSessionConcurrentCallsHibernateOnce(t *testing.T) {
	const goroutines = 16
	st := activity.NewMemoryStore()
	create(t, st, running("ns", "a", 10*time.Minute))
	tr, c, pub := newTracker(st)
	c.Add(time.Hour)

	errs := make(chan error, goroutines)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() { errs <- tr.HibernateIdleSession(t.Context(), "ns", "a") })
	}
	wg.Wait()
	close(errs)
	succeeded := 0
	for err := range errs {
		if err == nil {
			succeeded++
			continue
		}
		assert.ErrorIs(t, err, activity.ErrNotRunning, "got %v, want nil or ErrNotRunning", err)
	}
	assert.Equal(t, 1, succeeded, "got %d successful hibernations, want 1", succeeded)
	events := pub.drain()
	assert.Len(t, events, 1, "got %d events, want 1", len(events))
}

func TestHibernateIdleSessionPublishFailure(t *testing.T) {
	st := activity.NewMemoryStore()
	create(t, st, running("ns", "a", 10*time.Minute))
	tr, c, pub := newTracker(st)
	pub.err = errors.New("broker down")
	pub.fail.Store(1)
	c.Add(time.Hour)

	err := tr.HibernateIdleSession(t.Context(), "ns", "a")
	assert.ErrorIs(t, err, activity.ErrPublish, "got %v, want ErrPublish", err)
	assert.ErrorIs(t, err, pub.err, "got %v, want the Publisher's error", err)
	s := get(t, st, "ns", "a")
	assert.Equal(t, activity.StateHibernated, s.State, "got State %q, want the hibernation to stand", s.State)
	assert.Len(t, pub.drain(), 1, "want one publish attempt")

	err = tr.HibernateIdleSession(t.Context(), "ns", "a")
	assert.ErrorIs(t, err, activity.ErrNotRunning, "got %v on a second call, want ErrNotRunning", err)
	assert.Empty(t, pub.drain(), "got events on a second call, want none")
}

func TestHibernateIdleSessionStoreError(t *testing.T) {
	mem := activity.NewMemoryStore()
	create(t, mem, running("ns", "a", 10*time.Minute))
	diskFull := errors.New("disk full")
	tr, c, pub := newTracker(&hookStore{Store: mem, updateErr: diskFull})
	c.Add(time.Hour)

	err := tr.HibernateIdleSession(t.Context(), "ns", "a")
	assert.ErrorIs(t, err, diskFull, "got %v, want the Store's error", err)
	assert.NotErrorIs(t, err, activity.ErrPublish, "got ErrPublish for a failed Update")
	s := get(t, mem, "ns", "a")
	assert.Equal(t, activity.StateRunning, s.State, "got State %q, want running", s.State)
	assert.Empty(t, pub.drain(), "got events, want none")
}

func TestHibernateIdleSessionWithoutPublisher(t *testing.T) {
	st := activity.NewMemoryStore()
	create(t, st, running("ns", "a", 10*time.Minute))
	c := clock.NewMock()
	tr := activity.NewTracker(st, activity.WithClock(c))
	c.Add(time.Hour)

	require.NoError(t, tr.HibernateIdleSession(t.Context(), "ns", "a"))
	s := get(t, st, "ns", "a")
	assert.Equal(t, activity.StateHibernated, s.State, "got State %q, want hibernated", s.State)
}
