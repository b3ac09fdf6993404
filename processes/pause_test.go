//go:build linux

package processes_test

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
)

// cpu returns the CPU time of the session's tree.
func cpu(t *testing.T, s *processes.Session) time.Duration {
	t.Helper()
	u, err := s.Usage()
	require.NoError(t, err)
	return u.CPU
}

// TestPauseStopsTheTreeAndResumeRestartsIt: a paused busy loop uses no CPU
// while another one, running, uses 200 ms; resumed, it uses CPU again.
func TestPauseStopsTheTreeAndResumeRestartsIt(t *testing.T) {
	for _, mode := range containments(t) {
		t.Run(mode.name, func(t *testing.T) {
			m := newReal(t, mode.opt)
			const loop = `sh -c 'while :; do :; done' & while :; do :; done`
			paused := start(t, m, processes.StartOptions{}, "sh", "-c", loop)
			running := start(t, m, processes.StartOptions{}, "sh", "-c", loop)
			require.Eventually(t, func() bool {
				u, err := paused.Usage()
				return err == nil && u.Procs == 2 && u.CPU > 0
			}, 10*time.Second, time.Millisecond, "the loop and its child never both ran")

			require.NoError(t, paused.Pause(t.Context()))
			assert.True(t, paused.Paused())
			require.NoError(t, paused.Pause(t.Context()), "Pause of a paused session")
			u, err := paused.Usage()
			require.NoError(t, err)
			assert.Equal(t, 2, u.Procs, "the loop and its child")
			before, base := u.CPU, cpu(t, running)
			require.Eventually(t, func() bool { return cpu(t, running)-base >= 200*time.Millisecond },
				10*time.Second, time.Millisecond)
			assert.LessOrEqual(t, cpu(t, paused)-before, 10*time.Millisecond, "a paused tree used CPU (one tick is the resolution)")

			require.NoError(t, paused.Resume(t.Context()))
			assert.False(t, paused.Paused())
			require.Eventually(t, func() bool { return cpu(t, paused)-before >= 50*time.Millisecond },
				10*time.Second, time.Millisecond, "the resumed tree does not run")
		})
	}
}

// TestPausedSessionRunsItsHandlerOnTerminate: terminating a paused session
// continues it, so its SIGTERM handler runs.
func TestPausedSessionRunsItsHandlerOnTerminate(t *testing.T) {
	for _, mode := range containments(t) {
		t.Run(mode.name, func(t *testing.T) {
			m := newReal(t, processes.WithKillGrace(time.Hour), mode.opt)
			s, err := m.Start(helperCmd(t, "exit-on-term"), processes.StartOptions{})
			require.NoError(t, err)
			waitFor(t, s, "ready")
			require.NoError(t, s.Pause(t.Context()))
			require.NoError(t, s.Terminate(t.Context()))
			assert.Equal(t, 7, waitDone(t, s), "the handler did not run")
			assert.False(t, s.Paused())
		})
	}
}

// TestActivityCPUKeepsABusySilentSession: on a mock clock, a silent
// CPU-bound session counting ActivityCPU outlives its idle timeout while an
// idle one is evicted.
func TestActivityCPUKeepsABusySilentSession(t *testing.T) {
	for _, mode := range containments(t) {
		t.Run(mode.name, func(t *testing.T) {
			c := clock.NewMock()
			m := processes.NewManager(time.Minute, processes.WithClock(c), mode.opt)
			shutdown(t, m)
			opts := processes.StartOptions{Activity: processes.ActivityOutput | processes.ActivityCPU}
			busy := start(t, m, opts, "sh", "-c", `while :; do :; done`)
			idle := start(t, m, opts, "sleep", "1000")
			c.Add(2 * time.Minute)
			require.Eventually(t, func() bool { return cpu(t, busy) >= 50*time.Millisecond }, 10*time.Second, time.Millisecond)
			m.Sweep()
			_, ok := m.Get(busy.ID)
			assert.True(t, ok, "a busy session was evicted")
			_, ok = m.Get(idle.ID)
			assert.False(t, ok, "an idle session was kept")
			assert.Equal(t, c.Now(), busy.LastActivity(), "the sweep counted the CPU as activity now")
			proctest.RequireGone(t, idle.Pid())
		})
	}
}

