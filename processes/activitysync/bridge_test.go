package activitysync_test

import (
	"context"
	"errors"
	"iter"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/activity"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/activitysync"
)

const (
	idleTimeout = 10 * time.Minute
	grace       = 2 * time.Minute
)

// host is one server: a Manager on a mock clock and the IDs of the sessions
// it registered, which it lists as the embedder of a Bridge does.
type host struct {
	m   *processes.Manager
	c   *clock.Mock
	mu  sync.Mutex
	ids []string
}

func newHost(t *testing.T) *host {
	c := clock.NewMock()
	c.Set(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
	h := &host{m: processes.NewManager(idleTimeout, processes.WithClock(c)), c: c}
	t.Cleanup(func() { assert.NoError(t, h.m.Shutdown(context.Background())) })
	return h
}

// add registers a session without a process.
func (h *host) add(workspace, id string) *processes.Session {
	s := &processes.Session{ID: id, WorkspaceID: workspace}
	h.m.Register(s)
	h.mu.Lock()
	h.ids = append(h.ids, id)
	h.mu.Unlock()
	return s
}

// sessions lists the registered sessions the Manager still has.
func (h *host) sessions() iter.Seq[*processes.Session] {
	return func(yield func(*processes.Session) bool) {
		h.mu.Lock()
		ids := append([]string(nil), h.ids...)
		h.mu.Unlock()
		for _, id := range ids {
			if s, ok := h.m.Get(id); ok && !yield(s) {
				return
			}
		}
	}
}

// countingStore counts the calls a Bridge makes, and can fail Updates.
type countingStore struct {
	*activity.MemoryStore
	gets, updates, batches atomic.Int32
	failUpdates            atomic.Int32 // the next ones fail
}

var errInjected = errors.New("injected")

func (s *countingStore) Get(ctx context.Context, ns, name string) (activity.Session, error) {
	s.gets.Add(1)
	return s.MemoryStore.Get(ctx, ns, name)
}

func (s *countingStore) Update(ctx context.Context, in activity.Session) (activity.Session, error) {
	s.updates.Add(1)
	if s.failUpdates.Add(-1) >= 0 {
		return activity.Session{}, errInjected
	}
	return s.MemoryStore.Update(ctx, in)
}

func (s *countingStore) RecordActivity(ctx context.Context, stamps []activity.Stamp) error {
	s.batches.Add(1)
	return s.MemoryStore.RecordActivity(ctx, stamps)
}

func (s *countingStore) calls() int32 { return s.gets.Load() + s.updates.Load() + s.batches.Load() }

// newBridge returns a Bridge over a counting MemoryStore, through a Tracker
// with write-behind on the host's clock.
func newBridge(t *testing.T, h *host, opts ...activity.Option) (*activitysync.Bridge, *activity.Tracker, *countingStore) {
	st := &countingStore{MemoryStore: activity.NewMemoryStore()}
	opts = append([]activity.Option{activity.WithClock(h.c), activity.WithGracePeriod(grace), activity.WithWriteBehind(time.Hour)}, opts...)
	tr := activity.NewTracker(st, opts...)
	t.Cleanup(func() { assert.NoError(t, tr.Close(context.Background())) })
	return activitysync.New(tr, activitysync.Options{Sessions: h.sessions(), Clock: h.c}), tr, st
}

func get(t *testing.T, st activity.Store, ns, name string) activity.Session {
	t.Helper()
	s, err := st.Get(t.Context(), ns, name)
	require.NoError(t, err, "%s/%s", ns, name)
	return s
}

// TestSyncReportsWhatTheHostSees: the records hold the sessions' IDs,
// workspaces, states and idle timeouts, and the Store's ActivityStatus of
// each is the host's.
func TestSyncReportsWhatTheHostSees(t *testing.T) {
	h := newHost(t)
	b, tr, st := newBridge(t, h)
	registered := h.c.Now()
	busy := h.add("ws1", "busy")
	quiet := h.add("ws1", "quiet")
	other := h.add("ws2", "other")
	require.NoError(t, b.Sync(t.Context()))

	for _, s := range []*processes.Session{busy, quiet, other} {
		rec := get(t, st, s.WorkspaceID, s.ID)
		assert.Equal(t, processes.StateRunning, rec.State, s.ID)
		assert.Equal(t, idleTimeout, rec.IdleTimeout, "%s: got the idle timeout %v, want the Manager's", s.ID, rec.IdleTimeout)
		require.NotNil(t, rec.LastActivity, s.ID)
		assert.True(t, registered.Equal(*rec.LastActivity), "%s: got LastActivity %v, want the registration", s.ID, rec.LastActivity)
		assert.True(t, registered.Equal(rec.CreatedAt), "%s: got CreatedAt %v", s.ID, rec.CreatedAt)
	}

	for minute := 1; minute <= 14; minute++ {
		h.c.Add(time.Minute)
		if minute%3 == 0 {
			busy.Append("stdout", []byte("tick\n"))
		}
		require.NoError(t, b.Sync(t.Context()))
		require.NoError(t, tr.Flush(t.Context()))
		now := h.c.Now()
		for _, s := range []*processes.Session{busy, quiet, other} {
			want := s.ActivityStatusAt(now, grace)
			rec := get(t, st, s.WorkspaceID, s.ID)
			got := activity.Status(rec, grace, now)
			assert.Equal(t, want.IsIdle, got.IsIdle, "minute %d, %s: IsIdle", minute, s.ID)
			assert.Equal(t, want.ShouldHibernate, got.ShouldHibernate, "minute %d, %s: ShouldHibernate", minute, s.ID)
			assert.Equal(t, want.IdleDuration, got.IdleDuration, "minute %d, %s: IdleDuration", minute, s.ID)
			assert.Equal(t, want.IdleThreshold, got.IdleThreshold, "minute %d, %s: IdleThreshold", minute, s.ID)
		}
	}
	assert.True(t, activity.Status(get(t, st, "ws1", "quiet"), grace, h.c.Now()).ShouldHibernate, "precondition: quiet is due by now")
	assert.False(t, activity.Status(get(t, st, "ws1", "busy"), grace, h.c.Now()).IsIdle, "precondition: busy is active")
}

// TestSyncActivityGoesThroughWriteBehind: activity reaches the Store only
// with the Tracker's flush, all sessions in one batch, and Syncs with
// nothing new cost no Store call at all.
func TestSyncActivityGoesThroughWriteBehind(t *testing.T) {
	h := newHost(t)
	b, tr, st := newBridge(t, h)
	a, c := h.add("ws", "a"), h.add("ws", "c")
	require.NoError(t, b.Sync(t.Context()))
	created := st.calls()

	require.NoError(t, b.Sync(t.Context()))
	assert.Equal(t, created, st.calls(), "got Store calls for a Sync with nothing new")

	for range 10 {
		h.c.Add(time.Second)
		a.Append("stdout", []byte("x"))
		c.Append("stderr", []byte("y"))
		require.NoError(t, b.Sync(t.Context()))
	}
	assert.Equal(t, created, st.calls(), "got Store calls before the flush")
	require.NoError(t, tr.Flush(t.Context()))
	assert.Equal(t, int32(1), st.batches.Load(), "got %d batches, want one", st.batches.Load())
	for _, s := range []*processes.Session{a, c} {
		rec := get(t, st, "ws", s.ID)
		assert.True(t, s.LastActivity().Equal(*rec.LastActivity), "%s: got %v, want %v", s.ID, rec.LastActivity, s.LastActivity())
	}
}

// TestSyncStates: the record follows the session to exited and closed,
// whether the closed session is still listed or gone.
func TestSyncStates(t *testing.T) {
	tests := []struct {
		name   string
		change func(h *host, s *processes.Session)
		want   string
	}{
		{"running", func(*host, *processes.Session) {}, processes.StateRunning},
		{"exited", func(_ *host, s *processes.Session) { s.SetExit(3) }, processes.StateExited},
		{"forgotten: gone from the listing", func(h *host, s *processes.Session) { h.m.Forget(s.ID) }, processes.StateClosed},
		{"evicted: gone from the listing", func(h *host, _ *processes.Session) { h.c.Add(idleTimeout + time.Second); h.m.Sweep() }, processes.StateClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHost(t)
			b, _, st := newBridge(t, h)
			s := h.add("ws", "a")
			require.NoError(t, b.Sync(t.Context()))
			tt.change(h, s)
			require.NoError(t, b.Sync(t.Context()))
			assert.Equal(t, tt.want, get(t, st, "ws", "a").State)
		})
	}
}

