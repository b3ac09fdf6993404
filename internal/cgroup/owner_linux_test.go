package cgroup_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/cgroup"
)

// ownerOf returns pid as an Owner, from /proc/<pid>/stat.
func ownerOf(tb testing.TB, pid int) cgroup.Owner {
	tb.Helper()
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
	require.NoError(tb, err)
	_, start, ok := cgroup.ParseStat(b)
	require.True(tb, ok)
	return cgroup.Owner{PID: pid, Start: start}
}

// deadOwner returns an Owner whose process has exited and been reaped.
func deadOwner(tb testing.TB) cgroup.Owner {
	tb.Helper()
	cmd := start(tb, nil, "sleep", "1000")
	o := ownerOf(tb, cmd.Process.Pid)
	require.NoError(tb, cmd.Process.Kill())
	_ = cmd.Wait()
	return o
}

func TestCurrentOwner(t *testing.T) {
	o, err := cgroup.CurrentOwner()
	require.NoError(t, err)
	assert.Equal(t, ownerOf(t, os.Getpid()), o)
	assert.True(t, o.Alive())
}

func TestOwnerAlive(t *testing.T) {
	self, err := cgroup.CurrentOwner()
	require.NoError(t, err)

	zombie := start(t, nil, "sleep", "1000")
	zombieOwner := ownerOf(t, zombie.Process.Pid)
	require.NoError(t, zombie.Process.Kill())
	waitExitedNoReap(t, zombie.Process.Pid)

	tests := []struct {
		name  string
		owner cgroup.Owner
		alive bool
	}{
		{"this process", self, true},
		{"this pid, started at another time", cgroup.Owner{PID: self.PID, Start: self.Start + 1}, false},
		{"exited and reaped", deadOwner(t), false},
		{"exited, not reaped yet", zombieOwner, false},
		{"pid that cannot exist", cgroup.Owner{PID: 1 << 30, Start: 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.alive, tt.owner.Alive())
		})
	}
	assert.Error(t, zombie.Wait())
}

// waitExitedNoReap waits until pid has exited, leaving it a zombie:
// waitid(P_PID, pid, WEXITED|WNOWAIT).
func waitExitedNoReap(tb testing.TB, pid int) {
	tb.Helper()
	const pPID, wNOWAIT = 1, 0x01000000
	var info [128]byte
	for {
		_, _, e := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid), uintptr(unsafe.Pointer(&info[0])), syscall.WEXITED|wNOWAIT, 0, 0)
		if e != syscall.EINTR {
			require.Zero(tb, e, "waitid")
			return
		}
	}
}

func TestCreateOwned(t *testing.T) {
	parent := cgroup.NewTestGroup(t)
	a, err := cgroup.CreateOwned(parent.Path())
	require.NoError(t, err)
	defer a.Close()
	b, err := cgroup.CreateOwned(parent.Path())
	require.NoError(t, err)
	defer b.Close()

	assert.NotEqual(t, a.Path(), b.Path(), "two owned groups of one process")
	self, err := cgroup.CurrentOwner()
	require.NoError(t, err)
	for _, g := range []*cgroup.Group{a, b} {
		assert.Equal(t, parent.Path(), filepath.Dir(g.Path()))
		o, ok := cgroup.Owned(g.Path())
		assert.True(t, ok, "%s is an ownership record", g.Path())
		assert.Equal(t, self, o)
		assert.False(t, cgroup.Stale(g.Path()), "a group of a live owner is not stale")
	}
}

// A tree whose owner is dead is killed and removed, children first, with
// the processes in it, frozen or daemonized; the tree of a live owner and
// a group that is no ownership record are left alone.
func TestReapStale(t *testing.T) {
	parent := cgroup.NewTestGroup(t)
	staleDir := filepath.Join(parent.Path(), deadOwner(t).OwnedName(1))
	stale := mustCreate(t, staleDir)
	s1 := mustCreate(t, filepath.Join(staleDir, "s1"))
	s2 := mustCreate(t, filepath.Join(staleDir, "s2"))
	s2x := mustCreate(t, filepath.Join(staleDir, "s2", "x"))
	leftover := start(t, s1, "sleep", "1000")
	require.NoError(t, command(s2x, "env", "-i", "setsid", "sh", "-c", "sleep 1000 &").Run())
	daemons, err := s2x.Procs()
	require.NoError(t, err)
	require.Len(t, daemons, 1)
	require.NoError(t, s1.Freeze(waitCtx(t)), "a paused session")

	live, err := cgroup.CreateOwned(parent.Path())
	require.NoError(t, err)
	defer live.Close()
	liveSession := mustCreate(t, filepath.Join(live.Path(), "s"))
	start(t, liveSession, "sleep", "1000")
	foreign := mustCreate(t, filepath.Join(parent.Path(), "foreign"))
	start(t, foreign, "sleep", "1000")

	require.True(t, cgroup.Stale(staleDir))
	removed, err := cgroup.ReapStale(waitCtx(t), parent.Path())
	require.NoError(t, err)

	want := []string{s2x.Path(), s2.Path(), s1.Path(), stale.Path()}
	assert.ElementsMatch(t, want, removed)
	requireChildrenFirst(t, removed)
	for _, dir := range want {
		_, err := os.Stat(dir)
		assert.ErrorIs(t, err, os.ErrNotExist, "%s after ReapStale", dir)
	}
	assert.EqualError(t, leftover.Wait(), "signal: killed")
	requireAllGone(t, append(daemons, leftover.Process.Pid))

	for _, g := range []*cgroup.Group{liveSession, foreign} {
		procs, err := g.Procs()
		require.NoError(t, err)
		assert.Len(t, procs, 1, "processes of %s, which is not stale", g.Path())
	}

	removed, err = cgroup.ReapStale(waitCtx(t), parent.Path())
	assert.NoError(t, err)
	assert.Empty(t, removed, "a second ReapStale")
	for _, g := range []*cgroup.Group{stale, s1, s2, s2x} {
		require.NoError(t, g.Close())
	}
}

// Reapers that run at once share the work: each directory is removed and
// reported once, and none of them fails.
func TestReapStaleConcurrently(t *testing.T) {
	parent := cgroup.NewTestGroup(t)
	var want []string
	for i := range uint64(4) {
		dir := filepath.Join(parent.Path(), deadOwner(t).OwnedName(i))
		for _, d := range []string{dir, dir + "/a", dir + "/b"} {
			g := mustCreate(t, d)
			start(t, g, "sleep", "1000")
			require.NoError(t, g.Close())
			want = append(want, d)
		}
	}

	var mu sync.Mutex
	var removed []string
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			r, err := cgroup.ReapStale(waitCtx(t), parent.Path())
			assert.NoError(t, err)
			mu.Lock()
			removed = append(removed, r...)
			mu.Unlock()
		})
	}
	wg.Wait()
	sort.Strings(want)
	sort.Strings(removed)
	assert.Equal(t, want, removed)
}

func mustCreate(tb testing.TB, dir string) *cgroup.Group {
	tb.Helper()
	g, err := cgroup.Create(dir)
	require.NoError(tb, err)
	return g
}

// requireChildrenFirst requires that every directory in dirs comes after
// the directories below it.
func requireChildrenFirst(tb testing.TB, dirs []string) {
	tb.Helper()
	for i, d := range dirs {
		for _, later := range dirs[i+1:] {
			require.False(tb, strings.HasPrefix(later, d+"/"), "%s removed after its parent %s", later, d)
		}
	}
}

func TestZeroOwner(t *testing.T) {
	assert.False(t, cgroup.Owner{}.Alive(), "the zero Owner names no process")
}
