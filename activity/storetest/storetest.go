package storetest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/activity"
)

// Updaters is how many goroutines update one session at once in the
// compare-and-set subtests.
const Updaters = 16

// base is the time the suite's sessions are created at: whole microseconds,
// in UTC.
var base = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// Run runs the contract suite as subtests of t, each on a fresh Store from
// newStore. It fails t where the Store breaks the contract; see the package
// documentation for what it checks.
func Run(t *testing.T, newStore func(t *testing.T) activity.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st activity.Store)
	}{
		{"CreateAndGet", testCreateAndGet},
		{"CreateExistingConflicts", testCreateExistingConflicts},
		{"UpdateAbsentIsNotFound", testUpdateAbsentIsNotFound},
		{"GetAbsentIsNotFound", testGetAbsentIsNotFound},
		{"StaleVersionConflicts", testStaleVersionConflicts},
		{"EveryFieldRoundTrips", testEveryFieldRoundTrips},
		{"ListIsExact", testListIsExact},
		{"CopiesNotAliases", testCopiesNotAliases},
		{"ConcurrentUpdatersLoseNothing", testConcurrentUpdatersLoseNothing},
		{"SameVersionWinsOnce", testSameVersionWinsOnce},
		{"DoneContext", testDoneContext},
		{"BatchRecorder", testBatchRecorder},
		{"OddText", testOddText},
		{"ExtremeTimes", testExtremeTimes},
		{"TrackersHibernateOnce", testTrackersHibernateOnce},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newStore(t)
			require.NotNil(t, st, "newStore returned nil")
			tt.fn(t, st)
		})
	}
}

// running returns a running session created at base.
func running(namespace, name string) activity.Session {
	return activity.Session{
		Namespace:   namespace,
		Name:        name,
		State:       activity.StateRunning,
		IdleTimeout: time.Minute,
		CreatedAt:   base,
	}
}

func ptr(t time.Time) *time.Time { return &t }

// create stores s as a new session and returns what the Store returned.
func create(t *testing.T, st activity.Store, s activity.Session) activity.Session {
	t.Helper()
	got, err := st.Update(t.Context(), s)
	require.NoError(t, err, "creating %s/%s", s.Namespace, s.Name)
	return got
}

func get(t *testing.T, st activity.Store, namespace, name string) activity.Session {
	t.Helper()
	got, err := st.Get(t.Context(), namespace, name)
	require.NoError(t, err, "getting %s/%s", namespace, name)
	return got
}

// same reports whether two sessions hold the same values, times compared
// with Equal.
func same(a, b activity.Session) bool {
	if (a.LastActivity == nil) != (b.LastActivity == nil) {
		return false
	}
	if a.LastActivity != nil && !a.LastActivity.Equal(*b.LastActivity) {
		return false
	}
	return a.Namespace == b.Namespace && a.Name == b.Name && a.State == b.State &&
		a.IdleTimeout == b.IdleTimeout && a.CreatedAt.Equal(b.CreatedAt) && a.Version == b.Version
}

// assertSame checks that got holds want's values.
func assertSame(t *testing.T, want, got activity.Session, what string) bool {
	t.Helper()
	return assert.True(t, same(want, got), "%s: got %s, want %s", what, show(got), show(want))
}

