package activity_test

import (
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/activity"
)

func TestWithGracePeriod(t *testing.T) {
	const timeout = 10 * time.Minute
	tests := []struct {
		name      string
		opts      []activity.Option
		wantGrace time.Duration
	}{
		{"default", nil, activity.DefaultGracePeriod},
		{"custom", []activity.Option{activity.WithGracePeriod(time.Minute)}, time.Minute},
		{"zero", []activity.Option{activity.WithGracePeriod(0)}, 0},
		{"negative counts as zero", []activity.Option{activity.WithGracePeriod(-time.Hour)}, 0},
		{"last option wins", []activity.Option{activity.WithGracePeriod(time.Hour), activity.WithGracePeriod(time.Minute)}, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clock.NewMock()
			tr := activity.NewTracker(activity.NewMemoryStore(), append([]activity.Option{activity.WithClock(c)}, tt.opts...)...)
			s := running("ns", "a", timeout)

			c.Add(timeout + tt.wantGrace)
			got := tr.GetActivityStatus(&s)
			assert.False(t, got.ShouldHibernate, "got ShouldHibernate at exactly IdleTimeout+%v, want false", tt.wantGrace)
			c.Add(time.Nanosecond)
			got = tr.GetActivityStatus(&s)
			assert.True(t, got.ShouldHibernate, "got no ShouldHibernate 1ns past IdleTimeout+%v, want true", tt.wantGrace)
		})
	}
}

func TestNilOptionsAndValuesMeanDefaults(t *testing.T) {
	st := activity.NewMemoryStore()
	s := running("ns", "a", time.Minute)
	s.CreatedAt = time.Now().Add(-time.Hour)
	create(t, st, s)
	var tr *activity.Tracker
	require.NotPanics(t, func() {
		tr = activity.NewTracker(st, nil, activity.WithClock(nil), activity.WithPublisher(nil), activity.WithLogger(nil))
	})

	got := tr.GetActivityStatus(&s)
	assert.GreaterOrEqual(t, got.IdleDuration, time.Hour, "got IdleDuration %v by the real clock, want at least 1h", got.IdleDuration)
	err := tr.HibernateIdleSession(t.Context(), "ns", "a")
	assert.NoError(t, err, "got %v hibernating with no publisher, want nil", err)
}
