//go:build linux

package processes_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
)

// TestTerminateUnderAFrozenAncestor: a session whose cgroup's ancestor was
// frozen from outside (systemctl freeze of the unit, say) cannot be thawed
// by the Manager, nor run the handler of its graceful signal, but its
// termination still ends with SIGKILL after the grace: Terminate, Forget
// and Shutdown do not wait for a thaw that never comes.
func TestTerminateUnderAFrozenAncestor(t *testing.T) {
	probe := processes.NewManager(0)
	own := probe.Containment().Cgroup
	require.NoError(t, probe.Shutdown(t.Context()))
	require.NotEmpty(t, own, "no cgroup for the test")
	parent := filepath.Join(filepath.Dir(own), "cgtest-frozen-"+newTag())
	require.NoError(t, os.Mkdir(parent, 0o755))
	t.Cleanup(func() { assert.NoError(t, os.Remove(parent)) })
	freeze := func(v string) {
		require.NoError(t, os.WriteFile(filepath.Join(parent, "cgroup.freeze"), []byte(v), 0))
	}
	m := newReal(t, processes.WithCgroup(parent), processes.WithKillGrace(100*time.Millisecond))
	t.Cleanup(func() { freeze("0") }) // before the Shutdown of newReal, if the test failed
	// Its handler keeps it from dying of SIGTERM, even frozen.
	terminated, err := m.Start(helperCmd(t, "ignore-term"), processes.StartOptions{})
	require.NoError(t, err)
	waitFor(t, terminated, "ready")
	forgotten := start(t, m, processes.StartOptions{}, "sleep", "1000")
	left := start(t, m, processes.StartOptions{}, "sleep", "1000")

	freeze("1")
	require.Eventually(t, func() bool {
		ev, err := os.ReadFile(filepath.Join(parent, "cgroup.events"))
		return err == nil && strings.Contains(string(ev), "frozen 1")
	}, 10*time.Second, time.Millisecond)

	done := make(chan error, 1)
	go func() { done <- terminated.Terminate(t.Context()) }()
	assert.NoError(t, proctest.Recv(t, done), "Terminate")
	proctest.RequireGone(t, terminated.Pid())

	forgot := make(chan struct{})
	go func() { m.Forget(forgotten.ID); close(forgot) }()
	proctest.Recv(t, forgot)
	proctest.Recv(t, forgotten.Done())

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- m.Shutdown(ctx) }()
	assert.NoError(t, proctest.Recv(t, shut), "Shutdown")
	proctest.RequireGone(t, forgotten.Pid(), left.Pid())
}