func show(s activity.Session) string {
	last := "nil"
	if s.LastActivity != nil {
		last = s.LastActivity.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("{%q/%q state=%q idle=%v last=%s created=%s v%d}",
		s.Namespace, s.Name, s.State, s.IdleTimeout, last, s.CreatedAt.UTC().Format(time.RFC3339Nano), s.Version)
}

func testCreateAndGet(t *testing.T, st activity.Store) {
	in := running("ns", "a")
	in.LastActivity = ptr(base.Add(time.Second))
	got := create(t, st, in)
	assert.Positive(t, got.Version, "got Version %d for a created session, want > 0", got.Version)
	want := in
	want.Version = got.Version
	assertSame(t, want, got, "Update's result")
	assertSame(t, got, get(t, st, "ns", "a"), "Get after create")
}

func testCreateExistingConflicts(t *testing.T, st activity.Store) {
	first := create(t, st, running("ns", "a"))
	again := running("ns", "a")
	again.State = "changed"
	_, err := st.Update(t.Context(), again)
	assert.ErrorIs(t, err, activity.ErrConflict, "got %v creating an existing session, want ErrConflict", err)
	assertSame(t, first, get(t, st, "ns", "a"), "stored after the refused create")
}

func testUpdateAbsentIsNotFound(t *testing.T, st activity.Store) {
	s := running("ns", "a")
	s.Version = 5
	_, err := st.Update(t.Context(), s)
	assert.ErrorIs(t, err, activity.ErrNotFound, "got %v updating an absent session with Version 5, want ErrNotFound", err)
	_, err = st.Get(t.Context(), "ns", "a")
	assert.ErrorIs(t, err, activity.ErrNotFound, "got %v, want nothing created", err)
}

func testGetAbsentIsNotFound(t *testing.T, st activity.Store) {
	create(t, st, running("ns", "a"))
	tests := []struct{ name, namespace, session string }{
		{"unknown name", "ns", "b"},
		{"unknown namespace", "other", "a"},
		{"empty namespace", "", "a"},
		{"name in another case", "ns", "A"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := st.Get(t.Context(), tt.namespace, tt.session)
			assert.ErrorIs(t, err, activity.ErrNotFound, "got %v, want ErrNotFound", err)
		})
	}
}

func testStaleVersionConflicts(t *testing.T, st activity.Store) {
	v1 := create(t, st, running("ns", "a"))
	next := v1
	next.State = activity.StateHibernated
	v2, err := st.Update(t.Context(), next)
	require.NoError(t, err)
	assert.Greater(t, v2.Version, v1.Version, "got Version %d after %d, want it to grow", v2.Version, v1.Version)

	stale := v1
	stale.IdleTimeout = time.Hour
	_, err = st.Update(t.Context(), stale)
	assert.ErrorIs(t, err, activity.ErrConflict, "got %v updating with the stale Version %d, want ErrConflict", err, v1.Version)
	assertSame(t, v2, get(t, st, "ns", "a"), "stored after the refused update")

	ahead := v2
	ahead.Version += 1000
	_, err = st.Update(t.Context(), ahead)
	assert.ErrorIs(t, err, activity.ErrConflict, "got %v updating with a Version never issued, want ErrConflict", err)
}

