package pgstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/activity"
	"github.com/sessionkit/sessionkit/internal/pgtest"
)

// Each benchmark here has a Bare twin that does the same work with pgx
// directly, in the same run: the Store's cost is the ratio of the two.

// bareUpdateSQL is a compare-and-set of the whole record as one would write
// it by hand.
const bareUpdateSQL = `UPDATE sessionkit_activity_sessions SET state = $3, idle_timeout = $4, last_activity = $5, created_at = $6, version = version + 1
WHERE namespace = $1 AND name = $2 AND version = $7 RETURNING version`

// bareUpdate runs bareUpdateSQL with s's values and returns the new version.
func bareUpdate(ctx context.Context, db *pgtest.DB, s activity.Session) (int64, error) {
	var v int64
	err := db.Pool.QueryRow(ctx, bareUpdateSQL, s.Namespace, s.Name, s.State, int64(s.IdleTimeout), s.LastActivity, s.CreatedAt, s.Version).Scan(&v)
	return v, err
}

func perSecond(b *testing.B, n int, unit string) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), unit)
}

// BenchmarkUpdate: compare-and-set updates of one session, one after the
// other, through Store.Update.
func BenchmarkUpdate(b *testing.B) {
	st, _ := newStore(b)
	ctx := context.Background()
	s, err := st.Update(ctx, running("ns", "a", time.Minute))
	require.NoError(b, err)
	for b.Loop() {
		s.State = activity.StateRunning
		if s, err = st.Update(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
	perSecond(b, b.N, "updates/s")
}

func BenchmarkUpdateBare(b *testing.B) {
	st, db := newStore(b)
	ctx := context.Background()
	s, err := st.Update(ctx, running("ns", "a", time.Minute))
	require.NoError(b, err)
	for b.Loop() {
		if s.Version, err = bareUpdate(ctx, db, s); err != nil {
			b.Fatal(err)
		}
	}
	perSecond(b, b.N, "updates/s")
}

// BenchmarkUpdateParallel: compare-and-set updates from GOMAXPROCS×4
// goroutines, each on a session of its own.
func BenchmarkUpdateParallel(b *testing.B) {
	st, _ := newStore(b)
	ctx := context.Background()
	var next atomic.Int64
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		s, err := st.Update(ctx, running("ns", fmt.Sprint(next.Add(1)), time.Minute))
		if err != nil {
			b.Error(err)
			return
		}
		for pb.Next() {
			if s, err = st.Update(ctx, s); err != nil {
				b.Error(err)
				return
			}
		}
	})
	perSecond(b, b.N, "updates/s")
}

func BenchmarkUpdateParallelBare(b *testing.B) {
	st, db := newStore(b)
	ctx := context.Background()
	var next atomic.Int64
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		name := fmt.Sprint(next.Add(1))
		s, err := st.Update(ctx, running("ns", name, time.Minute))
		if err != nil {
			b.Error(err)
			return
		}
		for pb.Next() {
			if s.Version, err = bareUpdate(ctx, db, s); err != nil {
				b.Error(err)
				return
			}
		}
	})
	perSecond(b, b.N, "updates/s")
}

const flushSessions = 10_000

// BenchmarkFlush10000: a write-behind Tracker records activity on 10,000
// sessions and flushes it, each round with newer stamps.
func BenchmarkFlush10000(b *testing.B) {
	st, db := newStore(b)
	seed(b, db.Pool, "ns", flushSessions, time.Minute, nil)
	names := make([]string, flushSessions)
	for i := range names {
		names[i] = sessionName(i)
	}
	c := clock.NewMock()
	c.Set(base)
	tr := activity.NewTracker(st, activity.WithClock(c), activity.WithWriteBehind(time.Hour))
	b.Cleanup(func() { _ = tr.Close(context.Background()) })
	ctx := context.Background()
	for b.Loop() {
		c.Add(time.Second)
		for _, name := range names {
			if err := tr.UpdateSessionActivity(ctx, "ns", name); err != nil {
				b.Fatal(err)
			}
		}
		if err := tr.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
	perSecond(b, b.N*flushSessions, "rows/s")
}

// bareFlushSQL writes a batch of stamps as one would by hand: no
// coalescing, no lock order, no forward-only check.
const bareFlushSQL = `UPDATE sessionkit_activity_sessions s SET last_activity = u.at, version = s.version + 1
FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(namespace, name, at)
WHERE s.namespace = u.namespace AND s.name = u.name`

func BenchmarkFlush10000Bare(b *testing.B) {
	_, db := newStore(b)
	seed(b, db.Pool, "ns", flushSessions, time.Minute, nil)
	namespaces, names, ats := make([]string, flushSessions), make([]string, flushSessions), make([]time.Time, flushSessions)
	for i := range names {
		namespaces[i], names[i] = "ns", sessionName(i)
	}
	ctx := context.Background()
	at := base
	for b.Loop() {
		at = at.Add(time.Second)
		for i := range ats {
			ats[i] = at
		}
		tag, err := db.Pool.Exec(ctx, bareFlushSQL, namespaces, names, ats)
		if err != nil {
			b.Fatal(err)
		}
		if tag.RowsAffected() != flushSessions {
			b.Fatalf("updated %d rows", tag.RowsAffected())
		}
	}
	perSecond(b, b.N*flushSessions, "rows/s")
}

const listSessions = 100_000

// BenchmarkList100000: Store.List of a namespace of 100,000 sessions, among
// 1,000 others.
func BenchmarkList100000(b *testing.B) {
	st, db := newStore(b)
	seed(b, db.Pool, "big", listSessions, time.Minute, nil)
	seed(b, db.Pool, "other", 1000, time.Minute, nil)
	ctx := context.Background()
	for b.Loop() {
		got, err := st.List(ctx, "big")
		if err != nil || len(got) != listSessions {
			b.Fatal(len(got), err)
		}
	}
	perSecond(b, b.N*listSessions, "rows/s")
}

func BenchmarkList100000Bare(b *testing.B) {
	_, db := newStore(b)
	seed(b, db.Pool, "big", listSessions, time.Minute, nil)
	seed(b, db.Pool, "other", 1000, time.Minute, nil)
	ctx := context.Background()
	for b.Loop() {
		rows, err := db.Pool.Query(ctx, "SELECT name, state, idle_timeout, last_activity, created_at, version FROM sessionkit_activity_sessions WHERE namespace = $1 ORDER BY name", "big")
		if err != nil {
			b.Fatal(err)
		}
		var got []activity.Session
		var idle int64
		for rows.Next() {
			s := activity.Session{Namespace: "big"}
			if err := rows.Scan(&s.Name, &s.State, &idle, &s.LastActivity, &s.CreatedAt, &s.Version); err != nil {
				b.Fatal(err)
			}
			s.IdleTimeout = time.Duration(idle)
			got = append(got, s)
		}
		if rows.Err() != nil || len(got) != listSessions {
			b.Fatal(len(got), rows.Err())
		}
	}
	perSecond(b, b.N*listSessions, "rows/s")
}
