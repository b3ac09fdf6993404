package processes_test

import (
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/activity"
	"github.com/sessionkit/sessionkit/processes"
)

func TestActivityStatusBridge(t *testing.T) {
	c := clock.NewMock()
	m := processes.NewManager(time.Minute, processes.WithClock(c))
	s := &processes.Session{ID: "s", WorkspaceID: "w"}
	m.Register(s)
	registered := c.Now()

	tests := []struct {
		name      string
		advance   time.Duration
		wantIdle  bool
		wantHiber bool
	}{
		{"fresh", 0, false, false},
		{"exactly the idle timeout", time.Minute, false, false},
		{"idle", time.Nanosecond, true, false},
		{"idle past the grace", 30 * time.Second, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.Add(tt.advance)
			st := s.ActivityStatus(30*time.Second - time.Nanosecond)
			assert.Equal(t, tt.wantIdle, st.IsIdle, "idle")
			assert.Equal(t, !tt.wantIdle, st.IsActive, "active")
			assert.Equal(t, tt.wantHiber, st.ShouldHibernate, "should hibernate")
			assert.Equal(t, time.Minute, st.IdleThreshold)
			assert.Equal(t, c.Now().Sub(registered), st.IdleDuration)
			require.NotNil(t, st.LastActivity)
			assert.Equal(t, registered, *st.LastActivity)
			assert.Equal(t, st, s.ActivityStatusAt(c.Now(), 30*time.Second-time.Nanosecond), "the pure form agrees")
		})
	}

	// The Manager's Sweep and the calculator agree on idleness.
	m.Sweep()
	_, ok := m.Get("s")
	assert.False(t, ok)
	assert.False(t, s.ActivityStatus(0).ShouldHibernate, "a closed session is not running")
}

func TestActivityStatusOfLooseSession(t *testing.T) {
	s := &processes.Session{ID: "loose"}
	st := s.ActivityStatusAt(time.Unix(100, 0), activity.DefaultGracePeriod)
	assert.Nil(t, st.LastActivity, "never active")
	assert.False(t, st.IsIdle, "no idle timeout: never idle")
	s.SetExit(0)
	assert.False(t, s.ActivityStatusAt(time.Unix(100, 0), 0).ShouldHibernate)
}
