package cgroup_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/cgroup"
)

func TestMountAndSelf(t *testing.T) {
	mp, err := cgroup.Mount()
	require.NoError(t, err)
	g, err := cgroup.Open(mp)
	require.NoError(t, err, "the mount point is a cgroup2 directory")
	require.NoError(t, g.Close())

	self, err := cgroup.Self()
	require.NoError(t, err)
	assert.True(t, self == mp || strings.HasPrefix(self, mp+"/"), "got Self %s, want it under the mount %s", self, mp)
	assert.Equal(t, self, groupOf(t, os.Getpid()), "Self names the group /proc/self/cgroup names")
	procs, err := os.ReadFile(filepath.Join(self, "cgroup.procs"))
	require.NoError(t, err)
	assert.Contains(t, strings.Fields(string(procs)), itoa(os.Getpid()), "this process is listed in Self's cgroup.procs")
}

func TestCreateOpenRemove(t *testing.T) {
	parent := cgroup.NewTestGroup(t)
	dir := filepath.Join(parent.Path(), "child")

	g, err := cgroup.Create(dir + "/")
	require.NoError(t, err)
	assert.Equal(t, dir, g.Path(), "the path is cleaned")
	assert.GreaterOrEqual(t, g.FD(), 0)

	_, err = cgroup.Create(dir)
	assert.ErrorIs(t, err, os.ErrExist, "Create of an existing group")

	same, err := cgroup.Open(dir)
	require.NoError(t, err)
	cmd := start(t, same, "sleep", "1000")

	err = g.Remove()
	assert.ErrorIs(t, err, cgroup.ErrBusy, "Remove while populated")
	assert.ErrorIs(t, err, syscall.EBUSY)
	err = parent.Remove()
	assert.ErrorIs(t, err, cgroup.ErrBusy, "Remove of a group with a child group")

	require.NoError(t, g.Kill())
	require.NoError(t, g.WaitEmpty(waitCtx(t)))
	assert.EqualError(t, cmd.Wait(), "signal: killed")
	require.NoError(t, same.Close())

	require.NoError(t, g.Remove(), "Remove once empty")
	_, err = os.Stat(dir)
	assert.ErrorIs(t, err, os.ErrNotExist, "the directory is gone")
	assert.ErrorIs(t, g.Remove(), os.ErrNotExist, "Remove again")

	require.NoError(t, g.Close())
	assert.Equal(t, -1, g.FD(), "FD after Close")
	assert.ErrorIs(t, g.Close(), cgroup.ErrClosed, "Close again")
}

func TestRemoveChecksIdentity(t *testing.T) {
	parent := cgroup.NewTestGroup(t)
	dir := filepath.Join(parent.Path(), "child")
	old, err := cgroup.Create(dir)
	require.NoError(t, err)
	defer old.Close()
	require.NoError(t, old.Remove())

	// Another group now has the old one's path: the old Group must not
	// remove it, nor read its files.
	newer, err := cgroup.Create(dir)
	require.NoError(t, err)
	defer newer.Close()
	assert.ErrorIs(t, old.Remove(), os.ErrNotExist)
	_, err = old.Procs()
	assert.ErrorIs(t, err, os.ErrNotExist, "a removed group's files are gone")
	_, err = os.Stat(dir)
	assert.NoError(t, err, "the new group is still there")
}

func TestOpenErrors(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))

	tests := []struct {
		name string
		open func() (*cgroup.Group, error)
		want error
	}{
		{"Open of a missing directory", func() (*cgroup.Group, error) { return cgroup.Open(filepath.Join(tmp, "missing")) }, os.ErrNotExist},
		{"Open of a plain directory", func() (*cgroup.Group, error) { return cgroup.Open(tmp) }, cgroup.ErrNotCgroup},
		{"Open of a file", func() (*cgroup.Group, error) { return cgroup.Open(file) }, syscall.ENOTDIR},
		{"Create in a plain directory", func() (*cgroup.Group, error) { return cgroup.Create(filepath.Join(tmp, "g")) }, cgroup.ErrNotCgroup},
		{"Create without a parent", func() (*cgroup.Group, error) { return cgroup.Create(filepath.Join(tmp, "a", "b")) }, os.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := tt.open()
			assert.Nil(t, g)
			assert.ErrorIs(t, err, tt.want)
		})
	}
	_, err := os.Stat(filepath.Join(tmp, "g"))
	assert.ErrorIs(t, err, os.ErrNotExist, "a failed Create removes the directory it made")
}

