//go:build linux

package processes_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
)

// TestScaleIdleSessions runs 2,000 idle sleep sessions at once: waiting for
// them must not pin a thread each, and Shutdown must leave none.
func TestScaleIdleSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 2,000 processes")
	}
	const n = 2000
	m := processes.NewManager(0, processes.WithKillGrace(5*time.Second))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	sessions := make([]*processes.Session, 0, n)
	for range n {
		s, err := m.Start(execCommand("sleep", "1000"), processes.StartOptions{})
		require.NoError(t, err)
		sessions = append(sessions, s)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	th := proctest.Threads(t)
	heap := float64(after.HeapAlloc-before.HeapAlloc) / n
	stack := float64(after.StackInuse-before.StackInuse) / n
	t.Logf("%d idle sessions: %d OS threads, %.0f bytes per session (%.0f heap + %.0f goroutine stacks)",
		n, th, heap+stack, heap, stack)
	assert.Less(t, th, 100, "OS threads with %d idle sessions", n)

	pids := make([]int, 0, n)
	for _, s := range sessions {
		pids = append(pids, s.Pid())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, m.Shutdown(ctx))
	proctest.RequireGone(t, pids...)
}
