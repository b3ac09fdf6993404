package cgroup_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/cgroup"
	"github.com/sessionkit/sessionkit/internal/proctest"
)

// command returns cmd set up to start inside g.
func command(g *cgroup.Group, args ...string) *exec.Cmd {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: g.FD()}
	return cmd
}

// start starts args in g (or outside any test group if g is nil) and
// registers a cleanup that kills and reaps the process unless the test
// waited for it.
func start(tb testing.TB, g *cgroup.Group, args ...string) *exec.Cmd {
	tb.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	if g != nil {
		cmd = command(g, args...)
	}
	require.NoError(tb, cmd.Start())
	reapAtCleanup(tb, cmd)
	return cmd
}

func reapAtCleanup(tb testing.TB, cmd *exec.Cmd) {
	tb.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
}

// startLines starts args in g with its stdout on a pipe, read a line at a
// time.
func startLines(tb testing.TB, g *cgroup.Group, args ...string) (*exec.Cmd, *bufio.Reader) {
	tb.Helper()
	cmd := command(g, args...)
	out, err := cmd.StdoutPipe()
	require.NoError(tb, err)
	require.NoError(tb, cmd.Start())
	reapAtCleanup(tb, cmd)
	return cmd, bufio.NewReader(out)
}

// readLine returns the next line, failing tb at EOF.
func readLine(tb testing.TB, r *bufio.Reader) string {
	tb.Helper()
	line, err := r.ReadString('\n')
	require.NoError(tb, err)
	return strings.TrimSuffix(line, "\n")
}

// groupOf returns the cgroup2 directory of pid, from /proc/<pid>/cgroup.
func groupOf(tb testing.TB, pid int) string {
	tb.Helper()
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/cgroup")
	require.NoError(tb, err)
	p, err := cgroup.ParseCgroupFile(string(b))
	require.NoError(tb, err)
	mp, err := cgroup.Mount()
	require.NoError(tb, err)
	return strings.TrimSuffix(mp+p, "/")
}

func itoa(n int) string { return strconv.Itoa(n) }

// waitCtx is a context for one wait that must not hang the suite.
func waitCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(tb.Context(), 10*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// requireAllGone requires that none of pids is alive or an unreaped child.
func requireAllGone(tb testing.TB, pids []int) {
	tb.Helper()
	var alive []int
	for _, pid := range pids {
		if proctest.Alive(pid) {
			alive = append(alive, pid)
		}
	}
	require.Empty(tb, alive, "processes still alive")
}

// fdCount counts this process's open descriptors.
func fdCount(tb testing.TB) int {
	tb.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(tb, err)
	return len(ents)
}