// TestSyncClosedButListed: a session the embedder still lists after it
// closed is recorded as closed.
func TestSyncClosedButListed(t *testing.T) {
	h := newHost(t)
	st := activity.NewMemoryStore()
	tr := activity.NewTracker(st, activity.WithClock(h.c))
	s := h.add("ws", "a")
	b := activitysync.New(tr, activitysync.Options{Sessions: func(yield func(*processes.Session) bool) { yield(s) }})
	require.NoError(t, b.Sync(t.Context()))
	h.m.Forget("a")
	require.True(t, s.Closed(), "precondition")
	require.NoError(t, b.Sync(t.Context()))
	assert.Equal(t, processes.StateClosed, get(t, st, "ws", "a").State)
}

// TestSyncLeavesTheFleetsHibernationStanding: an idle monitor's hibernation
// is not undone while the host's session runs, activity included, and
// gives way once the session exits.
func TestSyncLeavesTheFleetsHibernationStanding(t *testing.T) {
	h := newHost(t)
	b, tr, st := newBridge(t, h)
	s := h.add("ws", "a")
	require.NoError(t, b.Sync(t.Context()))
	h.c.Add(idleTimeout + grace + time.Second)
	require.NoError(t, tr.HibernateIdleSession(t.Context(), "ws", "a"))

	s.Append("stdout", []byte("late output"))
	require.NoError(t, b.Sync(t.Context()))
	require.NoError(t, tr.Flush(t.Context()))
	rec := get(t, st, "ws", "a")
	assert.Equal(t, activity.StateHibernated, rec.State, "got the hibernation undone by a Sync")
	assert.True(t, s.LastActivity().Equal(*rec.LastActivity), "activity is still recorded")

	s.SetExit(0)
	require.NoError(t, b.Sync(t.Context()))
	assert.Equal(t, processes.StateExited, get(t, st, "ws", "a").State)
}

