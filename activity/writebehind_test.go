package activity_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/activity"
)

// Log message the write-behind tests synchronise on.
const logFlush = "activity: write-behind flush"

// batchStore is a MemoryStore whose RecordActivity records each batch, may
// fail, and may block until released.
type batchStore struct {
	*activity.MemoryStore

	mu      sync.Mutex
	batches [][]activity.Stamp
	fail    []error       // returned by the next calls, one each
	entered chan struct{} // when set, told of each call
	release chan struct{} // when set, each call waits for it or for its ctx
}

func newBatchStore() *batchStore { return &batchStore{MemoryStore: activity.NewMemoryStore()} }

func (b *batchStore) RecordActivity(ctx context.Context, stamps []activity.Stamp) error {
	b.mu.Lock()
	b.batches = append(b.batches, slices.Clone(stamps))
	var err error
	if len(b.fail) > 0 {
		err, b.fail = b.fail[0], b.fail[1:]
	}
	b.mu.Unlock()
	if b.entered != nil {
		b.entered <- struct{}{}
	}
	if b.release != nil {
		select {
		case <-b.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err != nil {
		return err
	}
	return b.MemoryStore.RecordActivity(ctx, stamps)
}

func (b *batchStore) calls() [][]activity.Stamp {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.batches)
}

// closeTracker closes tr when the test ends.
func closeTracker(t *testing.T, tr *activity.Tracker) {
	t.Cleanup(func() { assert.NoError(t, tr.Close(context.Background())) })
}

// TestWriteBehindCoalesces: many touches of a session within one interval
// cost one write, of the latest stamp, in one batch for all sessions, and
// nothing reaches the Store before the interval ends.
func TestWriteBehindCoalesces(t *testing.T) {
	st := newBatchStore()
	create(t, st, running("ns", "a", time.Hour))
	create(t, st, running("ns", "b", time.Hour))
	create(t, st, running("ns", "c", time.Hour))
	logs := newLogRecorder()
	tr, c, _ := newTracker(st, activity.WithWriteBehind(time.Minute), activity.WithLogger(slog.New(logs)))
	closeTracker(t, tr)

	for range 59 {
		c.Add(time.Second)
		require.NoError(t, tr.UpdateSessionActivity(t.Context(), "ns", "a"))
		require.NoError(t, tr.UpdateSessionActivity(t.Context(), "ns", "b"))
	}
	require.NoError(t, tr.RecordActivity(t.Context(), "ns", "b", at(30*time.Second))) // older than b's latest
	for _, name := range []string{"a", "b", "c"} {
		s := get(t, st, "ns", name)
		assert.Nil(t, s.LastActivity, "%s: got LastActivity %v before the flush, want nothing written", name, s.LastActivity)
		assert.Equal(t, int64(1), s.Version, "%s: got Version %d before the flush", name, s.Version)
	}
	assert.Empty(t, st.calls(), "got writes before the interval ended")

	c.Add(time.Second) // the interval ends: one flush
	logs.waitFor(t, logFlush)
	calls := st.calls()
	require.Len(t, calls, 1, "got %d RecordActivity calls, want one batch", len(calls))
	want := []activity.Stamp{{Namespace: "ns", Name: "a", At: at(59 * time.Second)}, {Namespace: "ns", Name: "b", At: at(59 * time.Second)}}
	assert.Equal(t, want, calls[0], "got batch %v, want the latest stamp of each touched session", calls[0])
	for _, name := range []string{"a", "b"} {
		s := get(t, st, "ns", name)
		require.NotNil(t, s.LastActivity)
		assert.Equal(t, at(59*time.Second), *s.LastActivity, "%s: got LastActivity %v", name, *s.LastActivity)
		assert.Equal(t, int64(2), s.Version, "%s: got Version %d, want one write", name, s.Version)
	}
	assert.Equal(t, int64(1), get(t, st, "ns", "c").Version, "untouched c was written")

	c.Add(time.Minute) // nothing pending: no call
	logs.waitFor(t, logFlush)
	assert.Len(t, st.calls(), 1, "got a write with nothing pending")
}

// TestWriteBehindStampsOnlyMoveForward: a flush never overwrites a newer
// stamp that another server wrote meanwhile.
func TestWriteBehindStampsOnlyMoveForward(t *testing.T) {
	tests := []struct {
		name     string
		store    func() activity.Store
		stored   time.Duration // written by another server before the flush
		pending  time.Duration
		wantLast time.Duration
	}{
		{"batch: newer stored stays", func() activity.Store { return newBatchStore() }, 10 * time.Minute, 5 * time.Minute, 10 * time.Minute},
		{"batch: newer pending lands", func() activity.Store { return newBatchStore() }, 5 * time.Minute, 10 * time.Minute, 10 * time.Minute},
		{"one by one: newer stored stays", func() activity.Store { return &hookStore{Store: activity.NewMemoryStore()} }, 10 * time.Minute, 5 * time.Minute, 10 * time.Minute},
		{"one by one: newer pending lands", func() activity.Store { return &hookStore{Store: activity.NewMemoryStore()} }, 5 * time.Minute, 10 * time.Minute, 10 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.store()
			create(t, st, running("ns", "a", time.Hour))
			tr, c, _ := newTracker(st, activity.WithWriteBehind(time.Hour))
			closeTracker(t, tr)
			c.Add(20 * time.Minute)
			require.NoError(t, tr.RecordActivity(t.Context(), "ns", "a", at(tt.pending)))

			other := activity.NewTracker(st) // another server, writing through
			require.NoError(t, other.RecordActivity(t.Context(), "ns", "a", at(tt.stored)))

			require.NoError(t, tr.Flush(t.Context()))
			s := get(t, st, "ns", "a")
			require.NotNil(t, s.LastActivity)
			assert.Equal(t, at(tt.wantLast), *s.LastActivity, "got LastActivity %v, want %v", *s.LastActivity, at(tt.wantLast))
		})
	}
}

