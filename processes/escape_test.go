//go:build linux

package processes_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
)

// tags makes a string unique to one test, which a test puts in the command
// lines of the processes it makes, to find every one of them later.
var tags atomic.Int64

func newTag() string {
	return strconv.FormatInt(int64(os.Getpid())*1000+tags.Add(1), 10)
}

// tagged returns the live processes whose command line contains tag.
func tagged(tag string) []int {
	var out []int
	for _, p := range proctest.Table() {
		if p.State == "Z" || p.Pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid) + "/cmdline")
		if err == nil && bytes.Contains(b, []byte(tag)) {
			out = append(out, p.Pid)
		}
	}
	return out
}

// TestNothingEscapesTheFallback runs the escapes the /proc walk must catch
// and ends each session with Forget (then waits with Terminate) or with
// Shutdown: when that returns, no process the session made is alive.
func TestNothingEscapesTheFallback(t *testing.T) {
	escapes := []struct {
		name  string
		cmd   func(t *testing.T, tag string) *exec.Cmd
		ready func(t *testing.T, s *processes.Session, tag string) // the escape is under way
	}{
		{"TERM-ignoring child forking setsid'd grandchildren every 20 ms", func(t *testing.T, tag string) *exec.Cmd {
			return exec.Command("sh", "-c", `trap "" TERM; while :; do setsid sleep 99999.`+tag+` >/dev/null 2>&1 & sleep 0.02; done`)
		}, atLeast(3)},
		{"setsid'd process spawned from the SIGTERM handler", func(t *testing.T, tag string) *exec.Cmd {
			return exec.Command("sh", "-c", `trap 'setsid sleep 99999.`+tag+` >/dev/null 2>&1 & exit 0' TERM; echo ready; while :; do sleep 0.01; done`)
		}, func(t *testing.T, s *processes.Session, _ string) { waitFor(t, s, "ready") }},
		{"daemon that forks and exits every 50 ms", func(t *testing.T, tag string) *exec.Cmd {
			cmd := exec.Command("sh", "-c", `"$0" -test.run='^$' hop-`+tag+` >/dev/null 2>&1 & echo started`, os.Args[0])
			cmd.Env = append(os.Environ(), helperEnv+"=hop")
			return cmd
		}, atLeast(1)},
		{"environment-cleared process staying in the session's group", func(t *testing.T, tag string) *exec.Cmd {
			return exec.Command("sh", "-c", `env -i sh -c 'exec sleep 99999.`+tag+`' >/dev/null 2>&1 & echo started; exit 0`)
		}, atLeast(1)},
		{"200 descendants, setsid'd and double-forked", func(t *testing.T, tag string) *exec.Cmd {
			return exec.Command("sh", "-c", `for i in $(seq 50); do
				sleep 99999.`+tag+` >/dev/null 2>&1 &
				setsid sleep 99999.`+tag+` >/dev/null 2>&1 &
				(sleep 99999.`+tag+` >/dev/null 2>&1 &) 
				(setsid sh -c 'sleep 99999.`+tag+` &' >/dev/null 2>&1 &)
			done; echo started; exec sleep 99999.`+tag)
		}, atLeast(201)},
	}
	ends := []struct {
		name string
		end  func(t *testing.T, m *processes.Manager, s *processes.Session)
	}{
		{"Forget", func(t *testing.T, m *processes.Manager, s *processes.Session) {
			m.Forget(s.ID)
			require.NoError(t, s.Terminate(t.Context()))
		}},
		{"Shutdown", func(t *testing.T, m *processes.Manager, s *processes.Session) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			require.NoError(t, m.Shutdown(ctx))
		}},
	}
	for _, mode := range containments(t) {
		for _, esc := range escapes {
			for _, end := range ends {
				t.Run(mode.name+"/"+esc.name+"/"+end.name, func(t *testing.T) {
					tag := newTag()
					t.Cleanup(func() { killTagged(tag) })
					m := newReal(t, processes.WithKillGrace(200*time.Millisecond), processes.WithWaitDelay(50*time.Millisecond), mode.opt)
					s, err := m.Start(esc.cmd(t, tag), processes.StartOptions{})
					require.NoError(t, err)
					esc.ready(t, s, tag)
					end.end(t, m, s)
					assert.Empty(t, tagged(tag), "processes left alive")
				})
			}
		}
	}
}

// containment is one way to run a test: with a cgroup per session, or in
// the fallback.
type containment struct {
	name string
	opt  processes.Option
}

// containments returns both modes, failing where cgroups should be had and
// cannot: on Linux as root, with a writable cgroup2 mount.
func containments(t *testing.T) []containment {
	t.Helper()
	probe := processes.NewManager(0)
	c := probe.Containment()
	require.NoError(t, probe.Shutdown(t.Context()))
	require.NotEmpty(t, c.Cgroup, "no cgroup for the tests: %v", c.Err)
	return []containment{{"cgroup", nil}, {"fallback", processes.WithoutCgroup()}}
}

// TestNothingEscapesByJoiningAnotherSessionsGroup: a double-forked
// descendant that joins the process group of another live session is still
// found by its session's cookie and dies with its own session, and the
// other session is left alone.
func TestNothingEscapesByJoiningAnotherSessionsGroup(t *testing.T) {
	for _, mode := range containments(t) {
		t.Run(mode.name, func(t *testing.T) { testJoinAnotherGroup(t, mode.opt) })
	}
}

func testJoinAnotherGroup(t *testing.T, opt processes.Option) {
	m := newReal(t, processes.WithKillGrace(200*time.Millisecond), processes.WithWaitDelay(50*time.Millisecond), opt)
	host := start(t, m, processes.StartOptions{}, "sleep", "1000")
	tag := newTag()
	t.Cleanup(func() { killTagged(tag) })
	cmd := exec.Command("sh", "-c", `("$0" -test.run='^$' join-`+tag+` & echo $!) ; exit 0`, os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=join-group", "JOIN_PGID="+strconv.Itoa(host.Pid()))
	s, err := m.Start(cmd, processes.StartOptions{})
	require.NoError(t, err)
	waitFor(t, s, "joined")
	pids := tagged(tag)
	require.Len(t, pids, 1)
	p, ok := proctest.Stat(pids[0])
	require.True(t, ok)
	require.Equal(t, host.Pid(), p.Pgrp, "the descendant did not join the other session's group")

	m.Forget(s.ID)
	require.NoError(t, s.Terminate(t.Context()))
	assert.Empty(t, tagged(tag), "the descendant in another session's group survived")
	assert.True(t, proctest.Alive(host.Pid()), "the other session was hit")
}

// atLeast waits until n processes carry the tag.
func atLeast(n int) func(t *testing.T, s *processes.Session, tag string) {
	return func(t *testing.T, s *processes.Session, tag string) {
		t.Helper()
		require.Eventually(t, func() bool { return len(tagged(tag)) >= n }, 10*time.Second, time.Millisecond,
			"fewer than %d tagged processes appeared", n)
	}
}

// killTagged kills what a failed test left, so that it fails alone.
func killTagged(tag string) {
	for range 10 {
		pids := tagged(tag)
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			_ = syscallKill(pid)
		}
	}
}

func syscallKill(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }
