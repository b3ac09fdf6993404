//go:build linux

package wake_test

import (
	"errors"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/wake"
)

// treePids waits for the tree helper's output and returns the pids of the
// server, its child and its setsid'd grandchild.
func treePids(t *testing.T, u *wake.Unit) []int {
	t.Helper()
	s := u.Session()
	require.NotNil(t, s)
	out := ""
	for since := 0; !strings.Contains(out, "listening"); {
		o := s.Output(since)
		for _, c := range o.Chunks {
			out += string(c.Data)
			since = c.Seq
		}
		require.True(t, o.Alive, "the tree exited: %q", out)
	}
	pids := []int{s.Pid()}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 && (f[0] == "child" || f[0] == "grandchild") {
			pids = append(pids, pidOf(t, "hello from "+f[1]))
		}
	}
	require.Len(t, pids, 3, "output %q", out)
	return pids
}

// TestFreezeAndPauseStopEveryThread: asleep in ModeFreeze, every process
// of the tree, the setsid'd grandchild included, is in the unit's frozen
// cgroup; in ModePause, every thread of each is stopped (SIGSTOP, even
// with a cgroup, and in the fallback). A request wakes the same tree,
// every thread running again, with no cold start.
func TestFreezeAndPauseStopEveryThread(t *testing.T) {
	tests := []struct {
		name string
		mode wake.Mode
		opts []processes.Option
	}{
		{"freeze", wake.ModeFreeze, nil},
		{"pause with a cgroup", wake.ModePause, nil},
		{"pause in the fallback", wake.ModePause, []processes.Option{processes.WithoutCgroup()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newManager(t, tt.opts...)
			g := newGroup(t, m)
			addr := freeAddr(t)
			u, err := g.Add(wake.Spec{ID: "tree", Command: helperCommand("tree", nil, "WAKE_ADDR="+addr), Upstream: addr, Mode: tt.mode})
			require.NoError(t, err)
			srv := httptest.NewServer(u.Handler(wake.ProxyOptions{}))
			t.Cleanup(srv.Close)
			code, body := get(t, srv.URL+"/")
			require.Equal(t, 200, code, body)
			pids := treePids(t, u)
			assert.Equal(t, pids[0], pidOf(t, body))

			require.NoError(t, u.Sleep(t.Context()))
			st := u.Status()
			assert.Equal(t, wake.Asleep, st.State)
			assert.True(t, st.Kept)
			assert.Equal(t, pids[0], st.Pid)
			if tt.mode == wake.ModeFreeze {
				cg := cgroupOf(t, pids[0])
				for _, pid := range pids[1:] {
					assert.Equal(t, cg, cgroupOf(t, pid), "pid %d left the unit's cgroup", pid)
				}
				events, err := os.ReadFile(filepath.Join(cgroupMount(t), cg, "cgroup.events"))
				require.NoError(t, err)
				assert.Contains(t, string(events), "frozen 1")
			} else {
				for _, pid := range pids {
					states := threadStates(pid)
					require.NotEmpty(t, states, "pid %d", pid)
					for _, s := range states {
						assert.Equal(t, "T", s, "pid %d: %v", pid, states)
					}
				}
			}

			code, body = get(t, srv.URL+"/")
			require.Equal(t, 200, code, body)
			assert.Equal(t, pids[0], pidOf(t, body), "woken by a cold start")
			st = u.Status()
			assert.Equal(t, 1, st.ColdStarts)
			assert.Equal(t, 2, st.Attempts)
			assert.Contains(t, kinds(u.Events()), wake.EventWoke)
			for _, pid := range pids {
				for _, s := range threadStates(pid) {
					assert.NotEqual(t, "T", s, "pid %d still stopped", pid)
				}
			}
			if tt.mode == wake.ModeFreeze {
				events, err := os.ReadFile(filepath.Join(cgroupMount(t), cgroupOf(t, pids[0]), "cgroup.events"))
				require.NoError(t, err)
				assert.Contains(t, string(events), "frozen 0")
			}
			ctx := t.Context()
			require.NoError(t, g.Shutdown(ctx))
			proctest.RequireGone(t, pids...)
		})
	}
}

