//go:build linux

package proctest_test

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sessionkit/sessionkit/internal/proctest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestAliveAndRequireGone(t *testing.T) {
	assert.True(t, proctest.Alive(os.Getpid()), "this process")
	cmd := exec.Command("sleep", "1000")
	require.NoError(t, cmd.Start())
	pid := cmd.Process.Pid
	assert.True(t, proctest.Alive(pid), "a running child")
	require.NoError(t, cmd.Process.Kill())
	assert.True(t, proctest.Alive(pid), "a killed child not yet reaped counts as alive")
	_ = cmd.Wait()
	proctest.RequireGone(t, pid)
	assert.False(t, proctest.Alive(1<<30), "a pid that cannot exist")
}

func TestThreadsAndRecv(t *testing.T) {
	assert.Positive(t, proctest.Threads(t))
	ch := make(chan int, 1)
	ch <- 7
	assert.Equal(t, 7, proctest.Recv(t, ch))
}

// TestDescendants finds a child and a grandchild by name, not a process
// of another name, and neither once they are gone.
func TestDescendants(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 1000 & echo $!; exec sleep 1001")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var grandchild int
	_, err = fmt.Fscan(out, &grandchild)
	require.NoError(t, err)
	got := proctest.Descendants("sleep")
	assert.ElementsMatch(t, []int{cmd.Process.Pid, grandchild}, got)
	assert.Empty(t, proctest.Descendants("no such program"))

	require.NoError(t, syscall.Kill(grandchild, syscall.SIGKILL))
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	proctest.RequireGone(t, cmd.Process.Pid, grandchild)
	assert.Empty(t, proctest.Descendants("sleep"))
}