// TestSyncAfterARestart: a new Bridge finds the records of the one before
// it and brings them up to date instead of failing on them.
func TestSyncAfterARestart(t *testing.T) {
	h := newHost(t)
	st := activity.NewMemoryStore()
	old := activity.Session{Namespace: "ws", Name: "a", State: processes.StateExited, IdleTimeout: time.Hour, CreatedAt: h.c.Now().Add(-time.Hour)}
	_, err := st.Update(t.Context(), old)
	require.NoError(t, err)
	hib := activity.Session{Namespace: "ws", Name: "h", State: activity.StateHibernated, IdleTimeout: idleTimeout, CreatedAt: h.c.Now().Add(-time.Hour)}
	_, err = st.Update(t.Context(), hib)
	require.NoError(t, err)

	h.c.Add(time.Minute)
	a, hs := h.add("ws", "a"), h.add("ws", "h")
	tr := activity.NewTracker(st, activity.WithClock(h.c))
	b := activitysync.New(tr, activitysync.Options{Sessions: h.sessions()})
	require.NoError(t, b.Sync(t.Context()))

	rec := get(t, st, "ws", "a")
	assert.Equal(t, processes.StateRunning, rec.State, "a new incarnation runs")
	assert.Equal(t, idleTimeout, rec.IdleTimeout)
	assert.True(t, a.LastActivity().Equal(*rec.LastActivity), "got LastActivity %v", rec.LastActivity)
	rec = get(t, st, "ws", "h")
	assert.Equal(t, activity.StateHibernated, rec.State, "the hibernation stands")
	assert.True(t, hs.LastActivity().Equal(*rec.LastActivity))
}

// TestSyncRetriesFailedSessions: a Store error on one session is reported
// with its name, the others are reported, and the next Sync catches up.
func TestSyncRetriesFailedSessions(t *testing.T) {
	h := newHost(t)
	b, _, st := newBridge(t, h)
	h.add("ws", "a")
	h.add("ws", "b")
	st.failUpdates.Store(1) // a's creation
	err := b.Sync(t.Context())
	assert.ErrorIs(t, err, errInjected)
	assert.ErrorContains(t, err, "ws/a")
	_, err = st.Get(t.Context(), "ws", "b")
	assert.NoError(t, err, "b is reported despite a's failure")

	require.NoError(t, b.Sync(t.Context()))
	assert.Equal(t, processes.StateRunning, get(t, st, "ws", "a").State)
}

// TestSyncContextEnded stops and reports the context's error.
func TestSyncContextEnded(t *testing.T) {
	h := newHost(t)
	b, _, st := newBridge(t, h)
	h.add("ws", "a")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	assert.ErrorIs(t, b.Sync(ctx), context.Canceled)
	assert.Zero(t, st.calls(), "got Store calls with a done context")
}