// TestStopModeFreesAndColdStarts: asleep in ModeStop, the process is gone
// and reaped; the next request starts a new one, which serves.
func TestStopModeFreesAndColdStarts(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	u, err := g.Add(httpSpec(t, "web", wake.ModeStop, nil))
	require.NoError(t, err)
	srv := httptest.NewServer(u.Handler(wake.ProxyOptions{}))
	t.Cleanup(srv.Close)
	code, body := get(t, srv.URL+"/")
	require.Equal(t, 200, code, body)
	first := pidOf(t, body)
	require.NoError(t, u.Sleep(t.Context()))
	proctest.RequireGone(t, first)
	st := u.Status()
	assert.Zero(t, st.Pid)
	assert.False(t, st.Kept)
	assert.Equal(t, "Sleep called", st.Slept.Why)
	assert.Zero(t, m.Len(), "the session of the stopped process is still registered")

	code, body = get(t, srv.URL+"/")
	require.Equal(t, 200, code, body)
	assert.NotEqual(t, first, pidOf(t, body))
	assert.Equal(t, 2, u.Status().ColdStarts)
	assert.Equal(t, []wake.EventKind{wake.EventStarting, wake.EventWaitingForReady, wake.EventReady}, kinds(u.Events()))
}

// TestShutdownLeavesNothing: a group with units ready, frozen, paused and
// waking shuts down to no process and no session; goleak (TestMain)
// checks the goroutines.
func TestShutdownLeavesNothing(t *testing.T) {
	m := newManager(t)
	g := wake.NewGroup(m)
	var pids []int
	for _, mode := range []wake.Mode{wake.ModeStop, wake.ModeFreeze, wake.ModePause} {
		u, err := g.Add(httpSpec(t, mode.String(), mode, nil))
		require.NoError(t, err)
		require.NoError(t, u.Wake(t.Context()))
		pids = append(pids, u.Status().Pid)
		if mode != wake.ModeStop {
			require.NoError(t, u.Sleep(t.Context()))
		}
	}
	// A probe that never passes (a TCP probe of a port free now could
	// pass, should another program on the machine take the port).
	waking, err := g.Add(wake.Spec{ID: "waking", Command: shCommand("exec sleep 1000", nil), Probe: neverReady})
	require.NoError(t, err)
	woke := make(chan error, 1)
	go func() { woke <- waking.Wake(t.Context()) }()
	require.Eventually(t, func() bool { return waking.Status().Pid != 0 }, 20*time.Second, time.Millisecond)
	pids = append(pids, waking.Status().Pid)

	require.NoError(t, g.Shutdown(t.Context()))
	assert.ErrorIs(t, recv(t, woke), wake.ErrClosed)
	proctest.RequireGone(t, pids...)
	assert.Zero(t, m.Len())
	for _, u := range g.Units() {
		assert.Equal(t, wake.Asleep, u.State(), u.ID())
		assert.Zero(t, u.Status().Pid, u.ID())
	}
}

// TestKeptProcessThatDiesAsleepIsReaped: a frozen or paused process
// killed while its unit is asleep is not reported kept, and the next
// idle sweep removes its session and cgroup, which stayed until the
// unit's next wake, however long that was; the wake then starts afresh.
func TestKeptProcessThatDiesAsleepIsReaped(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m, wake.WithSweepInterval(time.Hour))
	for _, mode := range []wake.Mode{wake.ModeFreeze, wake.ModePause} {
		t.Run(mode.String(), func(t *testing.T) {
			u, err := g.Add(wake.Spec{ID: mode.String(), Command: shCommand("exec sleep 1000", nil), Mode: mode})
			if mode == wake.ModeFreeze && errors.Is(err, errors.ErrUnsupported) {
				t.Skip(err)
			}
			require.NoError(t, err)
			require.NoError(t, u.Wake(t.Context()))
			sess := u.Session()
			cg := cgroupMount(t) + cgroupOf(t, sess.Pid())
			require.NoError(t, u.Sleep(t.Context()))
			require.True(t, u.Status().Kept)
			require.NoError(t, syscall.Kill(sess.Pid(), syscall.SIGKILL))
			recv(t, sess.Done())
			assert.False(t, u.Status().Kept, "a dead process reported kept")

			g.Sweep()
			st := u.Status()
			assert.Equal(t, wake.Asleep, st.State)
			assert.Zero(t, st.Pid)
			assert.Nil(t, u.Session())
			assert.True(t, sess.Closed(), "the dead session is still the Manager's")
			if m.Containment().Cgroup != "" {
				// The Manager removes an emptied cgroup a moment later.
				assert.Eventually(t, func() bool {
					_, err := os.Stat(cg)
					return errors.Is(err, fs.ErrNotExist)
				}, 10*time.Second, time.Millisecond, "the dead session's cgroup %s is left", cg)
			}
			require.NoError(t, u.Wake(t.Context()))
			assert.Equal(t, 2, u.Status().ColdStarts)
		})
	}
}
