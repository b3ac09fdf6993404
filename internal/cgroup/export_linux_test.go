//go:build linux

package cgroup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The helpers every test on real cgroups uses, and hooks into the package.

var testSeq atomic.Uint64

// testBase is where tests create their groups: this process's own group if
// it is delegated to us, else the root of the cgroup2 mount.
var testBase = sync.OnceValue(func() string {
	for _, f := range []func() (string, error){Self, Mount} {
		if dir, err := f(); err == nil && Writable(dir) {
			return dir
		}
	}
	return ""
})

// NewTestGroup creates a uniquely named group for tb below a writable
// cgroup2 directory, and registers a cleanup that kills everything in it
// and below it, waits until it is empty, removes it with its descendants
// and closes it, and checks that nothing is left. It skips tb, saying why,
// where no cgroup2 directory is writable.
func NewTestGroup(tb testing.TB) *Group {
	tb.Helper()
	base := testBase()
	if base == "" {
		tb.Skip("no writable cgroup2 directory (neither this process's group nor the mount root)")
	}
	name := strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' {
			return '_'
		}
		return r
	}, tb.Name())
	dir := filepath.Join(base, fmt.Sprintf("cgtest-%d-%d-%.80s", os.Getpid(), testSeq.Add(1), name))
	g, err := Create(dir)
	require.NoError(tb, err)
	tb.Cleanup(func() {
		require.NoError(tb, DestroyTree(g))
		_, err := os.Stat(dir)
		require.ErrorIs(tb, err, os.ErrNotExist, "group %s left behind", dir)
	})
	return g
}

// DestroyTree kills everything in g's tree, waits for it to be empty,
// removes its directories children first and closes g.
func DestroyTree(g *Group) error {
	defer g.Close()
	if err := g.Kill(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.WaitEmpty(ctx); err != nil {
		return err
	}
	var dirs []string
	err := filepath.WalkDir(g.Path(), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, d := range slices.Backward(dirs) {
		if err := rmdir(d); err != nil {
			return err
		}
	}
	return nil
}

// OpenAny opens dir as a Group without checking that it is on cgroup2, for
// the tests on a fake cgroupfs tree.
func OpenAny(dir string) (*Group, error) { return open(dir, false) }

// KillFrozen runs Kill's fallback for kernels without cgroup.kill.
func (g *Group) KillFrozen() error {
	return g.do(func(dirfd int) error { return killFrozen(dirfd, g.path) })
}

// SetHookSignalListed installs fn between Signal's read of cgroup.procs and
// its pidfd_open calls until the test ends.
func SetHookSignalListed(tb testing.TB, fn func(pids []int)) {
	testHookSignalListed = fn
	tb.Cleanup(func() { testHookSignalListed = nil })
}

// SetHookEventsRead installs fn on every read of cgroup.events by a wait
// until the test ends.
func SetHookEventsRead(tb testing.TB, fn func(ev []byte)) {
	testHookEventsRead = fn
	tb.Cleanup(func() { testHookEventsRead = nil })
}

// SetWatchPidfds turns WaitEmpty's watching of member pidfds on or off
// until the benchmark ends.
func SetWatchPidfds(tb testing.TB, on bool) {
	watchPidfds = on
	tb.Cleanup(func() { watchPidfds = true })
}