func testEveryFieldRoundTrips(t *testing.T, st activity.Store) {
	tests := []struct {
		name   string
		mutate func(s *activity.Session)
	}{
		{"no activity", func(s *activity.Session) { s.LastActivity = nil }},
		{"activity", func(s *activity.Session) { s.LastActivity = ptr(base.Add(90 * time.Second)) }},
		{"activity in another location", func(s *activity.Session) {
			s.LastActivity = ptr(base.Add(time.Minute).In(time.FixedZone("UTC+5", 5*3600)))
		}},
		{"zero idle timeout inherits", func(s *activity.Session) { s.IdleTimeout = 0 }},
		{"never idle", func(s *activity.Session) { s.IdleTimeout = activity.NeverIdle }},
		{"long idle timeout", func(s *activity.Session) { s.IdleTimeout = 10000 * time.Hour }},
		{"nanosecond idle timeout", func(s *activity.Session) { s.IdleTimeout = time.Nanosecond }},
		{"other state", func(s *activity.Session) { s.State = "exited" }},
		{"empty state", func(s *activity.Session) { s.State = "" }},
		{"empty namespace", func(s *activity.Session) { s.Namespace = "" }},
		{"odd names", func(s *activity.Session) { s.Namespace, s.Name = "n%_'\"\\", "名前 with spaces;--" }},
		{"zero creation time", func(s *activity.Session) { s.CreatedAt = time.Time{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := running("ns", "rt-"+tt.name)
			tt.mutate(&in)
			got := create(t, st, in)
			want := in
			want.Version = got.Version
			assertSame(t, want, got, "Update's result")
			assertSame(t, got, get(t, st, in.Namespace, in.Name), "Get")

			// and again through an Update of an existing session
			changed := got
			tt.mutate(&changed)
			changed.State += "-again"
			got2, err := st.Update(t.Context(), changed)
			require.NoError(t, err)
			want = changed
			want.Version = got2.Version
			assertSame(t, want, got2, "second Update's result")
			assertSame(t, got2, get(t, st, in.Namespace, in.Name), "Get after the second Update")
		})
	}
}

func testListIsExact(t *testing.T, st activity.Store) {
	for _, s := range []activity.Session{
		running("ns", "c"), running("ns", "a"), running("ns", "b"),
		running("ns2", "x"), running("n", "p"), running("ns_", "q"), running("NS", "r"), running("", "y"),
	} {
		create(t, st, s)
	}
	tests := []struct {
		namespace string
		want      []string
	}{
		{"ns", []string{"a", "b", "c"}},
		{"ns2", []string{"x"}},
		{"ns_", []string{"q"}},
		{"", []string{"y"}},
		{"nope", nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.namespace), func(t *testing.T) {
			got, err := st.List(t.Context(), tt.namespace)
			require.NoError(t, err)
			var names []string
			for _, s := range got {
				names = append(names, s.Name)
				assert.Equal(t, tt.namespace, s.Namespace, "got namespace %q in List(%q)", s.Namespace, tt.namespace)
				assertSame(t, get(t, st, s.Namespace, s.Name), s, "listed session against Get")
			}
			slices.Sort(names)
			assert.Equal(t, tt.want, names, "got %v, want %v", names, tt.want)
		})
	}
}

func testCopiesNotAliases(t *testing.T, st activity.Store) {
	want := base.Add(time.Minute)
	later := base.Add(time.Hour)
	tests := []struct {
		name   string
		mutate func(t *testing.T, name string)
	}{
		{"the session passed to Update, after it", func(t *testing.T, name string) {
			s := running("ns", name)
			s.LastActivity = ptr(want)
			create(t, st, s)
			*s.LastActivity = later
		}},
		{"the session Update returned", func(t *testing.T, name string) {
			s := running("ns", name)
			s.LastActivity = ptr(want)
			got := create(t, st, s)
			*got.LastActivity = later
			got.State = "changed"
		}},
		{"the session Get returned", func(t *testing.T, name string) {
			s := running("ns", name)
			s.LastActivity = ptr(want)
			create(t, st, s)
			got := get(t, st, "ns", name)
			*got.LastActivity = later
			got.State = "changed"
		}},
		{"the sessions List returned", func(t *testing.T, name string) {
			s := running("ns", name)
			s.LastActivity = ptr(want)
			create(t, st, s)
			got, err := st.List(t.Context(), "ns")
			require.NoError(t, err)
			for i := range got {
				*got[i].LastActivity = later
				got[i].State = "changed"
			}
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("copy%d", i)
			tt.mutate(t, name)
			got := get(t, st, "ns", name)
			require.NotNil(t, got.LastActivity)
			assert.True(t, want.Equal(*got.LastActivity), "got stored LastActivity %v, want %v", *got.LastActivity, want)
			assert.Equal(t, activity.StateRunning, got.State, "got stored State %q, want %q", got.State, activity.StateRunning)
		})
	}
}

