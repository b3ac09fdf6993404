//go:build linux

package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/processes"
)

// TestIdleCloseComesWhenWarned: with the default flags (-idle 10m -warn
// 1m), a terminal warned "closed in 60 s" is closed within a few seconds
// of that, by the sweep of the Manager webterm runs, not up to a sweep
// interval of a minute later.
func TestIdleCloseComesWhenWarned(t *testing.T) {
	const idle, warn = 10 * time.Minute, time.Minute
	c := clock.NewMock()
	m := newManager(idle, warn, processes.WithClock(c))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, m.Shutdown(ctx))
	})
	h := newHandler(m, config{Port: 8080, Argv: []string{"sleep", "1000"}, Idle: idle, Warn: warn})

	r := httptest.NewRequest("POST", apiPrefix+"/", strings.NewReader(`{"rows":24,"cols":80}`))
	r.Host = "127.0.0.1:8080"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	require.Equal(t, http.StatusCreated, w.Code, "start: %s", w.Body)
	var s *processes.Session
	for s = range m.All() {
	}
	require.NotNil(t, s)

	// One second at a time, so that the sweep's ticker misses no tick.
	for c.Now().Sub(s.CreatedAt()) < idle+5*time.Second {
		c.Add(time.Second)
	}
	require.Eventually(t, func() bool { return s.Closed() }, 10*time.Second, time.Millisecond,
		"not closed 5 s after the idle deadline")
	assert.ErrorIs(t, s.CloseReason(), processes.ErrIdleTimeout)
}
