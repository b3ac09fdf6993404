package cgroup_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/cgroup"
)

// stopped starts sleep in g (outside any test group if g is nil) and
// returns once it is stopped by SIGSTOP, so that signals sent to it stay
// pending where /proc/<pid>/status shows them.
func stopped(tb testing.TB, g *cgroup.Group) int {
	tb.Helper()
	cmd := start(tb, g, "sleep", "1000")
	pid := cmd.Process.Pid
	require.NoError(tb, syscall.Kill(pid, syscall.SIGSTOP))
	var ws syscall.WaitStatus
	_, err := syscall.Wait4(pid, &ws, syscall.WUNTRACED, nil)
	require.NoError(tb, err)
	require.True(tb, ws.Stopped(), "sleep %d stopped", pid)
	return pid
}

// pending returns the signals pending for pid, for the process and its
// threads (SigPnd and ShdPnd of /proc/<pid>/status).
func pending(tb testing.TB, pid int) uint64 {
	tb.Helper()
	f, err := os.Open("/proc/" + itoa(pid) + "/status")
	require.NoError(tb, err)
	defer f.Close()
	var mask uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		if k == "SigPnd" || k == "ShdPnd" {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			require.NoError(tb, err)
			mask |= m
		}
	}
	return mask
}

func hasPending(tb testing.TB, pid int, sig syscall.Signal) bool {
	return pending(tb, pid)&(1<<(sig-1)) != 0
}

// Signal reaches every process of the group and its descendant groups, and
// none outside: not one in this test's own group, not one in a sibling
// group. The receivers are stopped, so each signal stays pending where the
// test can see it the moment Signal returns.
func TestSignal(t *testing.T) {
	g := cgroup.NewTestGroup(t)
	child, err := cgroup.Create(filepath.Join(g.Path(), "child"))
	require.NoError(t, err)
	defer child.Close()
	sibling := cgroup.NewTestGroup(t)

	members := []int{stopped(t, g), stopped(t, g), stopped(t, child)}
	outsiders := []int{stopped(t, nil), stopped(t, sibling)}

	n, err := g.Signal(syscall.SIGUSR1)
	require.NoError(t, err)
	assert.Equal(t, len(members), n, "processes signalled")
	for _, pid := range members {
		assert.True(t, hasPending(t, pid, syscall.SIGUSR1), "member %d has SIGUSR1 pending", pid)
	}
	for _, pid := range outsiders {
		assert.False(t, hasPending(t, pid, syscall.SIGUSR1), "outsider %d has SIGUSR1 pending", pid)
	}

	n, err = child.Signal(syscall.SIGUSR2)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "a child group's Signal reaches only its members")
	assert.False(t, hasPending(t, members[0], syscall.SIGUSR2), "the parent's member is left alone")

	empty := cgroup.NewTestGroup(t)
	n, err = empty.Signal(syscall.SIGTERM)
	assert.NoError(t, err)
	assert.Equal(t, 0, n, "an empty group")
}

// A member that exits between Signal's read of cgroup.procs and its
// pidfd_open, and whose pid a process outside the group takes meanwhile, is
// not signalled: the pid is not listed again once the pidfd is open. The
// test makes the kernel reuse the pid by writing /proc/sys/kernel/ns_last_pid
// (root only) and tries again when another process on the machine takes the
// pid first.
func TestSignalSkipsReusedPid(t *testing.T) {
	const lastPid = "/proc/sys/kernel/ns_last_pid"
	if f, err := os.OpenFile(lastPid, os.O_WRONLY, 0); err != nil {
		t.Skipf("cannot steer pid allocation through %s: %v", lastPid, err)
	} else {
		f.Close()
	}
	g := cgroup.NewTestGroup(t)
	for attempt := range 20 {
		member := start(t, g, "sleep", "1000")
		pid := member.Process.Pid
		var outsider int
		cgroup.SetHookSignalListed(t, func(pids []int) {
			require.Equal(t, []int{pid}, pids)
			require.NoError(t, member.Process.Kill())
			_ = member.Wait() // the pid is free now
			require.NoError(t, os.WriteFile(lastPid, []byte(strconv.Itoa(pid-1)), 0))
			outsider = stopped(t, nil)
		})
		n, err := g.Signal(syscall.SIGUSR1)
		require.NoError(t, err)
		if outsider != pid {
			continue // another process took the pid first
		}
		t.Logf("pid %d reused at attempt %d", pid, attempt+1)
		assert.Equal(t, 0, n, "processes signalled")
		assert.False(t, hasPending(t, outsider, syscall.SIGUSR1), "the process outside that took a member's pid has SIGUSR1 pending")
		return
	}
	t.Fatal("no attempt got the member's pid reused by the process outside")
}

