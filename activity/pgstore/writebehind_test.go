package pgstore_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/activity"
	"github.com/sessionkit/sessionkit/activity/pgstore"
)

// statements counts the statements a pool runs.
type statements struct{ n atomic.Int64 }

func (s *statements) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	s.n.Add(1)
	return ctx
}

func (s *statements) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TestWriteBehindFlushIsOneStatement: a Tracker with write-behind over the
// Store turns 5,000 touches of 1,000 sessions into one UPDATE.
func TestWriteBehindFlushIsOneStatement(t *testing.T) {
	const sessions, touches = 1000, 5
	_, db := newStore(t)
	seed(t, db.Pool, "ns", sessions, time.Minute, nil)
	cfg, err := pgxpool.ParseConfig(db.URL)
	require.NoError(t, err)
	count := &statements{}
	cfg.ConnConfig.Tracer = count
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	require.NoError(t, err)
	defer pool.Close()

	c := clock.NewMock()
	c.Set(base)
	tr := activity.NewTracker(pgstore.New(pool), activity.WithClock(c), activity.WithWriteBehind(time.Minute))
	defer func() { assert.NoError(t, tr.Close(context.Background())) }()
	for range touches {
		c.Add(time.Second)
		for i := range sessions {
			require.NoError(t, tr.UpdateSessionActivity(t.Context(), "ns", sessionName(i)))
		}
	}
	assert.Zero(t, count.n.Load(), "got statements before the flush")
	require.NoError(t, tr.Flush(t.Context()))
	assert.Equal(t, int64(1), count.n.Load(), "got %d statements for the flush, want 1", count.n.Load())

	st := pgstore.New(db.Pool)
	got, err := st.List(t.Context(), "ns")
	require.NoError(t, err)
	require.Len(t, got, sessions)
	want := base.Add(touches * time.Second)
	for _, s := range got {
		require.NotNil(t, s.LastActivity, s.Name)
		assert.True(t, want.Equal(*s.LastActivity), "%s: got %v, want %v", s.Name, s.LastActivity, want)
		assert.Equal(t, int64(2), s.Version, "%s: got Version %d, want one write", s.Name, s.Version)
	}
}

// TestWriteBehindSurvivesAStampPostgresCannotHold: activity recorded on a
// session ID that PostgreSQL's text cannot hold (a client's ID with a NUL
// byte) is dropped by the flush like that of any unknown session; it used
// to fail the flush's statement, and so every later flush, which kept it
// pending, so that no activity of any session reached the database.
func TestWriteBehindSurvivesAStampPostgresCannotHold(t *testing.T) {
	st, _ := newStore(t)
	_, err := st.Update(t.Context(), running("ns", "good", time.Minute))
	require.NoError(t, err)
	c := clock.NewMock()
	c.Set(base)
	tr := activity.NewTracker(st, activity.WithClock(c), activity.WithWriteBehind(time.Minute))
	defer func() { assert.NoError(t, tr.Close(context.Background())) }()

	c.Add(time.Second)
	for _, name := range []string{"bad\x00id", "bad\xffid", "good"} {
		require.NoError(t, tr.UpdateSessionActivity(t.Context(), "ns", name))
	}
	require.NoError(t, tr.Flush(t.Context()))
	got, err := st.Get(t.Context(), "ns", "good")
	require.NoError(t, err)
	require.NotNil(t, got.LastActivity)
	assert.True(t, c.Now().Equal(*got.LastActivity), "got LastActivity %v, want %v", got.LastActivity, c.Now())
}