// TestWriteBehindIdleDecisionsUseTheNewerStamp: the Tracker decides on the
// newer of the stored and the pending stamp, in every decision it makes.
func TestWriteBehindIdleDecisionsUseTheNewerStamp(t *testing.T) {
	// Timeout 10m, grace 5m: due 15m after the last activity. Now: 30m.
	tests := []struct {
		name     string
		stored   *time.Time // nil: none, idle since creation at 0
		pending  *time.Time // nil: nothing pending
		wantIdle bool
	}{
		{"old stored, recent pending: active", ptr(at(time.Minute)), ptr(at(25 * time.Minute)), false},
		{"recent stored, old pending: active", ptr(at(25 * time.Minute)), ptr(at(time.Minute)), false},
		{"none stored, recent pending: active", nil, ptr(at(25 * time.Minute)), false},
		{"old stored, old pending: idle", ptr(at(time.Minute)), ptr(at(2 * time.Minute)), true},
		{"old stored, nothing pending: idle", ptr(at(time.Minute)), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newBatchStore()
			s := running("ns", "a", 10*time.Minute)
			s.LastActivity = tt.stored
			create(t, st, s)
			tr, c, pub := newTracker(st, activity.WithWriteBehind(time.Hour))
			closeTracker(t, tr)
			if tt.pending != nil {
				require.NoError(t, tr.RecordActivity(t.Context(), "ns", "a", *tt.pending))
			}
			c.Add(30 * time.Minute)

			s = get(t, st, "ns", "a")
			status := tr.GetActivityStatus(&s)
			assert.Equal(t, tt.wantIdle, status.ShouldHibernate, "GetActivityStatus: got ShouldHibernate %v", status.ShouldHibernate)
			idle, err := tr.CheckIdleSessions(t.Context(), "ns")
			require.NoError(t, err)
			assert.Equal(t, tt.wantIdle, len(idle) == 1, "CheckIdleSessions: got %d idle", len(idle))

			err = tr.HibernateIdleSession(t.Context(), "ns", "a")
			if tt.wantIdle {
				assert.NoError(t, err)
				assert.Len(t, pub.drain(), 1, "got no event for the idle session")
			} else {
				assert.ErrorIs(t, err, activity.ErrNotIdle, "HibernateIdleSession: got %v", err)
				names, err := tr.HibernateIdle(t.Context(), "ns")
				assert.NoError(t, err)
				assert.Empty(t, names, "HibernateIdle: got %v hibernated", names)
				assert.Empty(t, pub.drain(), "got events for an active session")
				assert.Equal(t, activity.StateRunning, get(t, st, "ns", "a").State)
			}
		})
	}
}