// killModes are the two ways Kill works: cgroup.kill (Linux 5.14), and
// freezing then signalling every member through pidfds before that.
var killModes = []struct {
	name string
	kill func(*cgroup.Group) error
}{
	{"cgroup.kill", (*cgroup.Group).Kill},
	{"freeze and signal", (*cgroup.Group).KillFrozen},
}

// Kill ends 200 descendants that left their session and process group or
// were orphaned by a double fork, some with a cleared environment, and
// WaitEmpty returns once they are all gone.
func TestKillTree(t *testing.T) {
	const script = `i=0
while [ $i -lt 50 ]; do
	setsid sh -c 'sleep 1000 &'
	env -i setsid sh -c 'sleep 1000 &'
	(sleep 1000 &)
	(setsid sleep 1000 &)
	i=$((i+1))
done
echo ready
exec sleep 1000`
	for _, mode := range killModes {
		t.Run(mode.name, func(t *testing.T) {
			g := cgroup.NewTestGroup(t)
			cmd, out := startLines(t, g, "sh", "-c", script)
			require.Equal(t, "ready", readLine(t, out))
			pids, err := g.Procs()
			require.NoError(t, err)
			require.Len(t, pids, 201, "200 descendants and the shell")
			sessions := map[int]bool{}
			for _, pid := range pids {
				sessions[sessionOf(t, pid)] = true
			}
			require.Greater(t, len(sessions), 100, "sessions among the members")

			require.NoError(t, mode.kill(g))
			require.NoError(t, g.WaitEmpty(waitCtx(t)))
			assert.Error(t, cmd.Wait())
			left, err := g.Procs()
			require.NoError(t, err)
			assert.Empty(t, left, "cgroup.procs after WaitEmpty")
			requireAllGone(t, pids)
		})
	}
}

// A member that forks setsid'd children as fast as it can cannot outrun
// Kill.
func TestKillForker(t *testing.T) {
	const script = `i=0
while :; do
	(setsid sleep 1000 &)
	i=$((i+1))
	[ $i = 30 ] && echo forking
done`
	for _, mode := range killModes {
		t.Run(mode.name, func(t *testing.T) {
			g := cgroup.NewTestGroup(t)
			cmd, out := startLines(t, g, "sh", "-c", script)
			require.Equal(t, "forking", readLine(t, out))
			require.NoError(t, mode.kill(g))
			require.NoError(t, g.WaitEmpty(waitCtx(t)))
			assert.Error(t, cmd.Wait())
			populated, err := g.Populated()
			require.NoError(t, err)
			assert.False(t, populated)
			frozen, err := g.Frozen()
			require.NoError(t, err)
			assert.False(t, frozen, "Kill leaves the group thawed")
		})
	}
}

// Kill reaches frozen members, and processes of child groups.
func TestKillFrozenGroup(t *testing.T) {
	for _, mode := range killModes {
		t.Run(mode.name, func(t *testing.T) {
			g := cgroup.NewTestGroup(t)
			child, err := cgroup.Create(filepath.Join(g.Path(), "child"))
			require.NoError(t, err)
			defer child.Close()
			cmds := []*exec.Cmd{start(t, g, "sleep", "1000"), start(t, child, "sleep", "1000")}
			require.NoError(t, g.Freeze(waitCtx(t)))

			require.NoError(t, mode.kill(g))
			require.NoError(t, g.WaitEmpty(waitCtx(t)))
			for _, cmd := range cmds {
				assert.EqualError(t, cmd.Wait(), "signal: killed")
			}
		})
	}
}

func TestKillRemoved(t *testing.T) {
	parent := cgroup.NewTestGroup(t)
	g, err := cgroup.Create(filepath.Join(parent.Path(), "gone"))
	require.NoError(t, err)
	defer g.Close()
	require.NoError(t, g.Remove())
	assert.ErrorIs(t, g.Kill(), os.ErrNotExist)
	_, err = g.Signal(syscall.SIGTERM)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// Signal refuses the root group, which holds every process of the system
// that no other group holds. (Signal 0 would be harmless anyway.)
func TestSignalRefusesRoot(t *testing.T) {
	mp, err := cgroup.Mount()
	require.NoError(t, err)
	if _, err := os.Stat(filepath.Join(mp, "cgroup.events")); err == nil {
		t.Skipf("the cgroup2 mount %s shows a non-root group (a cgroup namespace)", mp)
	}
	root, err := cgroup.Open(mp)
	require.NoError(t, err)
	defer root.Close()
	n, err := root.Signal(0)
	assert.ErrorIs(t, err, cgroup.ErrRoot)
	assert.Zero(t, n)
}
