package pgstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/activity"
	"github.com/sessionkit/sessionkit/internal/pgtest"
)

// TestRecordActivitySplitsLargeBatches: past maxBatch stamps, the batch is
// written in several statements with the same result, duplicates across
// them included.
func TestRecordActivitySplitsLargeBatches(t *testing.T) {
	db := pgtest.New(t)
	require.NoError(t, Migrate(t.Context(), db.Pool))
	st := New(db.Pool)
	old := maxBatch
	maxBatch = 3
	t.Cleanup(func() { maxBatch = old })

	base := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	const n = 10
	for i := range n {
		_, err := st.Update(t.Context(), activity.Session{Namespace: "ns", Name: fmt.Sprint(i), State: activity.StateRunning, CreatedAt: base})
		require.NoError(t, err)
	}
	var stamps []activity.Stamp
	for i := range n {
		stamps = append(stamps, activity.Stamp{Namespace: "ns", Name: fmt.Sprint(i), At: base.Add(time.Duration(i) * time.Second)})
	}
	// a later duplicate of 0, in another chunk, and an older one of 9
	stamps = append(stamps, activity.Stamp{Namespace: "ns", Name: "0", At: base.Add(time.Hour)}, activity.Stamp{Namespace: "ns", Name: "9", At: base})
	require.NoError(t, st.RecordActivity(context.Background(), stamps))

	for i := range n {
		want := base.Add(time.Duration(i) * time.Second)
		if i == 0 {
			want = base.Add(time.Hour)
		}
		got, err := st.Get(t.Context(), "ns", fmt.Sprint(i))
		require.NoError(t, err)
		require.NotNil(t, got.LastActivity)
		assert.True(t, want.Equal(*got.LastActivity), "%d: got %v, want %v", i, got.LastActivity, want)
	}
}

func TestLatestSorted(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	st := func(ns, name string, sec int) activity.Stamp {
		return activity.Stamp{Namespace: ns, Name: name, At: t0.Add(time.Duration(sec) * time.Second)}
	}
	tests := []struct {
		name string
		in   []activity.Stamp
		want []activity.Stamp
	}{
		{"empty", nil, []activity.Stamp{}},
		{"sorted by namespace, then name", []activity.Stamp{st("b", "a", 1), st("a", "b", 1), st("a", "a", 1)}, []activity.Stamp{st("a", "a", 1), st("a", "b", 1), st("b", "a", 1)}},
		{"latest of duplicates", []activity.Stamp{st("a", "x", 1), st("a", "x", 3), st("a", "x", 2)}, []activity.Stamp{st("a", "x", 3)}},
		{"same name, other namespace", []activity.Stamp{st("b", "x", 1), st("a", "x", 2)}, []activity.Stamp{st("a", "x", 2), st("b", "x", 1)}},
		{"sorted already", []activity.Stamp{st("a", "a", 2), st("a", "b", 1), st("b", "a", 3)}, []activity.Stamp{st("a", "a", 2), st("a", "b", 1), st("b", "a", 3)}},
		{"sorted but for an adjacent duplicate", []activity.Stamp{st("a", "a", 1), st("a", "a", 5), st("a", "b", 1)}, []activity.Stamp{st("a", "a", 5), st("a", "b", 1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]activity.Stamp(nil), tt.in...)
			got := latestSorted(in)
			assert.Equal(t, tt.want, append([]activity.Stamp{}, got...))
			assert.Equal(t, tt.in, in, "the caller's slice was changed")
		})
	}
}

func TestRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"deadlock", &pgconn.PgError{Code: "40P01"}, true},
		{"serialization failure, wrapped", fmt.Errorf("x: %w", &pgconn.PgError{Code: "40001"}), true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"context", context.Canceled, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, retryable(tt.err))
		})
	}
}

// TestSchemaVersionCountsTheMigrations: a migration added without raising
// SchemaVersion, or the reverse, is caught here rather than by Migrate.
func TestSchemaVersionCountsTheMigrations(t *testing.T) {
	ms, err := schema.Load()
	require.NoError(t, err)
	assert.Len(t, ms, SchemaVersion)
}
