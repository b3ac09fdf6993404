package activity_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/sessionkit/sessionkit/activity"
)

// TestZeroIdleTimeoutInherits: one meaning for an idle timeout across
// sessionkit: zero inherits the Tracker's default (none: never idle), a
// negative value never idles.
func TestZeroIdleTimeoutInherits(t *testing.T) {
	tests := []struct {
		name     string
		def      time.Duration // WithIdleTimeout; 0: none
		timeout  time.Duration // the session's
		wantIdle bool
	}{
		{"zero without a default: never", 0, 0, false},
		{"zero inherits the default", time.Minute, 0, true},
		{"own timeout beats the default", time.Minute, time.Hour, false},
		{"NeverIdle beats the default", time.Minute, activity.NeverIdle, false},
		{"any negative is never", time.Minute, -time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := activity.NewMemoryStore()
			create(t, st, running("ns", "a", tt.timeout))
			tr, c, _ := newTracker(st, activity.WithIdleTimeout(tt.def))
			c.Add(2 * time.Minute)
			s := get(t, st, "ns", "a")
			got := tr.GetActivityStatus(&s)
			assert.Equal(t, tt.wantIdle, got.IsIdle, "IsIdle")
			idle, err := tr.CheckIdleSessions(t.Context(), "ns")
			assert.NoError(t, err)
			assert.Equal(t, tt.wantIdle, len(idle) == 1, "CheckIdleSessions: got %d", len(idle))
			assert.False(t, activity.Status(s, 0, c.Now()).IsIdle && tt.timeout <= 0, "Status without a default")
		})
	}
}
