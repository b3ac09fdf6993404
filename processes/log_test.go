//go:build linux

package processes_test

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/processes"
)

func TestLoggerReportsLifecycle(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logged := func() string {
		mu.Lock()
		defer mu.Unlock()
		return buf.String()
	}
	h := slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug})
	c := clock.NewMock()
	m := processes.NewManager(time.Minute, processes.WithClock(c), processes.WithLogger(slog.New(h)),
		processes.WithKillGrace(10*time.Second))
	shutdown(t, m)

	s, err := m.Start(helperCmd(t, "ignore-term"), processes.StartOptions{ID: "stubborn"})
	require.NoError(t, err)
	waitFor(t, s, "ready")
	c.Add(time.Minute + time.Nanosecond)
	m.Sweep()
	waitFor(t, s, "term ignored")
	c.Add(10 * time.Second)
	waitDone(t, s)

	for _, want := range []string{
		`msg="processes: started" id=stubborn`,
		`msg="processes: session evicted" id=stubborn`,
		`msg="processes: escalating to SIGKILL" id=stubborn`,
		`msg="processes: process exited" id=stubborn`,
	} {
		assert.Contains(t, logged(), want)
	}
}