// testConcurrentUpdatersLoseNothing has Updaters goroutines increment a
// counter (the IdleTimeout) with Get and Update retry loops: compare-and-set
// must lose no increment.
func testConcurrentUpdatersLoseNothing(t *testing.T, st activity.Store) {
	const increments = 20
	s := running("ns", "counter")
	s.IdleTimeout = 0
	first := create(t, st, s)

	var conflicts atomic.Int64
	var wg sync.WaitGroup
	for range Updaters {
		wg.Go(func() {
			for range increments {
				for {
					s, err := st.Get(t.Context(), "ns", "counter")
					if !assert.NoError(t, err) {
						return
					}
					s.IdleTimeout++
					runtime.Gosched() // let others read the same Version, as a real client's work would
					_, err = st.Update(t.Context(), s)
					if err == nil {
						break
					}
					if !assert.ErrorIs(t, err, activity.ErrConflict, "got %v, want nil or ErrConflict", err) {
						return
					}
					conflicts.Add(1)
				}
			}
		})
	}
	wg.Wait()
	got := get(t, st, "ns", "counter")
	const total = Updaters * increments
	assert.Equal(t, time.Duration(total), got.IdleTimeout, "got counter %d after %d increments: updates were lost", got.IdleTimeout, total)
	assert.GreaterOrEqual(t, got.Version-first.Version, int64(total), "got Version %d after %d updates from %d", got.Version, total, first.Version)
	t.Logf("%d conflicts retried", conflicts.Load())
}

// testSameVersionWinsOnce has Updaters goroutines update with the same
// Version at once, round after round: exactly one may succeed each time.
func testSameVersionWinsOnce(t *testing.T, st activity.Store) {
	const rounds = 10
	cur := create(t, st, running("ns", "a"))
	for round := range rounds {
		var wins, conflicts atomic.Int32
		var winner atomic.Pointer[activity.Session]
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range Updaters {
			wg.Go(func() {
				s := cur
				s.State = fmt.Sprintf("round%d-updater%d", round, i)
				<-start
				got, err := st.Update(t.Context(), s)
				switch {
				case err == nil:
					wins.Add(1)
					winner.Store(&got)
				case errors.Is(err, activity.ErrConflict):
					conflicts.Add(1)
				default:
					assert.NoError(t, err)
				}
			})
		}
		close(start)
		wg.Wait()
		require.Equal(t, int32(1), wins.Load(), "round %d: got %d Updates with Version %d succeeding, want exactly 1", round, wins.Load(), cur.Version)
		assert.Equal(t, int32(Updaters-1), conflicts.Load(), "round %d: got %d conflicts, want %d", round, conflicts.Load(), Updaters-1)
		cur = *winner.Load()
		assertSame(t, cur, get(t, st, "ns", "a"), "stored after the round")
	}
}

func testDoneContext(t *testing.T, st activity.Store) {
	stored := create(t, st, running("ns", "a"))
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel2 := context.WithDeadline(t.Context(), base) // long past
	defer cancel2()
	ctxs := []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"cancelled", cancelled, context.Canceled},
		{"deadline passed", expired, context.DeadlineExceeded},
	}
	for _, c := range ctxs {
		t.Run(c.name, func(t *testing.T) {
			_, err := st.Get(c.ctx, "ns", "a")
			assert.ErrorIs(t, err, c.want, "Get: got %v", err)
			_, err = st.List(c.ctx, "ns")
			assert.ErrorIs(t, err, c.want, "List: got %v", err)

			changed := stored
			changed.State = "changed"
			_, err = st.Update(c.ctx, changed)
			assert.ErrorIs(t, err, c.want, "Update: got %v", err)
			_, err = st.Update(c.ctx, running("ns", "new-"+c.name))
			assert.ErrorIs(t, err, c.want, "Update creating: got %v", err)

			assertSame(t, stored, get(t, st, "ns", "a"), "stored after an Update with a done context")
			_, err = st.Get(t.Context(), "ns", "new-"+c.name)
			assert.ErrorIs(t, err, activity.ErrNotFound, "got %v, want no session created with a done context", err)
		})
	}
}

