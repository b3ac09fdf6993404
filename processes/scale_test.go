//go:build linux

package processes_test

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/processes"
)

// threads returns the OS thread count of this process.
func threads(t *testing.T) int {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			require.NoError(t, err)
			return n
		}
	}
	t.Fatal("no Threads line in /proc/self/status")
	return 0
}

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
	th := threads(t)
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
	requireGone(t, pids...)
}