// TestWriteBehindStampsInFlightStillCount: while a flush is being written,
// its stamps are neither pending nor stored, and still keep the session
// active.
func TestWriteBehindStampsInFlightStillCount(t *testing.T) {
	st := newBatchStore()
	st.entered, st.release = make(chan struct{}), make(chan struct{})
	create(t, st, running("ns", "a", 10*time.Minute))
	tr, c, _ := newTracker(st, activity.WithWriteBehind(time.Hour))
	closeTracker(t, tr)
	c.Add(30 * time.Minute)
	require.NoError(t, tr.UpdateSessionActivity(t.Context(), "ns", "a"))

	flushed := make(chan error, 1)
	go func() { flushed <- tr.Flush(t.Context()) }()
	recv(t, st.entered, "the flush to reach the Store")
	err := tr.HibernateIdleSession(t.Context(), "ns", "a")
	assert.ErrorIs(t, err, activity.ErrNotIdle, "got %v during the flush, want the stamp being written to count", err)
	close(st.release)
	assert.NoError(t, recv(t, flushed, "Flush"))
}

// TestWriteBehindFailedFlushKeepsStamps: a failed flush loses nothing: the
// stamps stay pending, still count, and the next flush writes them.
func TestWriteBehindFailedFlushKeepsStamps(t *testing.T) {
	boom := errors.New("boom")
	st := newBatchStore()
	st.fail = []error{boom}
	create(t, st, running("ns", "a", 10*time.Minute))
	tr, c, _ := newTracker(st, activity.WithWriteBehind(time.Hour))
	closeTracker(t, tr)
	c.Add(30 * time.Minute)
	require.NoError(t, tr.UpdateSessionActivity(t.Context(), "ns", "a"))

	err := tr.Flush(t.Context())
	assert.ErrorIs(t, err, boom, "got %v, want the Store's error", err)
	assert.ErrorIs(t, tr.HibernateIdleSession(t.Context(), "ns", "a"), activity.ErrNotIdle, "the unwritten stamp still counts")
	assert.Nil(t, get(t, st, "ns", "a").LastActivity, "precondition: nothing written")

	require.NoError(t, tr.Flush(t.Context()))
	s := get(t, st, "ns", "a")
	require.NotNil(t, s.LastActivity, "got nothing written by the second flush")
	assert.Equal(t, at(30*time.Minute), *s.LastActivity)
}

// TestWriteBehindPeriodicFlushErrorIsLogged: the flushing goroutine reports
// a failure and tries again at the next interval.
func TestWriteBehindPeriodicFlushErrorIsLogged(t *testing.T) {
	boom := errors.New("boom")
	st := newBatchStore()
	st.fail = []error{boom}
	create(t, st, running("ns", "a", 10*time.Minute))
	logs := newLogRecorder()
	tr, c, _ := newTracker(st, activity.WithWriteBehind(time.Minute), activity.WithLogger(slog.New(logs)))
	closeTracker(t, tr)
	require.NoError(t, tr.UpdateSessionActivity(t.Context(), "ns", "a"))

	c.Add(time.Minute)
	records := logs.waitFor(t, logFlush)
	r := records[len(records)-1]
	assert.Equal(t, slog.LevelError, r.Level, "got level %v, want Error", r.Level)
	err, _ := attr(r, "err").Any().(error)
	assert.ErrorIs(t, err, boom, "got logged error %v", err)

	c.Add(time.Minute)
	logs.waitFor(t, logFlush)
	assert.NotNil(t, get(t, st, "ns", "a").LastActivity, "got nothing written at the next interval")
}

