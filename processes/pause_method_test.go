//go:build linux

package processes_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
)

// threadStates returns the state letter of every thread of pid, from
// /proc/<pid>/task/<tid>/stat; none once pid is gone.
func threadStates(t *testing.T, pid int) []string {
	t.Helper()
	dir := filepath.Join("/proc", strconv.Itoa(pid), "task")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "stat"))
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(b), ')')
		out = append(out, string(b[i+2]))
	}
	return out
}

// stoppedTree starts sh with two copies of the Go helper below it, one of
// them setsid'd, and returns the session and the pids of the three.
func stoppedTree(t *testing.T, m *processes.Manager) (*processes.Session, []int) {
	t.Helper()
	cmd := execCommand("sh", "-c", `"$0" -test.run='^$' & echo $!; setsid "$0" -test.run='^$' & echo $!; echo $$; echo ready; wait`, os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=ignore-term")
	s, err := m.Start(cmd, processes.StartOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return strings.Count(streams(s)["stdout"], "ready") == 3 // sh's and both helpers'
	}, 10*time.Second, time.Millisecond)
	pids := pidsIn(t, streams(s)["stdout"])
	require.Len(t, pids, 3)
	return s, pids
}

// TestPauseWithSignalStopsEveryThreadEvenWithACgroup: PauseSignal stops
// every thread of every process of the tree, a setsid'd one included, with
// SIGSTOP whatever the containment (the cgroup is not frozen), and Resume
// continues every one of them.
func TestPauseWithSignalStopsEveryThreadEvenWithACgroup(t *testing.T) {
	for _, mode := range containments(t) {
		t.Run(mode.name, func(t *testing.T) {
			m := newReal(t, mode.opt)
			s, pids := stoppedTree(t, m)
			require.NoError(t, s.PauseWith(t.Context(), processes.PauseSignal))
			assert.True(t, s.Paused())
			for _, pid := range pids {
				states := threadStates(t, pid)
				require.NotEmpty(t, states, "pid %d", pid)
				for _, st := range states {
					assert.Equal(t, "T", st, "a thread of pid %d after PauseSignal: %v", pid, states)
				}
			}
			require.NoError(t, s.Resume(t.Context()))
			assert.False(t, s.Paused())
			for _, pid := range pids {
				for _, st := range threadStates(t, pid) {
					assert.NotEqual(t, "T", st, "a thread of pid %d after Resume", pid)
				}
			}
			require.NoError(t, s.Terminate(t.Context()))
			proctest.RequireGone(t, pids...)
		})
	}
}

// TestPauseWithFreeze: PauseFreeze freezes the cgroup, which sends no
// signal (no thread is in the stopped state), and without a cgroup it is
// refused as unsupported.
func TestPauseWithFreeze(t *testing.T) {
	for _, mode := range containments(t) {
		t.Run(mode.name, func(t *testing.T) {
			m := newReal(t, mode.opt)
			s, pids := stoppedTree(t, m)
			err := s.PauseWith(t.Context(), processes.PauseFreeze)
			if mode.opt != nil { // the fallback
				require.ErrorIs(t, err, errors.ErrUnsupported)
				assert.False(t, s.Paused())
				return
			}
			require.NoError(t, err)
			assert.True(t, s.Paused())
			require.NoError(t, s.PauseWith(t.Context(), processes.PauseSignal), "a paused session is paused")
			for _, pid := range pids {
				for _, st := range threadStates(t, pid) {
					assert.NotEqual(t, "T", st, "freezing is not SIGSTOP")
				}
			}
			require.NoError(t, s.Resume(t.Context()))
			assert.False(t, s.Paused())
		})
	}
}

// TestPauseMethodErrors: an unknown method is invalid, and the names.
func TestPauseMethodErrors(t *testing.T) {
	m := newReal(t)
	s := start(t, m, processes.StartOptions{}, "sleep", "1000")
	assert.ErrorIs(t, s.PauseWith(t.Context(), processes.PauseMethod(9)), processes.ErrInvalid)
	assert.False(t, s.Paused())
	for m, want := range map[processes.PauseMethod]string{
		processes.PauseAuto: "auto", processes.PauseFreeze: "freeze", processes.PauseSignal: "signal", 9: "PauseMethod(9)",
	} {
		assert.Equal(t, want, m.String())
	}
}

// TestResumeUndoesAFreezeCutShort: a freeze whose ctx ended before the
// cgroup said frozen is undone by Resume: the cgroup ends thawed.
func TestResumeUndoesAFreezeCutShort(t *testing.T) {
	m := newReal(t)
	s := start(t, m, processes.StartOptions{}, "sh", "-c", `while :; do :; done`)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_ = s.PauseWith(ctx, processes.PauseFreeze) // nil or ctx.Err(): the freeze was asked for
	assert.True(t, s.Paused())
	require.NoError(t, s.Resume(t.Context()))
	assert.False(t, s.Paused())
	b, err := os.ReadFile("/proc/" + strconv.Itoa(s.Pid()) + "/cgroup")
	require.NoError(t, err)
	var rel string
	for _, line := range strings.Split(string(b), "\n") {
		if r, ok := strings.CutPrefix(line, "0::"); ok {
			rel = r
		}
	}
	require.NotEmpty(t, rel, "no cgroup2 line in %q", b)
	dir := filepath.Join(cgroupMountForTest(t), rel)
	freeze, err := os.ReadFile(filepath.Join(dir, "cgroup.freeze"))
	require.NoError(t, err)
	assert.Equal(t, "0", strings.TrimSpace(string(freeze)), "the cgroup is still asked to freeze")
}

// cgroupMountForTest returns where cgroup2 is mounted.
func cgroupMountForTest(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		for i, x := range f {
			if x == "-" && i+1 < len(f) && f[i+1] == "cgroup2" {
				return f[4]
			}
		}
	}
	t.Fatal("no cgroup2 mount")
	return ""
}
