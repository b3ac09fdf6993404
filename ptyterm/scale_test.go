//go:build linux

package ptyterm_test

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/ptyterm"
)

// TestScaleIdleTerminals runs 1,000 idle terminals at once: their readers
// wait in the runtime poller, so they pin no thread; then every one is
// closed and nothing is left.
func TestScaleIdleTerminals(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 1,000 terminals")
	}
	const n = 1000
	m := processes.NewManager(0, processes.WithKillGrace(5*time.Second))
	terms := make([]*ptyterm.Terminal, 0, n)
	for range n {
		term, err := ptyterm.Start(m, exec.Command("sleep", "1000"), ptyterm.Options{})
		require.NoError(t, err)
		terms = append(terms, term)
	}
	th := proctest.Threads(t)
	t.Logf("%d idle terminals: %d OS threads", n, th)
	assert.Less(t, th, 100, "OS threads with %d idle terminals", n)

	pids := make([]int, 0, n)
	for _, term := range terms {
		pids = append(pids, term.Session().Pid())
		require.NoError(t, term.Close())
	}
	proctest.RequireGone(t, pids...)
	assert.Zero(t, m.Len())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, m.Shutdown(ctx))
}
