//go:build linux

package httpapi_test

import (
	"context"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/httpapi"
	"github.com/sessionkit/sessionkit/ptyterm"
)

// TestScaleIdleAttachedTerminals attaches a viewer to each of 1,000 idle
// terminals: the attachments wait in the runtime poller, so they pin no
// thread, and cost little memory; both ends of each socket are in this
// process, so the figure counts the client's side too.
func TestScaleIdleAttachedTerminals(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 1,000 terminals")
	}
	const n = 1000
	m := processes.NewManager(0, processes.WithKillGrace(5*time.Second))
	e := newEnv(t, m, httpapi.Options{})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	pids := make([]int, 0, n)
	conns := make([]*websocket.Conn, 0, n)
	for i := range n {
		id := strconv.Itoa(i)
		term, err := ptyterm.Start(m, exec.Command("sleep", "1000"), ptyterm.Options{ID: id})
		require.NoError(t, err)
		pids = append(pids, term.Session().Pid())
		c := dial(t, e, "/"+id+"/attach", nil)
		readUntil(t, c, kindIs(httpapi.AttachHello))
		conns = append(conns, c)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	th := proctest.Threads(t)
	heap := float64(after.HeapAlloc-before.HeapAlloc) / n
	stack := float64(after.StackInuse-before.StackInuse) / n
	t.Logf("%d idle attached terminals: %d OS threads, %.0f bytes per terminal with its attachment, both ends (%.0f heap + %.0f goroutine stacks)",
		n, th, heap+stack, heap, stack)
	assert.Less(t, th, 100, "OS threads with %d idle attached terminals", n)
	if !raceEnabled {
		assert.Less(t, heap+stack, 64.0*1024, "bytes per idle attached terminal")
	}

	for _, c := range conns {
		c.CloseNow()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, m.Shutdown(ctx))
	proctest.RequireGone(t, pids...)
}