// TestCloseFlushesAndRefusesMore: Close writes what is pending, stops the
// flushing goroutine (goleak checks that it is gone), and later activity is
// refused rather than lost silently.
func TestCloseFlushesAndRefusesMore(t *testing.T) {
	st := newBatchStore()
	create(t, st, running("ns", "a", 10*time.Minute))
	tr, c, _ := newTracker(st, activity.WithWriteBehind(time.Hour))
	c.Add(time.Minute)
	require.NoError(t, tr.UpdateSessionActivity(t.Context(), "ns", "a"))

	require.NoError(t, tr.Close(t.Context()))
	s := get(t, st, "ns", "a")
	require.NotNil(t, s.LastActivity, "got nothing written by Close")
	assert.Equal(t, at(time.Minute), *s.LastActivity)

	err := tr.UpdateSessionActivity(t.Context(), "ns", "a")
	assert.ErrorIs(t, err, activity.ErrClosed, "got %v after Close", err)
	assert.NoError(t, tr.Close(t.Context()), "a second Close")
	assert.NoError(t, tr.Flush(t.Context()), "Flush after Close, with nothing pending")
	_, err = tr.HibernateIdle(t.Context(), "ns")
	assert.NoError(t, err, "the Tracker's other methods work after Close")
}

// TestCloseReturnsWhenItsContextEnds: a flush stuck in the Store does not
// hold Close past its context; the stamps it could not write are reported.
func TestCloseReturnsWhenItsContextEnds(t *testing.T) {
	st := newBatchStore()
	st.entered, st.release = make(chan struct{}, 2), make(chan struct{}) // never released
	create(t, st, running("ns", "a", 10*time.Minute))
	logs := newLogRecorder()
	tr, c, _ := newTracker(st, activity.WithWriteBehind(time.Minute), activity.WithLogger(slog.New(logs)))
	require.NoError(t, tr.UpdateSessionActivity(t.Context(), "ns", "a"))
	c.Add(time.Minute)
	recv(t, st.entered, "the periodic flush to reach the Store")

	ctx, cancel := context.WithCancel(t.Context())
	closed := make(chan error, 1)
	go func() { closed <- tr.Close(ctx) }()
	cancel()
	err := recv(t, closed, "Close")
	assert.ErrorIs(t, err, context.Canceled, "got %v, want the context's error for what could not be written", err)
}

// TestWriteBehindOneByOneWithoutBatchRecorder: over a Store without
// RecordActivity, a flush writes each session with compare-and-set and
// drops stamps of sessions the Store does not hold.
func TestWriteBehindOneByOneWithoutBatchRecorder(t *testing.T) {
	mem := activity.NewMemoryStore()
	st := &hookStore{Store: mem}
	create(t, mem, running("ns", "a", time.Hour))
	create(t, mem, running("ns", "b", time.Hour))
	tr, c, _ := newTracker(st, activity.WithWriteBehind(time.Hour))
	closeTracker(t, tr)
	c.Add(time.Minute)
	for _, name := range []string{"a", "b", "unknown", "a"} {
		require.NoError(t, tr.UpdateSessionActivity(t.Context(), "ns", name))
	}
	require.NoError(t, tr.Flush(t.Context()), "an unknown session is not an error")
	assert.Equal(t, int32(2), st.updates.Load(), "got %d Updates, want one per known session", st.updates.Load())
	for _, name := range []string{"a", "b"} {
		s := get(t, mem, "ns", name)
		require.NotNil(t, s.LastActivity, name)
		assert.Equal(t, at(time.Minute), *s.LastActivity, name)
	}
}