func TestClosedGroup(t *testing.T) {
	closed := cgroup.NewTestGroup(t)
	reopened, err := cgroup.Open(closed.Path())
	require.NoError(t, err)
	require.NoError(t, reopened.Close())

	ctx := context.Background()
	for name, g := range map[string]*cgroup.Group{"zero": new(cgroup.Group), "closed": reopened} {
		calls := map[string]func() error{
			"Close":     g.Close,
			"Remove":    g.Remove,
			"Kill":      g.Kill,
			"WaitEmpty": func() error { return g.WaitEmpty(ctx) },
			"Freeze":    func() error { return g.Freeze(ctx) },
			"Thaw":      func() error { return g.Thaw(ctx) },
			"Procs":     func() error { _, err := g.Procs(); return err },
			"Populated": func() error { _, err := g.Populated(); return err },
			"Frozen":    func() error { _, err := g.Frozen(); return err },
			"Usage":     func() error { _, err := g.Usage(); return err },
			"Signal":    func() error { _, err := g.Signal(syscall.SIGTERM); return err },
			"SetLimits": func() error { return g.SetLimits(cgroup.Limits{PidsMax: 1}) },
			"Controllers": func() error {
				_, err := g.Controllers()
				return err
			},
			"EnableControllers": func() error {
				_, err := g.EnableControllers("pids")
				return err
			},
		}
		for call, fn := range calls {
			assert.ErrorIs(t, fn(), cgroup.ErrClosed, "%s of a %s Group", call, name)
		}
		assert.Equal(t, -1, g.FD(), "FD of a %s Group", name)
	}
}

// A child started with UseCgroupFD is in the group from its first
// instruction, and so is everything it forks, however it tries to get away:
// setsid, a double fork, a cleared environment.
func TestStartInGroup(t *testing.T) {
	g := cgroup.NewTestGroup(t)
	child := start(t, g, "sleep", "1000")
	assert.Equal(t, g.Path(), groupOf(t, child.Process.Pid))

	daemonizer := command(g, "env", "-i", "setsid", "sh", "-c", "sleep 1000 &")
	daemonizer.Env = append(os.Environ(), "CGROUP_TEST_COOKIE=1")
	require.NoError(t, daemonizer.Run())

	procs, err := g.Procs()
	require.NoError(t, err)
	require.Len(t, procs, 2, "the child and the daemon; the daemonizer has exited")
	require.Contains(t, procs, child.Process.Pid)
	daemon := procs[0] + procs[1] - child.Process.Pid
	assert.Equal(t, g.Path(), groupOf(t, daemon))
	assert.NotEqual(t, sessionOf(t, os.Getpid()), sessionOf(t, daemon), "the daemon has its own session")
	assert.NotEqual(t, daemonizer.Process.Pid, parentOf(t, daemon), "the daemon was orphaned")
	env, err := os.ReadFile("/proc/" + itoa(daemon) + "/environ")
	require.NoError(t, err)
	assert.NotContains(t, string(env), "CGROUP_TEST_COOKIE", "the daemon's environment is cleared (sh adds PWD)")

	populated, err := g.Populated()
	require.NoError(t, err)
	assert.True(t, populated)

	require.NoError(t, g.Kill())
	require.NoError(t, g.WaitEmpty(waitCtx(t)))
	assert.EqualError(t, child.Wait(), "signal: killed")
	requireAllGone(t, []int{child.Process.Pid, daemon})
	populated, err = g.Populated()
	require.NoError(t, err)
	assert.False(t, populated)
}

func TestDescriptorsDoNotLeak(t *testing.T) {
	g := cgroup.NewTestGroup(t)
	before := fdCount(t)
	for range 3 {
		c, err := cgroup.Create(filepath.Join(g.Path(), "c"))
		require.NoError(t, err)
		cmd := start(t, c, "sleep", "1000")
		_, err = c.Signal(syscall.SIGCONT)
		require.NoError(t, err)
		require.NoError(t, c.Freeze(waitCtx(t)))
		require.NoError(t, c.Thaw(waitCtx(t)))
		_, err = c.Usage()
		require.NoError(t, err)
		require.NoError(t, c.Kill())
		require.NoError(t, c.WaitEmpty(waitCtx(t)))
		require.Error(t, cmd.Wait())
		require.NoError(t, c.Remove())
		require.NoError(t, c.Close())
	}
	assert.Equal(t, before, fdCount(t), "open descriptors before and after")
}

func sessionOf(tb testing.TB, pid int) int { return statField(tb, pid, 6) }
func parentOf(tb testing.TB, pid int) int  { return statField(tb, pid, 4) }

// statField returns numeric field n (from 1, as in proc(5)) of
// /proc/<pid>/stat.
func statField(tb testing.TB, pid, n int) int {
	tb.Helper()
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
	require.NoError(tb, err)
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	v, err := strconv.Atoi(f[n-3])
	require.NoError(tb, err)
	return v
}
