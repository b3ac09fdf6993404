//go:build linux

package wake_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/wake"
)

// strayServer is another program's server on a port of 127.0.0.1 that
// the test opened itself: it answers "stray" and counts the requests.
func strayServer(t *testing.T) (addr string, requests *atomic.Int32) {
	t.Helper()
	requests = new(atomic.Int32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		_, _ = io.WriteString(w, "stray")
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), requests
}

// TestAddrInUseBeforeStart: a unit whose Upstream or probe address is
// served by another program already is not started, and its wake fails
// with ErrAddrInUse naming the address: before, the probe passed against
// the other program and the unit was ready, its own process dead of
// "address in use", its requests proxied to the stray. Once the other
// program is gone, the next wake starts the unit.
func TestAddrInUseBeforeStart(t *testing.T) {
	tests := []struct {
		name string
		spec func(stray string, starts *atomic.Int32) wake.Spec
	}{
		{"default probe of the upstream", func(stray string, starts *atomic.Int32) wake.Spec {
			return wake.Spec{Command: helperCommand("http", starts, "WAKE_ADDR="+stray), Upstream: stray}
		}},
		{"http probe of a path", func(stray string, starts *atomic.Int32) wake.Spec {
			return wake.Spec{Command: helperCommand("http", starts, "WAKE_ADDR="+stray), Upstream: stray, Probe: wake.HTTPProbe("/")}
		}},
		{"http probe of a url, no upstream", func(stray string, starts *atomic.Int32) wake.Spec {
			return wake.Spec{Command: helperCommand("http", starts, "WAKE_ADDR="+stray), Probe: wake.HTTPProbe("http://" + stray + "/")}
		}},
		{"tcp probe of another address", func(stray string, starts *atomic.Int32) wake.Spec {
			return wake.Spec{Command: helperCommand("http", starts, "WAKE_ADDR="+stray), Probe: wake.TCPProbe(stray)}
		}},
		{"output probe, upstream in use", func(stray string, starts *atomic.Int32) wake.Spec {
			return wake.Spec{Command: helperCommand("http", starts, "WAKE_ADDR="+stray), Upstream: stray, Probe: wake.OutputProbe(regexp.MustCompile("listening"))}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newManager(t)
			g := newGroup(t, m)
			stray, requests := strayServer(t)
			var starts atomic.Int32
			spec := tt.spec(stray, &starts)
			spec.ID = "web"
			u, err := g.Add(spec)
			require.NoError(t, err)

			for range 2 { // and again: the retry checks as well
				err = u.Wake(t.Context())
				require.ErrorIs(t, err, wake.ErrAddrInUse)
				assert.Contains(t, err.Error(), stray)
				assert.Contains(t, err.Error(), `unit "web"`)
			}
			st := u.Status()
			assert.Equal(t, wake.Failed, st.State)
			assert.ErrorIs(t, st.Err, wake.ErrAddrInUse)
			assert.Zero(t, st.ColdStarts, "the unit's process was started")
			assert.Zero(t, starts.Load(), "Command was called")
			assert.Zero(t, st.Pid)
			assert.Zero(t, requests.Load(), "the probe asked the stray server")
			evs := u.Events()
			require.NotEmpty(t, evs)
			assert.Equal(t, wake.EventError, evs[len(evs)-1].Kind)
			assert.Contains(t, evs[len(evs)-1].Message, stray)
		})
	}
}

// TestAddrFreedThenWakes: once the other program left the address, the
// next wake starts the unit's own process, which serves.
func TestAddrFreedThenWakes(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	u, err := g.Add(wake.Spec{ID: "web", Command: helperCommand("http", nil, "WAKE_ADDR="+addr), Upstream: addr})
	require.NoError(t, err)
	require.ErrorIs(t, u.Wake(t.Context()), wake.ErrAddrInUse)
	require.NoError(t, ln.Close())
	require.NoError(t, u.Wake(t.Context()))
	code, body := get(t, "http://"+addr+"/")
	assert.Equal(t, 200, code)
	assert.Equal(t, u.Status().Pid, pidOf(t, body), "served by another process than the unit's")
}