// TestRecordActivityWriteThrough: without write-behind a stamp is written
// at once, never backwards, and an unknown session is an error.
func TestRecordActivityWriteThrough(t *testing.T) {
	tests := []struct {
		name        string
		session     string
		stamp       time.Duration
		wantErr     error
		wantLast    time.Duration
		wantVersion int64
	}{
		{"newer stamp lands", "a", 20 * time.Minute, nil, 20 * time.Minute, 3},
		{"equal stamp lands", "a", 10 * time.Minute, nil, 10 * time.Minute, 3},
		{"older stamp is ignored", "a", 5 * time.Minute, nil, 10 * time.Minute, 2},
		{"unknown session", "b", time.Minute, activity.ErrNotFound, 10 * time.Minute, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := activity.NewMemoryStore()
			create(t, st, running("ns", "a", time.Hour))
			tr, _, _ := newTracker(st)
			require.NoError(t, tr.RecordActivity(t.Context(), "ns", "a", at(10*time.Minute)))

			err := tr.RecordActivity(t.Context(), "ns", tt.session, at(tt.stamp))
			assert.ErrorIs(t, err, tt.wantErr)
			s := get(t, st, "ns", "a")
			require.NotNil(t, s.LastActivity)
			assert.Equal(t, at(tt.wantLast), *s.LastActivity, "got LastActivity %v", *s.LastActivity)
			assert.Equal(t, tt.wantVersion, s.Version, "got Version %d", s.Version)
			assert.NoError(t, tr.Flush(t.Context()), "Flush without write-behind")
			assert.NoError(t, tr.Close(t.Context()), "Close without write-behind")
		})
	}
}

func TestWithWriteBehindNonPositiveWritesThrough(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Minute} {
		t.Run(d.String(), func(t *testing.T) {
			st := activity.NewMemoryStore()
			create(t, st, running("ns", "a", time.Hour))
			tr, c, _ := newTracker(st, activity.WithWriteBehind(d))
			c.Add(time.Minute)
			require.NoError(t, tr.UpdateSessionActivity(t.Context(), "ns", "a"))
			s := get(t, st, "ns", "a")
			require.NotNil(t, s.LastActivity, "got nothing written at once with WithWriteBehind(%v)", d)
			assert.ErrorIs(t, tr.UpdateSessionActivity(t.Context(), "ns", "b"), activity.ErrNotFound, "write-through reports unknown sessions")
		})
	}
}

// TestWriteBehindConcurrent: touches from many goroutines while flushes run
// lose no session and end with each session's latest stamp.
func TestWriteBehindConcurrent(t *testing.T) {
	const goroutines, sessions, rounds = 8, 50, 20
	st := newBatchStore()
	for i := range sessions {
		create(t, st, running("ns", name(i), time.Hour))
	}
	tr, _, _ := newTracker(st, activity.WithWriteBehind(time.Hour))
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for r := range rounds {
				for i := range sessions {
					assert.NoError(t, tr.RecordActivity(t.Context(), "ns", name(i), at(time.Duration(r*goroutines+g)*time.Second)))
				}
				if r%5 == 0 {
					assert.NoError(t, tr.Flush(t.Context()))
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, tr.Close(t.Context()))
	want := at(time.Duration((rounds-1)*goroutines+goroutines-1) * time.Second)
	for i := range sessions {
		s := get(t, st, "ns", name(i))
		require.NotNil(t, s.LastActivity, name(i))
		assert.Equal(t, want, *s.LastActivity, "%s: got %v, want the latest stamp %v", name(i), *s.LastActivity, want)
	}
}

func name(i int) string { return string(rune('a'+i/26)) + string(rune('a'+i%26)) }

// TestWriteBehindCrashLosesAtMostOneInterval: a server that dies between
// flushes (here: Close with its context already done, which writes
// nothing) has lost at most the last interval of activity, and the Store
// never shows activity later than the real one.
func TestWriteBehindCrashLosesAtMostOneInterval(t *testing.T) {
	const w = time.Minute
	st := newBatchStore()
	create(t, st, running("ns", "a", time.Hour))
	logs := newLogRecorder()
	tr, c, _ := newTracker(st, activity.WithWriteBehind(w), activity.WithLogger(slog.New(logs)))
	var last time.Time
	for step := 1; step <= 32; step++ { // touched every 10s until 5m20s
		c.Add(10 * time.Second)
		if step%6 == 0 {
			logs.waitFor(t, logFlush) // each minute's flush is over before the next touch
		}
		require.NoError(t, tr.UpdateSessionActivity(t.Context(), "ns", "a"))
		last = c.Now()
	}
	crashed, cancel := context.WithCancel(t.Context())
	cancel()
	assert.ErrorIs(t, tr.Close(crashed), context.Canceled, "the unwritten stamps are reported")

	s := get(t, st, "ns", "a")
	require.NotNil(t, s.LastActivity)
	stored := *s.LastActivity
	assert.False(t, stored.After(last), "got stored %v after the real last activity %v", stored, last)
	assert.LessOrEqual(t, last.Sub(stored), w, "got %v of activity lost, want at most the interval %v", last.Sub(stored), w)
	assert.Equal(t, at(4*time.Minute+50*time.Second), stored, "got %v, want the last stamp before the last flush", stored)
}

// TestFlushReturnsWhenItsContextEndsWhileWaiting: a Flush waiting behind a
// flush stuck in the Store returns its context's error when its context
// ends, as does a Close; they waited on a mutex, past any deadline.
func TestFlushReturnsWhenItsContextEndsWhileWaiting(t *testing.T) {
	st := newBatchStore()
	st.entered, st.release = make(chan struct{}, 2), make(chan struct{})
	create(t, st, running("ns", "a", 10*time.Minute))
	tr, _, _ := newTracker(st, activity.WithWriteBehind(time.Hour))
	require.NoError(t, tr.UpdateSessionActivity(t.Context(), "ns", "a"))

	stuck, unstick := context.WithCancel(t.Context())
	first := make(chan error, 1)
	go func() { first <- tr.Flush(stuck) }()
	recv(t, st.entered, "the first Flush to reach the Store")

	for _, call := range []struct {
		name string
		fn   func(context.Context) error
	}{{"Flush", tr.Flush}, {"Close", tr.Close}} {
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- call.fn(ctx) }()
		cancel()
		err := recv(t, done, call.name+" to return after its context ended")
		assert.ErrorIs(t, err, context.Canceled, "%s: got %v", call.name, err)
	}
	unstick()
	assert.ErrorIs(t, recv(t, first, "the first Flush"), context.Canceled)
}

// failingOne is a Store without RecordActivity whose Updates of one session
// fail, and that counts the Updates of each session.
type failingOne struct {
	activity.Store // a MemoryStore, its RecordActivity hidden
	bad            string
	mu             sync.Mutex
	updates        map[string]int
}

func (f *failingOne) Update(ctx context.Context, s activity.Session) (activity.Session, error) {
	f.mu.Lock()
	f.updates[s.Name]++
	f.mu.Unlock()
	if s.Name == f.bad {
		return activity.Session{}, errors.New("refused")
	}
	return f.Store.Update(ctx, s)
}

// TestWriteBehindOneByOneRetriesOnlyWhatFailed: over a Store without
// RecordActivity, a session whose write fails stays pending alone; the
// sessions of its batch that were written are not written again at every
// later flush (they were, for as long as the one failed, each time
// invalidating every other writer's read of them).
func TestWriteBehindOneByOneRetriesOnlyWhatFailed(t *testing.T) {
	mem := activity.NewMemoryStore()
	st := &failingOne{Store: mem, bad: "bad", updates: map[string]int{}}
	create(t, mem, running("ns", "bad", time.Hour))
	create(t, mem, running("ns", "good", time.Hour))
	tr, c, _ := newTracker(st, activity.WithWriteBehind(time.Hour))
	t.Cleanup(func() { assert.Error(t, tr.Close(context.Background()), "Close: bad still fails") })
	c.Add(time.Minute)
	for _, name := range []string{"bad", "good"} {
		require.NoError(t, tr.UpdateSessionActivity(t.Context(), "ns", name))
	}
	assert.Error(t, tr.Flush(t.Context()), "the first flush")
	written := get(t, mem, "ns", "good")
	require.NotNil(t, written.LastActivity, "precondition: good written")

	for i := range 3 {
		assert.Error(t, tr.Flush(t.Context()), "flush %d: bad still fails", i+2)
	}
	assert.Equal(t, 1, st.updates["good"], "got good written %d times for one stamp", st.updates["good"])
	assert.Equal(t, written.Version, get(t, mem, "ns", "good").Version, "got good's Version moved by flushes with nothing new for it")
	assert.Equal(t, 4, st.updates["bad"], "got bad tried %d times in 4 flushes", st.updates["bad"])
}