// TestPauseErrors: what Pause, Resume and Usage say of sessions they cannot
// act on.
func TestPauseErrors(t *testing.T) {
	m := newReal(t)
	none := &processes.Session{ID: "none"}
	m.Register(none)
	assert.ErrorIs(t, none.Pause(t.Context()), processes.ErrNoProcess)
	assert.ErrorIs(t, none.Resume(t.Context()), processes.ErrNoProcess)
	_, err := none.Usage()
	assert.ErrorIs(t, err, processes.ErrNoProcess)
	assert.False(t, none.Paused())

	exited := start(t, m, processes.StartOptions{}, "true")
	waitDone(t, exited)
	assert.ErrorIs(t, exited.Pause(t.Context()), processes.ErrExited)
	_, err = exited.Usage()
	assert.ErrorIs(t, err, processes.ErrExited)
	assert.NoError(t, exited.Resume(t.Context()), "Resume of a session that is not paused")
}

// TestPauseRefusedWhileTerminating: a session whose termination began is
// not paused (its tree could not run the handler of the graceful signal):
// Pause and PauseWith return ErrTerminating and leave it running.
func TestPauseRefusedWhileTerminating(t *testing.T) {
	for _, mode := range containments(t) {
		t.Run(mode.name, func(t *testing.T) {
			m := newReal(t, processes.WithKillGrace(time.Hour), mode.opt)
			s, err := m.Start(helperCmd(t, "ignore-term"), processes.StartOptions{})
			require.NoError(t, err)
			waitFor(t, s, "ready")
			ctx, cancel := context.WithCancel(t.Context())
			terminated := make(chan error, 1)
			go func() { terminated <- s.Terminate(ctx) }()
			waitFor(t, s, "term ignored")
			assert.ErrorIs(t, s.Pause(t.Context()), processes.ErrTerminating)
			assert.ErrorIs(t, s.PauseWith(t.Context(), processes.PauseSignal), processes.ErrTerminating)
			assert.False(t, s.Paused())
			cancel() // SIGKILL now
			assert.ErrorIs(t, <-terminated, context.Canceled)
			waitDone(t, s)
		})
	}
}

// TestExitedSessionIsNotPaused: a paused session whose process is killed
// from outside reports that it is no longer paused once its exit is in.
func TestExitedSessionIsNotPaused(t *testing.T) {
	for _, mode := range containments(t) {
		t.Run(mode.name, func(t *testing.T) {
			m := newReal(t, mode.opt)
			s := start(t, m, processes.StartOptions{}, "sleep", "1000")
			require.NoError(t, s.Pause(t.Context()))
			require.NoError(t, syscall.Kill(s.Pid(), syscall.SIGKILL))
			assert.Equal(t, 128+int(syscall.SIGKILL), waitDone(t, s))
			assert.False(t, s.Paused())
			assert.ErrorIs(t, s.Pause(t.Context()), processes.ErrExited)
			assert.NoError(t, s.Resume(t.Context()))
		})
	}
}

// TestPauseRacingTerminate: a Pause and a termination that race each
// other never leave the tree paused through the grace: the graceful
// signal's handler runs, however the two interleave.
func TestPauseRacingTerminate(t *testing.T) {
	for _, mode := range containments(t) {
		t.Run(mode.name, func(t *testing.T) {
			m := newReal(t, processes.WithKillGrace(time.Hour), mode.opt)
			for range 20 {
				s, err := m.Start(helperCmd(t, "exit-on-term"), processes.StartOptions{})
				require.NoError(t, err)
				waitFor(t, s, "ready")
				paused := make(chan error, 1)
				go func() { paused <- s.Pause(t.Context()) }()
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				err = s.Terminate(ctx) // SIGKILL when it ends, after which the check fails
				cancel()
				require.NoError(t, err, "the tree stayed paused after the graceful signal")
				assert.Equal(t, 7, waitDone(t, s), "the handler did not run")
				if err := proctest.Recv(t, paused); err != nil && !errors.Is(err, processes.ErrExited) {
					assert.ErrorIs(t, err, processes.ErrTerminating)
				}
				assert.False(t, s.Paused())
			}
		})
	}
}
