//go:build linux

package processes_test

import (
	"bufio"
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
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

// cgroupOf returns the cgroup2 path of pid, from /proc/<pid>/cgroup.
func cgroupOf(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "0::"); ok {
			return rest
		}
	}
	t.Fatalf("no cgroup2 line in /proc/%d/cgroup: %q", pid, b)
	return ""
}

// TestCgroupHoldsEveryDescendant: a descendant that clears its environment,
// leaves the session and the process group and is orphaned at once stays
// in its session's cgroup and dies with it; the session's cgroup is removed
// once it is empty, and the Manager's at Shutdown.
func TestCgroupHoldsEveryDescendant(t *testing.T) {
	m := processes.NewManager(0, processes.WithKillGrace(time.Second))
	c := m.Containment()
	require.NotEmpty(t, c.Cgroup, "no cgroup: %v", c.Err)
	assert.NoError(t, c.Err)
	assert.Equal(t, "cgroup "+c.Cgroup, c.String())
	tag := newTag()
	t.Cleanup(func() { killTagged(tag) })
	s := start(t, m, processes.StartOptions{}, "sh", "-c",
		`env -i setsid sh -c 'sleep 99999.`+tag+` &' >/dev/null 2>&1; echo started; exec sleep 1000`)
	waitFor(t, s, "started")
	require.Eventually(t, func() bool { return len(tagged(tag)) == 1 }, 10*time.Second, time.Millisecond)
	escapee := tagged(tag)[0]
	p, ok := proctest.Stat(escapee)
	require.True(t, ok)
	require.NotEqual(t, s.Pid(), p.Pgrp, "it did not leave the group")
	sessionDir := filepath.Dir(c.Cgroup) + cgroupOf(t, escapee)
	assert.Equal(t, cgroupOf(t, s.Pid()), cgroupOf(t, escapee), "the escapee left the session's cgroup")
	assert.True(t, strings.HasPrefix(sessionDir, c.Cgroup+"/"), "the session's cgroup %s is not under the Manager's %s", sessionDir, c.Cgroup)

	m.Forget(s.ID)
	require.NoError(t, s.Terminate(t.Context()))
	assert.Empty(t, tagged(tag), "the escapee survived its session")
	require.NoError(t, m.Shutdown(t.Context()))
	assert.NoDirExists(t, sessionDir, "the session's cgroup was left")
	assert.NoDirExists(t, c.Cgroup, "the Manager's cgroup was left")
}

// TestLimits: a limit whose controller the cgroup does not offer, or any
// limit without a cgroup, makes Start fail with an ErrUnsupported error that
// names the controller, never run without it.
func TestLimits(t *testing.T) {
	m := newReal(t)
	c := m.Containment()
	require.NotEmpty(t, c.Cgroup)
	controllers, err := os.ReadFile(filepath.Join(filepath.Dir(c.Cgroup), "cgroup.subtree_control"))
	require.NoError(t, err)
	tests := []struct {
		name       string
		limits     processes.Limits
		controller string
	}{
		{"memory", processes.Limits{MemoryMax: 64 << 20}, "memory"},
		{"pids", processes.Limits{PidsMax: 100}, "pids"},
		{"cpu", processes.Limits{CPUMax: 0.5}, "cpu"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if strings.Contains(string(controllers), tt.controller) {
				s, err := m.Start(exec.Command("true"), processes.StartOptions{Limits: tt.limits})
				require.NoError(t, err, "the %s controller is offered", tt.controller)
				waitDone(t, s)
				return
			}
			_, err := m.Start(exec.Command("true"), processes.StartOptions{Limits: tt.limits})
			require.Error(t, err, "a limit was silently ignored")
			assert.ErrorIs(t, err, errors.ErrUnsupported)
			assert.Contains(t, err.Error(), tt.controller)
		})
	}
	t.Run("fallback", func(t *testing.T) {
		fb := newReal(t, processes.WithoutCgroup())
		_, err := fb.Start(exec.Command("true"), processes.StartOptions{Limits: processes.Limits{MemoryMax: 1 << 30}})
		assert.ErrorIs(t, err, errors.ErrUnsupported)
		assert.Contains(t, fb.Containment().String(), "WithoutCgroup")
	})
	assert.Zero(t, m.Len(), "a refused Start left a session")
}