func testBatchRecorder(t *testing.T, st activity.Store) {
	br, ok := st.(activity.BatchRecorder)
	if !ok {
		t.Skipf("%T does not implement activity.BatchRecorder", st)
	}
	t0 := base.Add(10 * time.Minute)
	withLast := func(name string, last *time.Time) activity.Session {
		s := running("ns", name)
		s.LastActivity = last
		return create(t, st, s)
	}
	older := withLast("older", ptr(t0))  // the stamp is newer: applied
	newer := withLast("newer", ptr(t0))  // the stamp is older: ignored
	equal := withLast("equal", ptr(t0))  // the same time: nothing to do
	never := withLast("never", nil)      // no activity yet: applied
	dup := withLast("dup", nil)          // two stamps: the latest counts
	other := withLast("other", ptr(t0))  // not stamped
	elsewhere := running("ns2", "older") // same name, other namespace: not stamped
	elsewhere.LastActivity = ptr(t0)
	elsewhere = create(t, st, elsewhere)

	stamps := []activity.Stamp{
		{Namespace: "ns", Name: "older", At: t0.Add(time.Second)},
		{Namespace: "ns", Name: "newer", At: t0.Add(-time.Second)},
		{Namespace: "ns", Name: "equal", At: t0},
		{Namespace: "ns", Name: "never", At: t0},
		{Namespace: "ns", Name: "dup", At: t0.Add(2 * time.Second)},
		{Namespace: "ns", Name: "dup", At: t0.Add(time.Second)},
		{Namespace: "ns", Name: "absent", At: t0},
	}
	require.NoError(t, br.RecordActivity(t.Context(), stamps))

	tests := []struct {
		name        string
		before      activity.Session
		wantLast    time.Time
		wantChanged bool
	}{
		{"older stored, newer stamp", older, t0.Add(time.Second), true},
		{"newer stored, older stamp", newer, t0, false},
		{"equal stamp", equal, t0, false},
		{"no activity stored", never, t0, true},
		{"duplicates: the latest", dup, t0.Add(2 * time.Second), true},
		{"not stamped", other, t0, false},
		{"other namespace", elsewhere, t0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := get(t, st, tt.before.Namespace, tt.before.Name)
			require.NotNil(t, got.LastActivity, "got no LastActivity")
			assert.True(t, tt.wantLast.Equal(*got.LastActivity), "got LastActivity %v, want %v", got.LastActivity, tt.wantLast)
			if tt.wantChanged {
				assert.Greater(t, got.Version, tt.before.Version, "got Version %d, want it past %d: an older read must go stale", got.Version, tt.before.Version)
				stale := tt.before
				stale.State = activity.StateHibernated
				_, err := st.Update(t.Context(), stale)
				assert.ErrorIs(t, err, activity.ErrConflict, "got %v updating from the read before the stamp, want ErrConflict", err)
			} else {
				assertSame(t, tt.before, got, "session the stamps left alone")
			}
		})
	}
	t.Run("absent stays absent", func(t *testing.T) {
		_, err := st.Get(t.Context(), "ns", "absent")
		assert.ErrorIs(t, err, activity.ErrNotFound, "got %v, want ErrNotFound: a stamp creates nothing", err)
	})
	t.Run("done context records nothing", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		before := get(t, st, "ns", "other")
		err := br.RecordActivity(ctx, []activity.Stamp{{Namespace: "ns", Name: "other", At: t0.Add(time.Hour)}})
		assert.ErrorIs(t, err, context.Canceled, "got %v", err)
		assertSame(t, before, get(t, st, "ns", "other"), "after RecordActivity with a done context")
	})
	t.Run("empty batch", func(t *testing.T) {
		assert.NoError(t, br.RecordActivity(t.Context(), nil))
	})
}

