package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/activity"
	"github.com/sessionkit/sessionkit/activity/pgstore"
	"github.com/sessionkit/sessionkit/activity/storetest"
	"github.com/sessionkit/sessionkit/internal/pgtest"
)

// base is where the tests' times start: whole microseconds, UTC.
var base = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// newStore returns a Store over a migrated schema of the test's own.
func newStore(tb testing.TB) (*pgstore.Store, *pgtest.DB) {
	tb.Helper()
	db := pgtest.New(tb)
	require.NoError(tb, pgstore.Migrate(context.Background(), db.Pool))
	return pgstore.New(db.Pool), db
}

func running(namespace, name string, idle time.Duration) activity.Session {
	return activity.Session{Namespace: namespace, Name: name, State: activity.StateRunning, IdleTimeout: idle, CreatedAt: base}
}

// seed inserts n running sessions name00000000… into the namespace with
// COPY, created at base with the given last activity (nil: none).
func seed(tb testing.TB, pool *pgxpool.Pool, namespace string, n int, idle time.Duration, last *time.Time) {
	tb.Helper()
	got, err := pool.CopyFrom(context.Background(), pgx.Identifier{"sessionkit_activity_sessions"},
		[]string{"namespace", "name", "state", "idle_timeout", "last_activity", "created_at", "version"},
		pgx.CopyFromSlice(n, func(i int) ([]any, error) {
			return []any{namespace, sessionName(i), activity.StateRunning, int64(idle), last, base, int64(1)}, nil
		}))
	require.NoError(tb, err)
	require.Equal(tb, int64(n), got)
}

func sessionName(i int) string { return fmt.Sprintf("s%08d", i) }

// TestContract runs the Store contract suite on PostgreSQL.
func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) activity.Store {
		st, _ := newStore(t)
		return st
	})
}

// TestTimesAreMicrosecondsInUTC: what Update returns is exactly what Get
// returns: times truncated to PostgreSQL's microseconds, in UTC; an
// IdleTimeout keeps its nanoseconds.
func TestTimesAreMicrosecondsInUTC(t *testing.T) {
	st, _ := newStore(t)
	zone := time.FixedZone("UTC+2", 2*3600)
	tests := []struct {
		name string
		in   time.Time
		want time.Time
	}{
		{"nanoseconds are truncated", base.Add(1500 * time.Nanosecond), base.Add(time.Microsecond)},
		{"just under a microsecond", base.Add(999 * time.Nanosecond), base},
		{"other zone comes back in UTC", base.In(zone), base},
		{"before 1970", time.Date(1960, 1, 1, 0, 0, 0, 1999, time.UTC), time.Date(1960, 1, 1, 0, 0, 0, 1000, time.UTC)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := running("ns", fmt.Sprint(i), 1500*time.Nanosecond)
			s.CreatedAt, s.LastActivity = tt.in, &tt.in
			got, err := st.Update(t.Context(), s)
			require.NoError(t, err)
			stored, err := st.Get(t.Context(), "ns", s.Name)
			require.NoError(t, err)
			for what, v := range map[string]time.Time{
				"Update's CreatedAt": got.CreatedAt, "Update's LastActivity": *got.LastActivity,
				"Get's CreatedAt": stored.CreatedAt, "Get's LastActivity": *stored.LastActivity,
			} {
				assert.True(t, tt.want.Equal(v), "%s: got %v, want %v", what, v, tt.want)
				assert.Equal(t, time.UTC, v.Location(), "%s: got location %v", what, v.Location())
			}
			assert.Equal(t, 1500*time.Nanosecond, stored.IdleTimeout)
		})
	}
}

// TestNamespaceIsIndexed: List of one namespace among many reads the index
// that leads with the namespace, in name order, with no scan of the table
// and no sort.
func TestNamespaceIsIndexed(t *testing.T) {
	_, db := newStore(t)
	for i := range 200 {
		seed(t, db.Pool, fmt.Sprintf("ns%03d", i), 100, time.Minute, nil)
	}
	_, err := db.Pool.Exec(t.Context(), "ANALYZE sessionkit_activity_sessions")
	require.NoError(t, err)

	rows, err := db.Pool.Query(t.Context(), "EXPLAIN SELECT name, state, idle_timeout, last_activity, created_at, version FROM sessionkit_activity_sessions WHERE namespace = $1 ORDER BY name", "ns042")
	require.NoError(t, err)
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	text := strings.Join(plan, "\n")
	assert.Contains(t, text, "Index Scan using sessionkit_activity_sessions_pkey", "got plan:\n%s", text)
	assert.NotContains(t, text, "Seq Scan", "got plan:\n%s", text)
	assert.NotContains(t, text, "Sort", "got plan:\n%s", text)
}

// TestListStreamsInNameOrder: List returns every session of the namespace
// sorted by name byte by byte, and Each stops at its callback's error or at
// the end of its context, releasing its connection.
func TestListStreamsInNameOrder(t *testing.T) {
	st, db := newStore(t)
	const n = 5000
	seed(t, db.Pool, "big", n, time.Minute, nil)
	seed(t, db.Pool, "big2", 10, time.Minute, nil)
	for _, name := range []string{"B", "a", "_", "é"} { // byte order: B _ a é
		_, err := st.Update(t.Context(), running("small", name, time.Minute))
		require.NoError(t, err)
	}

	t.Run("all, in order", func(t *testing.T) {
		got, err := st.List(t.Context(), "big")
		require.NoError(t, err)
		require.Len(t, got, n)
		for i, s := range got {
			if !assert.Equal(t, sessionName(i), s.Name, "position %d", i) {
				break
			}
		}
		small, err := st.List(t.Context(), "small")
		require.NoError(t, err)
		var names []string
		for _, s := range small {
			names = append(names, s.Name)
		}
		assert.Equal(t, []string{"B", "_", "a", "é"}, names, "got %q, want byte order", names)
	})
	t.Run("callback error stops", func(t *testing.T) {
		stop := errors.New("enough")
		seen := 0
		err := st.Each(t.Context(), "big", func(activity.Session) error {
			seen++
			if seen == 3 {
				return stop
			}
			return nil
		})
		assert.ErrorIs(t, err, stop)
		assert.Equal(t, 3, seen, "got %d calls after the callback's error", seen)
		assert.Zero(t, db.Pool.Stat().AcquiredConns(), "got a connection still held after Each returned")
	})
	t.Run("context ends mid-stream", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		seen := 0
		err := st.Each(ctx, "big", func(activity.Session) error {
			seen++
			if seen == 1 {
				cancel()
			}
			return nil
		})
		assert.ErrorIs(t, err, context.Canceled, "got %v after %d rows", err, seen)
		assert.Less(t, seen, n, "got every row after the context ended")
	})
}

// TestNotMigrated: a Store over a schema that Migrate never prepared says
// so.
func TestNotMigrated(t *testing.T) {
	db := pgtest.New(t)
	st := pgstore.New(db.Pool)
	_, err := st.Get(t.Context(), "ns", "a")
	assert.ErrorIs(t, err, pgstore.ErrNotMigrated, "Get: got %v", err)
	_, err = st.List(t.Context(), "ns")
	assert.ErrorIs(t, err, pgstore.ErrNotMigrated, "List: got %v", err)
	_, err = st.Update(t.Context(), running("ns", "a", time.Minute))
	assert.ErrorIs(t, err, pgstore.ErrNotMigrated, "Update: got %v", err)
	err = st.RecordActivity(t.Context(), []activity.Stamp{{Namespace: "ns", Name: "a", At: base}})
	assert.ErrorIs(t, err, pgstore.ErrNotMigrated, "RecordActivity: got %v", err)
}

func TestNewNilPoolPanics(t *testing.T) {
	assert.PanicsWithValue(t, "pgstore: nil pool", func() { pgstore.New(nil) })
}

// TestRecordActivityOverlappingBatchesDoNotDeadlock: two servers flushing
// the same sessions at once, in opposite orders, both succeed, and the
// newest stamp wins.
func TestRecordActivityOverlappingBatchesDoNotDeadlock(t *testing.T) {
	st, db := newStore(t)
	const n, rounds = 300, 10
	seed(t, db.Pool, "ns", n, time.Minute, nil)
	var wg sync.WaitGroup
	for server := range 2 {
		wg.Go(func() {
			for r := range rounds {
				stamps := make([]activity.Stamp, n)
				for i := range n {
					j := i
					if server == 1 {
						j = n - 1 - i
					}
					stamps[i] = activity.Stamp{Namespace: "ns", Name: sessionName(j), At: base.Add(time.Duration(r*2+server) * time.Second)}
				}
				if !assert.NoError(t, st.RecordActivity(t.Context(), stamps), "server %d round %d", server, r) {
					return
				}
			}
		})
	}
	wg.Wait()
	want := base.Add(time.Duration((rounds-1)*2+1) * time.Second)
	got, err := st.List(t.Context(), "ns")
	require.NoError(t, err)
	for _, s := range got {
		require.NotNil(t, s.LastActivity)
		assert.True(t, want.Equal(*s.LastActivity), "%s: got %v, want the newest stamp %v", s.Name, s.LastActivity, want)
	}
}

// TestTextPostgresCannotHold: a namespace, name or state with a NUL byte or
// invalid UTF-8 names no session: Get says not found, List finds none, a
// batch of stamps skips it, and Update refuses to create it with
// ErrInvalidText instead of the database's encoding error.
func TestTextPostgresCannotHold(t *testing.T) {
	st, _ := newStore(t)
	_, err := st.Update(t.Context(), running("ns", "ok", time.Minute))
	require.NoError(t, err)
	for _, bad := range []string{"a\x00b", "a\xffb"} {
		t.Run(fmt.Sprintf("%q", bad), func(t *testing.T) {
			_, err := st.Get(t.Context(), "ns", bad)
			assert.ErrorIs(t, err, activity.ErrNotFound, "Get: got %v", err)
			got, err := st.List(t.Context(), bad)
			assert.NoError(t, err, "List")
			assert.Empty(t, got, "List")

			for what, s := range map[string]activity.Session{
				"namespace": running(bad, "a", time.Minute),
				"name":      running("ns", bad, time.Minute),
				"state":     {Namespace: "ns", Name: "new", State: bad, CreatedAt: base},
			} {
				_, err := st.Update(t.Context(), s)
				assert.ErrorIs(t, err, pgstore.ErrInvalidText, "creating with a bad %s: got %v", what, err)
			}
			s := running("ns", bad, time.Minute)
			s.Version = 1
			_, err = st.Update(t.Context(), s)
			assert.ErrorIs(t, err, activity.ErrNotFound, "updating a bad name: got %v", err)
			s = running("ns", "ok", time.Minute)
			s.Version, s.State = 1, bad
			_, err = st.Update(t.Context(), s)
			assert.ErrorIs(t, err, pgstore.ErrInvalidText, "updating to a bad state: got %v", err)
		})
	}
}

// TestTimesOutsidePostgresRangeAreClamped: a time past either end of
// timestamptz's range is stored as that end, whether it would fail the
// statement or wrap around in pgx's microseconds.
func TestTimesOutsidePostgresRangeAreClamped(t *testing.T) {
	st, _ := newStore(t)
	first := time.Date(-4713, 11, 24, 0, 0, 0, 0, time.UTC)
	last := time.Date(294276, 12, 31, 23, 59, 59, 999999000, time.UTC)
	tests := []struct {
		name     string
		in, want time.Time
	}{
		{"the first microsecond", first, first},
		{"before it", first.Add(-time.Microsecond), first},
		{"the last microsecond", last, last},
		{"after it", last.Add(time.Microsecond), last},
		{"past int64 microseconds", time.Unix(1<<62, 0), last},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := running("ns", fmt.Sprint(i), time.Minute)
			s.CreatedAt = tt.in
			got, err := st.Update(t.Context(), s)
			require.NoError(t, err)
			assert.True(t, tt.want.Equal(got.CreatedAt), "Update: got %v, want %v", got.CreatedAt, tt.want)
			require.NoError(t, st.RecordActivity(t.Context(), []activity.Stamp{{Namespace: "ns", Name: s.Name, At: tt.in}}))
			stored, err := st.Get(t.Context(), "ns", s.Name)
			require.NoError(t, err)
			assert.True(t, tt.want.Equal(stored.CreatedAt), "Get: got CreatedAt %v, want %v", stored.CreatedAt, tt.want)
			if assert.NotNil(t, stored.LastActivity) {
				assert.True(t, tt.want.Equal(*stored.LastActivity), "got LastActivity %v, want %v", stored.LastActivity, tt.want)
			}
		})
	}
}
