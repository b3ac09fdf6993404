package processes

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadStat(t *testing.T) {
	cmd := exec.Command("sleep", "1000")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	st, ok := readStat(cmd.Process.Pid, make([]byte, 1024))
	require.True(t, ok)
	assert.Equal(t, cmd.Process.Pid, st.pid)
	assert.Equal(t, os.Getpid(), st.ppid, "ppid")
	self, ok := readStat(os.Getpid(), make([]byte, 1024))
	require.True(t, ok)
	assert.Equal(t, self.pgrp, st.pgrp, "a child started plainly shares its parent's group")
	assert.Equal(t, self.sid, st.sid)
	_, ok = readStat(1<<30, make([]byte, 1024))
	assert.False(t, ok, "stat of a pid that cannot exist")
}

// An environment that reads empty is not known: an exec under way shows
// one until the new program's stack is set up, and a hunt must look at
// such a process again rather than decide it is not the session's. A
// process that is gone is known to carry no cookie.
func TestEnvironCookie(t *testing.T) {
	start := func(env []string) int {
		cmd := exec.Command("/bin/sleep", "1000")
		cmd.Env = env
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd.Process.Pid
	}
	// Start returns once the exec succeeded, which may be before the new
	// program's environment shows: the very window a hunt must allow for.
	settled := func(pid int) (cookie string) {
		require.Eventually(t, func() bool {
			var known bool
			cookie, known = environCookie(pid)
			return known
		}, 10*time.Second, time.Millisecond, "the environment of %d never showed", pid)
		return cookie
	}
	assert.Equal(t, "abc", settled(start([]string{cookieVar + "=abc", "X=1"})))
	assert.Empty(t, settled(start([]string{"X=1"})), "an environment without the cookie")
	_, known := environCookie(start([]string{}))
	assert.False(t, known, "an empty environment")
	_, known = environCookie(1 << 30)
	assert.True(t, known, "a pid that cannot exist")
}

// A hunt looks again at a young process whose environment it cannot
// tell, and at nothing else it has seen: a daemon that hops pids by exec
// is claimed once its environment shows its cookie.
func TestHuntLooksAgainAtYoungUnknownProcesses(t *testing.T) {
	m := NewManager(0, WithoutCgroup())
	t.Cleanup(func() { _ = m.Shutdown(t.Context()) })
	cmd := exec.Command("/bin/sleep", "1000")
	cmd.Env = []string{}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	gone := &process{m: m, pid: 1 << 30, cookie: "none"} // reaped, its group empty
	gone.reaped.Store(true)
	h := newHunt([]*process{gone})
	claimed, pending := h.scan()
	assert.Empty(t, claimed)
	assert.True(t, pending, "a process started just now with an empty environment is pending")
	assert.True(t, h.pending[cmd.Process.Pid])
	_, pending = h.scan()
	assert.True(t, pending, "it is still looked at")
	h.young = ^uint64(0) // as if it had started long before the hunt
	_, pending = h.scan()
	assert.False(t, pending, "an old process that cannot be told is decided")
}