// testTrackersHibernateOnce has several Trackers over the Store hibernate a
// namespace at once, as the idle monitors of several servers do: each idle
// session is hibernated, and announced, exactly once, and an active one is
// left running.
func testTrackersHibernateOnce(t *testing.T, st activity.Store) {
	const trackers, idle, active = 4, 40, 10
	now := base.Add(time.Hour)
	for i := range idle {
		create(t, st, running("fleet", fmt.Sprintf("idle%03d", i))) // idle for an hour
	}
	for i := range active {
		s := running("fleet", fmt.Sprintf("active%03d", i))
		s.LastActivity = ptr(now)
		create(t, st, s)
	}

	var mu sync.Mutex
	events := map[string]int{}
	pub := activity.PublisherFunc(func(_ context.Context, e activity.Event) error {
		mu.Lock()
		events[e.Name]++
		mu.Unlock()
		return nil
	})
	hibernated := make([][]string, trackers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range trackers {
		c := clock.NewMock()
		c.Set(now)
		tr := activity.NewTracker(st, activity.WithClock(c), activity.WithGracePeriod(time.Minute), activity.WithPublisher(pub))
		wg.Go(func() {
			<-start
			names, err := tr.HibernateIdle(t.Context(), "fleet")
			assert.NoError(t, err, "tracker %d", i)
			hibernated[i] = names
		})
	}
	close(start)
	wg.Wait()

	all := slices.Concat(hibernated...)
	slices.Sort(all)
	var want []string
	for i := range idle {
		want = append(want, fmt.Sprintf("idle%03d", i))
	}
	assert.Equal(t, want, all, "got the sessions the trackers hibernated, together, want each idle one exactly once")
	for _, name := range want {
		assert.Equal(t, 1, events[name], "got %d events for %s, want 1", events[name], name)
		assert.Equal(t, activity.StateHibernated, get(t, st, "fleet", name).State, "state of %s", name)
	}
	assert.Len(t, events, idle, "got events for %d sessions, want %d", len(events), idle)
	for i := range active {
		name := fmt.Sprintf("active%03d", i)
		assert.Equal(t, activity.StateRunning, get(t, st, "fleet", name).State, "state of %s", name)
	}
}

// oddText are namespaces and names a Store may be unable to hold, such as
// PostgreSQL's text, which takes neither NUL bytes nor invalid UTF-8, and
// its indexes, whose entries are limited to a few kilobytes.
var oddText = []struct{ name, text string }{
	{"NUL byte", "a\x00b"},
	{"invalid UTF-8", "a\xffb"},
	{"lone surrogate", "a\xed\xa0\x80b"},
	{"10 KB", noise(10_000)},
}

// noise returns n letters that do not compress.
func noise(n int) string {
	b := make([]byte, n)
	x := uint32(1)
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = 'a' + byte(x>>24)%26
	}
	return string(b)
}

// testOddText: a Store that cannot hold some namespace or name treats it as
// absent: Get says ErrNotFound, List finds nothing, and a batch of stamps
// that names it records the other stamps (failing the batch would fail
// every flush of a Tracker that keeps it pending). A Store that holds it
// gives it back.
func testOddText(t *testing.T, st activity.Store) {
	for _, tt := range oddText {
		t.Run(tt.name, func(t *testing.T) {
			keys := []struct{ namespace, name string }{{"ns", tt.text}, {tt.text, "a"}}
			for _, k := range keys {
				_, err := st.Get(t.Context(), k.namespace, k.name)
				assert.ErrorIs(t, err, activity.ErrNotFound, "Get(%q, %q) before any Update: got %v", k.namespace, k.name, err)
				_, err = st.List(t.Context(), k.namespace)
				assert.NoError(t, err, "List(%q)", k.namespace)
			}
			good := create(t, st, running("ns", "good-"+tt.name))
			if br, ok := st.(activity.BatchRecorder); ok {
				at := base.Add(time.Hour)
				stamps := []activity.Stamp{{Namespace: "ns", Name: good.Name, At: at}}
				for _, k := range keys {
					stamps = append(stamps, activity.Stamp{Namespace: k.namespace, Name: k.name, At: at})
				}
				err := br.RecordActivity(t.Context(), stamps)
				assert.NoError(t, err, "RecordActivity with stamps of sessions the Store does not hold")
				got := get(t, st, "ns", good.Name)
				if assert.NotNil(t, got.LastActivity, "the good stamp of the batch") {
					assert.True(t, at.Equal(*got.LastActivity), "got LastActivity %v, want %v", got.LastActivity, at)
				}
			}
			for _, k := range keys {
				s := running(k.namespace, k.name)
				created, err := st.Update(t.Context(), s)
				if err != nil {
					assert.NotErrorIs(t, err, activity.ErrConflict, "creating (%q, %q)", k.namespace, k.name)
					_, err := st.Get(t.Context(), k.namespace, k.name)
					assert.ErrorIs(t, err, activity.ErrNotFound, "Get(%q, %q) after a refused create: got %v", k.namespace, k.name, err)
					continue
				}
				assertSame(t, created, get(t, st, k.namespace, k.name), "Get of what was created")
				listed, err := st.List(t.Context(), k.namespace)
				require.NoError(t, err)
				assert.True(t, slices.ContainsFunc(listed, func(l activity.Session) bool { return l.Name == k.name }),
					"got %q missing from List(%q)", k.name, k.namespace)
			}
		})
	}
}