// TestSyncHeldSessionIsActive: a session a client holds is active now for
// the host, and so in the Store.
func TestSyncHeldSessionIsActive(t *testing.T) {
	h := newHost(t)
	b, tr, st := newBridge(t, h)
	s := h.add("ws", "a")
	release := s.Hold()
	defer release()
	require.NoError(t, b.Sync(t.Context()))
	h.c.Add(time.Hour)
	require.NoError(t, b.Sync(t.Context()))
	require.NoError(t, tr.Flush(t.Context()))
	now := h.c.Now()
	rec := get(t, st, "ws", "a")
	assert.True(t, now.Equal(*rec.LastActivity), "got LastActivity %v, want now %v", rec.LastActivity, now)
	assert.False(t, activity.Status(rec, grace, now).IsIdle)
}

func TestNamespaceOption(t *testing.T) {
	h := newHost(t)
	st := activity.NewMemoryStore()
	tr := activity.NewTracker(st, activity.WithClock(h.c))
	h.add("ws", "a")
	b := activitysync.New(tr, activitysync.Options{
		Sessions:  h.sessions(),
		Namespace: func(s *processes.Session) string { return "host1/" + s.WorkspaceID },
	})
	require.NoError(t, b.Sync(t.Context()))
	_, err := st.Get(t.Context(), "host1/ws", "a")
	assert.NoError(t, err)
	_, err = st.Get(t.Context(), "ws", "a")
	assert.ErrorIs(t, err, activity.ErrNotFound)
}

// TestRun syncs at each interval of the clock until its context ends.
func TestRun(t *testing.T) {
	h := newHost(t)
	st := activity.NewMemoryStore()
	tr := activity.NewTracker(st, activity.WithClock(h.c))
	logs := make(chan string, 100)
	b := activitysync.New(tr, activitysync.Options{Sessions: h.sessions(), Clock: h.c, Logger: slog.New(msgHandler(logs))})
	h.add("ws", "a")
	ctx, cancel := context.WithCancel(t.Context())
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		b.Run(ctx, time.Minute)
	}()
	waitMsg(t, logs, "activitysync: started")
	_, err := st.Get(t.Context(), "ws", "a")
	assert.ErrorIs(t, err, activity.ErrNotFound, "got a Sync before the first interval")
	h.c.Add(time.Minute)
	waitMsg(t, logs, "activitysync: sync")
	_, err = st.Get(t.Context(), "ws", "a")
	assert.NoError(t, err, "got no Sync at the first interval")
	cancel()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func TestNewPanics(t *testing.T) {
	tr := activity.NewTracker(activity.NewMemoryStore())
	assert.PanicsWithValue(t, "activitysync: nil Tracker", func() {
		activitysync.New(nil, activitysync.Options{Sessions: func(func(*processes.Session) bool) {}})
	})
	assert.PanicsWithValue(t, "activitysync: nil Options.Sessions", func() { activitysync.New(tr, activitysync.Options{}) })
	b := activitysync.New(tr, activitysync.Options{Sessions: func(func(*processes.Session) bool) {}})
	assert.PanicsWithValue(t, "activitysync: non-positive interval for Run", func() { b.Run(t.Context(), 0) })
}

// msgHandler sends each record's message to a channel.
type msgHandler chan string

func (h msgHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h msgHandler) Handle(_ context.Context, r slog.Record) error {
	h <- r.Message
	return nil
}
func (h msgHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h msgHandler) WithGroup(string) slog.Handler      { return h }

func waitMsg(t *testing.T, ch <-chan string, msg string) {
	t.Helper()
	for {
		select {
		case got := <-ch:
			if got == msg {
				return
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no log %q", msg)
		}
	}
}

// stuckStore is a MemoryStore whose Updates tell entered and then wait for
// their context to end, as over a database that stopped answering.
type stuckStore struct {
	*activity.MemoryStore
	entered chan struct{}
}

func (s *stuckStore) Update(ctx context.Context, _ activity.Session) (activity.Session, error) {
	s.entered <- struct{}{}
	<-ctx.Done()
	return activity.Session{}, ctx.Err()
}

// TestSyncReturnsWhenItsContextEndsWhileWaiting: a Sync waiting for one
// stuck in the Store returns its context's error when its context ends;
// it waited on a mutex, past any deadline.
func TestSyncReturnsWhenItsContextEndsWhileWaiting(t *testing.T) {
	h := newHost(t)
	st := &stuckStore{MemoryStore: activity.NewMemoryStore(), entered: make(chan struct{}, 1)}
	tr := activity.NewTracker(st, activity.WithClock(h.c))
	b := activitysync.New(tr, activitysync.Options{Sessions: h.sessions(), Clock: h.c})
	h.add("ws", "a")

	stuck, unstick := context.WithCancel(t.Context())
	first := make(chan error, 1)
	go func() { first <- b.Sync(stuck) }()
	select {
	case <-st.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the first Sync did not reach the Store")
	}

	ctx, cancel := context.WithCancel(t.Context())
	second := make(chan error, 1)
	go func() { second <- b.Sync(ctx) }()
	cancel()
	select {
	case err := <-second:
		assert.ErrorIs(t, err, context.Canceled, "got %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("a Sync waiting for another did not return when its context ended")
	}
	unstick()
	assert.ErrorIs(t, <-first, context.Canceled)
}

// TestSyncNewIncarnationIsNotHibernated: a session that replaces a
// hibernated one under the same ID between two Syncs (the wake of a
// hibernated session: its Publisher closed it and it started again) is
// recorded running, as when a Sync sees the old one close first; it kept
// the old one's hibernation, so that no idle monitor would hibernate it
// again.
func TestSyncNewIncarnationIsNotHibernated(t *testing.T) {
	h := newHost(t)
	b, tr, st := newBridge(t, h)
	old := h.add("ws", "a")
	require.NoError(t, b.Sync(t.Context()))
	h.c.Add(idleTimeout + grace + time.Second)
	require.NoError(t, tr.HibernateIdleSession(t.Context(), "ws", "a"))

	h.m.Register(&processes.Session{ID: "a", WorkspaceID: "ws"}) // replaces old, which is closed
	require.True(t, old.Closed(), "precondition")
	require.NoError(t, b.Sync(t.Context()))
	assert.Equal(t, processes.StateRunning, get(t, st, "ws", "a").State, "got the old session's hibernation on the new one")

	h.c.Add(idleTimeout + grace + time.Second)
	require.NoError(t, b.Sync(t.Context()))
	names, err := tr.HibernateIdle(t.Context(), "ws")
	require.NoError(t, err)
	assert.Equal(t, []string{"a"}, names, "got the new session, idle in turn, not hibernated")
}

// cancellingStore is a MemoryStore whose first Update fails and ends a
// context, as a Store error does in the Sync that a shutdown interrupts.
type cancellingStore struct {
	*activity.MemoryStore
	cancel context.CancelFunc
	once   sync.Once
}

func (s *cancellingStore) Update(ctx context.Context, in activity.Session) (activity.Session, error) {
	failed := false
	s.once.Do(func() { s.cancel(); failed = true })
	if failed {
		return activity.Session{}, errInjected
	}
	return s.MemoryStore.Update(ctx, in)
}

// errHandler sends each Error record's err to a channel and each message
// to another.
type errHandler struct{ errs, msgs chan any }

func (h errHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h errHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level == slog.LevelError {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "err" {
				h.errs <- a.Value.Any()
			}
			return true
		})
	}
	h.msgs <- r.Message
	return nil
}
func (h errHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h errHandler) WithGroup(string) slog.Handler      { return h }

// TestRunLogsStoreErrorsOfItsLastSync: a Store error in the Sync that Run's
// end interrupts is logged, beside the context's error that is not; Run
// dropped the whole joined error, though no later Sync retries it.
func TestRunLogsStoreErrorsOfItsLastSync(t *testing.T) {
	h := newHost(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	st := &cancellingStore{MemoryStore: activity.NewMemoryStore(), cancel: cancel}
	tr := activity.NewTracker(st, activity.WithClock(h.c))
	logs := errHandler{errs: make(chan any, 10), msgs: make(chan any, 100)}
	b := activitysync.New(tr, activitysync.Options{Sessions: h.sessions(), Clock: h.c, Logger: slog.New(logs)})
	h.add("ws", "a")
	h.add("ws", "b")
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		b.Run(ctx, time.Minute)
	}()
	for msg := range logs.msgs {
		if msg == "activitysync: started" {
			break
		}
	}
	h.c.Add(time.Minute)
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	close(logs.errs)
	var logged []error
	for e := range logs.errs {
		logged = append(logged, e.(error))
	}
	require.Len(t, logged, 1, "got %d error logs, want the Store's", len(logged))
	assert.ErrorIs(t, logged[0], errInjected)
	assert.NotErrorIs(t, logged[0], context.Canceled, "got the context's error logged too")
}
