//go:build linux

package processes_test

import (
	"os/exec"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
)

func TestMaxSessions(t *testing.T) {
	m := newReal(t, processes.WithMaxSessions(2))
	a := start(t, m, processes.StartOptions{}, "sleep", "1000")
	b := start(t, m, processes.StartOptions{}, "sleep", "1000")
	_, err := m.Start(exec.Command("true"), processes.StartOptions{})
	require.ErrorIs(t, err, processes.ErrTooManySessions, "third running session")
	assert.Equal(t, 2, m.Len())
	assert.False(t, a.Closed() || b.Closed(), "a running session was killed to make room")

	// Once one exited, its slot is reclaimed.
	require.NoError(t, a.Terminate(t.Context()))
	c := start(t, m, processes.StartOptions{}, "sleep", "1000")
	_, ok := m.Get(a.ID)
	assert.False(t, ok, "the exited session was not reclaimed")
	_, ok = m.Get(c.ID)
	assert.True(t, ok)
	assert.False(t, b.Closed())
}

func TestReclaimOldestExitedFirst(t *testing.T) {
	c := clock.NewMock()
	m := processes.NewManager(0, processes.WithClock(c), processes.WithMaxSessions(3))
	shutdown(t, m)
	first := start(t, m, processes.StartOptions{}, "true")
	waitDone(t, first)
	c.Add(time.Second)
	second := start(t, m, processes.StartOptions{}, "true")
	waitDone(t, second)
	running := start(t, m, processes.StartOptions{}, "sleep", "1000")

	start(t, m, processes.StartOptions{}, "sleep", "1000")
	_, ok := m.Get(first.ID)
	assert.False(t, ok, "the session that exited first was kept")
	_, ok = m.Get(second.ID)
	assert.True(t, ok, "the session that exited later was reclaimed first")
	_, ok = m.Get(running.ID)
	assert.True(t, ok)
}

func TestMaxSessionsPerWorkspace(t *testing.T) {
	m := newReal(t, processes.WithMaxSessionsPerWorkspace(1))
	start(t, m, processes.StartOptions{WorkspaceID: "a"}, "sleep", "1000")
	_, err := m.Start(exec.Command("sleep", "1000"), processes.StartOptions{WorkspaceID: "a"})
	assert.ErrorIs(t, err, processes.ErrTooManySessions)
	b := start(t, m, processes.StartOptions{WorkspaceID: "b"}, "sleep", "1000")
	assert.Equal(t, "b", b.WorkspaceID)
	assert.Equal(t, 2, m.Len())
}

func TestActivityPolicies(t *testing.T) {
	type action func(t *testing.T, s *processes.Session)
	output := func(t *testing.T, s *processes.Session) {
		_, err := s.Write([]byte("x\n"))
		require.NoError(t, err)
		waitFor(t, s, "x")
	}
	poll := func(t *testing.T, s *processes.Session) { s.Output(0) }
	input := func(t *testing.T, s *processes.Session) { _, err := s.Write([]byte("y")); require.NoError(t, err) }
	tests := []struct {
		name      string
		activity  processes.Activity
		act       action
		wantFresh bool // whether act refreshed LastActivity
	}{
		{"zero value counts output", 0, output, true},
		{"output does not count poll", processes.ActivityOutput, poll, false},
		{"input counts write", processes.ActivityInput, input, true},
		{"input ignores poll", processes.ActivityInput, poll, false},
		{"poll counts poll", processes.ActivityPoll, poll, true},
		{"poll ignores input", processes.ActivityPoll, input, false},
		{"combined input|poll counts poll", processes.ActivityInput | processes.ActivityPoll, poll, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clock.NewMock()
			m := processes.NewManager(time.Minute, processes.WithClock(c))
			shutdown(t, m)
			s := start(t, m, processes.StartOptions{Activity: tt.activity}, "cat")
			c.Add(50 * time.Second)
			tt.act(t, s)
			c.Add(11 * time.Second) // 61s after start
			m.Sweep()
			_, ok := m.Get(s.ID)
			assert.Equal(t, tt.wantFresh, ok, "session kept after the action 11s ago")
		})
	}
}

func TestPerSessionIdleTimeout(t *testing.T) {
	c := clock.NewMock()
	m := processes.NewManager(time.Hour, processes.WithClock(c))
	shutdown(t, m)
	short := start(t, m, processes.StartOptions{IdleTimeout: time.Minute}, "sleep", "1000")
	never := start(t, m, processes.StartOptions{IdleTimeout: -1}, "sleep", "1000")
	dflt := start(t, m, processes.StartOptions{}, "sleep", "1000")
	c.Add(time.Minute + time.Nanosecond)
	m.Sweep()
	_, ok := m.Get(short.ID)
	assert.False(t, ok, "own 1m timeout not honoured")
	_, ok = m.Get(dflt.ID)
	assert.True(t, ok)
	c.Add(time.Hour)
	m.Sweep()
	_, ok = m.Get(dflt.ID)
	assert.False(t, ok, "the manager's timeout not honoured")
	_, ok = m.Get(never.ID)
	assert.True(t, ok, "a negative per-session timeout was evicted")
	proctest.RequireGone(t, short.Pid(), dflt.Pid())
}