// TestFrontsAnswerAddrInUse: the HTTP front answers a wake refused for
// an address in use 502 with a JSON error naming the address, a browser
// gets the loading page whose event stream ends in the error, and the
// TCP front closes the connection; no request reaches the stray server.
func TestFrontsAnswerAddrInUse(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	stray, requests := strayServer(t)
	u, err := g.Add(wake.Spec{ID: "web", Command: helperCommand("http", nil, "WAKE_ADDR="+stray), Upstream: stray, Probe: wake.HTTPProbe("/")})
	require.NoError(t, err)
	srv := httptest.NewServer(u.Handler(wake.ProxyOptions{EventDetails: true}))
	t.Cleanup(srv.Close)

	code, page := get(t, srv.URL+"/", "Accept", "text/html")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, page, "<title>Waking web…</title>")
	evs := readEvents(t, srv.URL+wake.DefaultEventsPath+"?unit=web")
	require.NotEmpty(t, evs)
	last := evs[len(evs)-1]
	assert.Equal(t, wake.EventError, last.Kind)
	assert.Contains(t, last.Message, wake.ErrAddrInUse.Error())
	assert.Contains(t, last.Message, stray)

	code, body := get(t, srv.URL+"/api")
	assert.Equal(t, http.StatusBadGateway, code, body)
	msg, errCode := jsonError(t, body)
	assert.Equal(t, "wake_failed", errCode)
	assert.Contains(t, msg, wake.ErrAddrInUse.Error())
	assert.Contains(t, msg, stray)

	_, conn, stop := serveTCP(t, u)
	_, err = io.WriteString(conn, "GET / HTTP/1.0\r\n\r\n")
	require.NoError(t, err)
	got, err := io.ReadAll(conn)
	if err != nil { // closed with the request unread
		require.ErrorIs(t, err, syscall.ECONNRESET)
	}
	conn.Close()
	assert.Empty(t, string(got), "the TCP front spliced the connection to the stray server")
	stop()

	assert.Zero(t, requests.Load(), "a request reached the stray server")
	assert.Zero(t, u.Status().ColdStarts)
}

// TestExitedByTheTimeTheProbePasses: a probe that passes only once the
// process has exited does not make the unit ready: the wake fails with
// ErrExitedBeforeReady, the exit status and the end of the output.
// Before, the unit was ready with no process, and went asleep at once.
func TestExitedByTheTimeTheProbePasses(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	afterExit := wake.FuncProbe(func(ctx context.Context, s *processes.Session) error {
		select {
		case <-s.Done():
			return nil // as a probe answered by another program would
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	u, err := g.Add(wake.Spec{
		ID:      "web",
		Command: shCommand("echo 'Traceback (most recent call last):' >&2; echo 'OSError: [Errno 98] Address already in use' >&2; exit 1", nil),
		Probe:   afterExit,
	})
	require.NoError(t, err)
	err = u.Wake(t.Context())
	require.ErrorIs(t, err, wake.ErrExitedBeforeReady)
	assert.Contains(t, err.Error(), "exit status 1")
	assert.Contains(t, err.Error(), "OSError: [Errno 98] Address already in use")
	st := u.Status()
	assert.Equal(t, wake.Failed, st.State)
	assert.Zero(t, st.Pid)
	evs := u.Events()
	require.NotEmpty(t, evs)
	assert.NotContains(t, kinds(evs), wake.EventReady)
	assert.Equal(t, wake.EventError, evs[len(evs)-1].Kind)
}

// TestExitedBeforeReadyQuotesTheOutput: a program that exits before its
// probe passes fails the wake with its exit status and the end of what
// it printed, so that the reason shows where the error does.
func TestExitedBeforeReadyQuotesTheOutput(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	u, err := g.Add(wake.Spec{
		ID:       "web",
		Command:  shCommand("i=0; while [ $i -lt 200 ]; do echo line $i; i=$((i+1)); done; echo 'listen: address already in use' >&2; exit 1", nil),
		Upstream: freeAddr(t),
	})
	require.NoError(t, err)
	err = u.Wake(t.Context())
	require.ErrorIs(t, err, wake.ErrExitedBeforeReady)
	assert.Contains(t, err.Error(), `exit status 1; stderr ends: "listen: address already in use"; stdout ends: "`)
	assert.Contains(t, err.Error(), `line 199"`)
	assert.NotContains(t, err.Error(), "line 1\\n", "more than the end of the output")
	assert.Less(t, len(err.Error()), 2*512+200)
}
