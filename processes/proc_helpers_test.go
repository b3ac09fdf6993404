//go:build linux

package processes_test

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
)

// helperCmd runs this test binary in a helper mode.
func helperCmd(t *testing.T, mode string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, helperEnv+"="+mode)...)
	return cmd
}

// streams returns the concatenated output of s per stream.
func streams(s *processes.Session) map[string]string {
	chunks, _, _ := s.OutputSince(0)
	out := map[string]string{}
	for _, c := range chunks {
		out[c.Stream] += string(c.Data)
	}
	return out
}

// waitDone waits for s to finish and returns its exit code.
func waitDone(t *testing.T, s *processes.Session) int {
	t.Helper()
	proctest.Recv(t, s.Done())
	_, exit, alive := s.OutputSince(0)
	require.False(t, alive)
	require.NotNil(t, exit)
	return *exit
}

// waitFor waits until the session's stdout contains want.
func waitFor(t *testing.T, s *processes.Session, want string) {
	t.Helper()
	require.Eventually(t, func() bool {
		return strings.Contains(streams(s)["stdout"], want)
	}, 10*time.Second, time.Millisecond, "stdout never contained %q; got %q", want, streams(s)["stdout"])
}

// pidsIn parses the whitespace-separated pids a child printed.
func pidsIn(t *testing.T, out string) []int {
	t.Helper()
	var pids []int
	for _, f := range strings.Fields(out) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// shutdown is a t.Cleanup that leaves no process of m behind.
func shutdown(t *testing.T, m *processes.Manager) {
	t.Helper()
	t.Cleanup(func() {
		// Not t.Context(): it is already canceled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, m.Shutdown(ctx))
	})
}

func execCommand(name string, args ...string) *exec.Cmd { return exec.Command(name, args...) }