// testExtremeTimes: a time a Store cannot represent is stored as one that
// is still as far out on the same side of now (never wrapped around to an
// ordinary time, which would make a session look idle for decades or
// active for ever), and a far stamp in a batch fails neither the batch
// nor the other stamps.
func testExtremeTimes(t *testing.T, st activity.Store) {
	farFuture := time.Date(300_000, 1, 1, 0, 0, 0, 0, time.UTC)
	farPast := time.Date(-10_000, 1, 1, 0, 0, 0, 0, time.UTC)
	later, earlier := base.AddDate(1000, 0, 0), base.AddDate(-1000, 0, 0) // far enough out
	tests := []struct {
		name string
		in   time.Time
		ok   func(time.Time) bool
	}{
		{"far future", farFuture, func(got time.Time) bool { return got.After(later) }},
		{"beyond int64 microseconds", time.Unix(1<<62, 0), func(got time.Time) bool { return got.After(later) }},
		{"far past", farPast, func(got time.Time) bool { return got.Before(earlier) }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := running("ns", fmt.Sprintf("t%d", i))
			s.LastActivity, s.CreatedAt = ptr(tt.in), tt.in
			got, err := st.Update(t.Context(), s)
			require.NoError(t, err)
			stored := get(t, st, "ns", s.Name)
			for what, v := range map[string]time.Time{
				"Update's CreatedAt": got.CreatedAt, "Update's LastActivity": *got.LastActivity,
				"Get's CreatedAt": stored.CreatedAt, "Get's LastActivity": *stored.LastActivity,
			} {
				assert.True(t, tt.ok(v), "%s: got %v for %v", what, v, tt.in)
			}
		})
	}
	br, ok := st.(activity.BatchRecorder)
	if !ok {
		return
	}
	t.Run("stamps", func(t *testing.T) {
		far, near := create(t, st, running("ns", "far")), create(t, st, running("ns", "near"))
		at := base.Add(time.Hour)
		err := br.RecordActivity(t.Context(), []activity.Stamp{
			{Namespace: "ns", Name: far.Name, At: farFuture},
			{Namespace: "ns", Name: near.Name, At: at},
		})
		require.NoError(t, err, "RecordActivity with a stamp far in the future")
		got := get(t, st, "ns", far.Name)
		if assert.NotNil(t, got.LastActivity) {
			assert.True(t, got.LastActivity.After(later), "got LastActivity %v for a stamp at %v", got.LastActivity, farFuture)
		}
		got = get(t, st, "ns", near.Name)
		if assert.NotNil(t, got.LastActivity) {
			assert.True(t, at.Equal(*got.LastActivity), "got LastActivity %v, want %v", got.LastActivity, at)
		}
	})
}