// host runs the test binary as a host of sessions running script, and
// returns it running, its Manager's cgroup and its sessions' pids.
func host(t *testing.T, n int, script, parent string) (*exec.Cmd, string, []int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=host", "HOST_SESSIONS="+strconv.Itoa(n), "HOST_SCRIPT="+script)
	if parent == "" {
		cmd.Env = append(cmd.Env, "HOST_FALLBACK=1")
	} else {
		cmd.Env = append(cmd.Env, "HOST_CGROUP="+parent)
	}
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var cg string
	var pids []int
	sc := bufio.NewScanner(out)
	for sc.Scan() && sc.Text() != "ready" {
		switch f := strings.Fields(sc.Text()); {
		case len(f) >= 1 && f[0] == "cgroup":
			if len(f) == 2 {
				cg = f[1]
			}
		case len(f) == 2 && f[0] == "pid":
			pid, err := strconv.Atoi(f[1])
			require.NoError(t, err)
			pids = append(pids, pid)
		default:
			t.Fatalf("the host said %q", sc.Text())
		}
	}
	require.Len(t, pids, n, "the host did not get ready")
	return cmd, cg, pids
}

// TestSessionsDieWithTheHost SIGKILLs a host process whose sessions
// started background grandchildren, setsid'd daemons and an
// environment-cleared double fork. With cgroups, its watchdog kills every
// one of them, and the next Manager under the same parent removes the
// host's cgroups. In the fallback, the sessions' own processes die through
// their parent-death signal, and their descendants survive: the limit
// documented in Containment.
func TestSessionsDieWithTheHost(t *testing.T) {
	const n = 10
	for _, fallback := range []bool{false, true} {
		t.Run(map[bool]string{false: "cgroup", true: "fallback"}[fallback], func(t *testing.T) {
			tag := newTag()
			t.Cleanup(func() { killTagged(tag) })
			script := `sleep 99999.` + tag + ` >/dev/null 2>&1 &
				setsid sleep 99999.` + tag + ` >/dev/null 2>&1 &
				env -i setsid sh -c 'sleep 99999.` + tag + ` &' >/dev/null 2>&1
				echo ready; exec sleep 99999.` + tag
			// A parent of the test's own, so that no other Manager reaps
			// the dead host's cgroup before the test looks at it.
			var parent string
			if !fallback {
				probe := processes.NewManager(0)
				own := probe.Containment().Cgroup
				require.NoError(t, probe.Shutdown(t.Context()))
				require.NotEmpty(t, own)
				parent = filepath.Join(filepath.Dir(own), "test-"+tag)
				require.NoError(t, os.Mkdir(parent, 0o755))
				t.Cleanup(func() {
					// A Manager under parent reaps what a failed test left.
					m := processes.NewManager(0, processes.WithCgroup(parent))
					_ = m.Containment()
					_ = m.Shutdown(context.Background())
					assert.NoError(t, os.Remove(parent))
				})
			}
			h, cg, pids := host(t, n, script, parent)
			require.Eventually(t, func() bool { return len(tagged(tag)) >= 4*n }, 10*time.Second, time.Millisecond,
				"got %d tagged processes, want %d", len(tagged(tag)), 4*n)
			require.NoError(t, h.Process.Kill())
			_ = h.Wait()
			proctest.RequireGone(t, pids...)
			if fallback {
				assert.Empty(t, cg)
				assert.Eventually(t, func() bool { return len(tagged(tag)) == 3*n }, 10*time.Second, time.Millisecond,
					"in the fallback, the sessions' descendants outlive the host: got %d, want %d", len(tagged(tag)), 3*n)
				return
			}
			require.NotEmpty(t, cg)
			require.Eventually(t, func() bool { return len(tagged(tag)) == 0 }, 10*time.Second, time.Millisecond,
				"%d processes outlived the host", len(tagged(tag)))
			require.DirExists(t, cg, "the dead host's cgroup, for the next Manager to reap")

			next := processes.NewManager(0, processes.WithCgroup(parent))
			waitDone(t, start(t, next, processes.StartOptions{}, "true"))
			assert.NoDirExists(t, cg, "the next Manager did not reap the dead host's cgroup")
			require.NoError(t, next.Shutdown(t.Context()))
		})
	}
}

// TestInvalidLimits: a limit no kernel accepts is refused with ErrInvalid
// before anything is made, with a cgroup and without alike.
func TestInvalidLimits(t *testing.T) {
	for _, mode := range containments(t) {
		t.Run(mode.name, func(t *testing.T) {
			m := newReal(t, mode.opt)
			for _, l := range []processes.Limits{
				{MemoryMax: -1},
				{PidsMax: -1},
				{CPUMax: -0.5},
				{CPUMax: 0.001},
				{CPUMax: math.NaN()},
			} {
				_, err := m.Start(exec.Command("true"), processes.StartOptions{Limits: l})
				assert.ErrorIs(t, err, processes.ErrInvalid, "%+v", l)
			}
			assert.Zero(t, m.Len(), "a refused Start left a session")
		})
	}
}
