//go:build linux

package wake_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/wake"
)

// halfCloseBound is the HalfCloseTimeout of the tests' units.
const halfCloseBound = 30 * time.Second

// halfCloseUnit adds a unit running the helper in mode ("halfclose", or
// "http" for its /halfclose upgrade) with halfCloseBound, an idle
// timeout of a minute, on the mock clock c.
func halfCloseUnit(t *testing.T, c *clock.Mock, mode string) (*wake.Group, *wake.Unit) {
	t.Helper()
	m := newManager(t, processes.WithClock(c))
	g := newGroup(t, m, wake.WithSweepInterval(time.Hour))
	addr := freeAddr(t)
	u, err := g.Add(wake.Spec{
		ID:               "peer",
		Command:          helperCommand(mode, nil, "WAKE_ADDR="+addr),
		Upstream:         addr,
		IdleTimeout:      time.Minute,
		HalfCloseTimeout: halfCloseBound,
	})
	require.NoError(t, err)
	return g, u
}

// waitOutput waits until the output of u's process contains want.
func waitOutput(t *testing.T, u *wake.Unit, want string) {
	t.Helper()
	s := u.Session()
	require.NotNil(t, s)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	out := ""
	for since := 0; !strings.Contains(out, want); {
		for _, c := range s.Output(since).Chunks {
			out += string(c.Data)
			since = c.Seq
		}
		if !strings.Contains(out, want) {
			require.NoError(t, s.WaitOutput(ctx, since), "waiting for %q in %q", want, out)
		}
	}
}

// halfClose runs the client's side of one case of the half-close tests
// on conn, a connection to the helper's halfOpen through a front, and
// returns once the front has closed it: upstreamEnds has the upstream
// half-close its side and the client go on sending, which the upstream
// reads, for a while; otherwise the client half-closes and the
// upstream, after one line, stays silent.
func halfClose(t *testing.T, c *clock.Mock, u *wake.Unit, conn net.Conn, br *bufio.Reader, upstreamEnds bool) {
	t.Helper()
	if upstreamEnds {
		_, err := io.WriteString(conn, "close\n")
		require.NoError(t, err)
		_, err = br.ReadByte()
		require.ErrorIs(t, err, io.EOF, "the upstream's end was not passed on")

		c.Add(halfCloseBound / 2)
		_, err = io.WriteString(conn, "more\n")
		require.NoError(t, err)
		waitOutput(t, u, "got more")
		c.Add(halfCloseBound / 2)
		assert.Equal(t, 1, u.Status().Holds, "closed while the open direction carried bytes")
		c.Add(halfCloseBound / 2)
	} else {
		_, err := io.WriteString(conn, "hello\n")
		require.NoError(t, err)
		require.NoError(t, conn.(*net.TCPConn).CloseWrite())
		line, err := br.ReadString('\n')
		require.NoError(t, err, "the client's end was not passed on")
		assert.Equal(t, "eof\n", line)

		c.Add(halfCloseBound - time.Nanosecond)
		assert.Equal(t, 1, u.Status().Holds, "closed before the bound")
		// The front arms the bound when it sees the client's end, which
		// may be after the Add above: step the clock until it closes.
		require.Eventually(t, func() bool {
			if u.Status().Holds == 0 {
				return true
			}
			c.Add(halfCloseBound / 4)
			return false
		}, 20*time.Second, 5*time.Millisecond, "the half-closed connection still holds the unit")
		_, err = br.ReadByte()
		assert.ErrorIs(t, err, io.EOF, "the front did not close the connection")
	}
	require.Eventually(t, func() bool { return u.Status().Holds == 0 }, 20*time.Second, time.Millisecond,
		"the half-closed connection still holds the unit")
}

var halfCloseCases = []struct {
	name         string
	upstreamEnds bool
}{
	{"upstream ended", true},
	{"client ended", false},
}

// TestServeTCPBoundsHalfClosedConnections: once one direction of a
// connection through the TCP front has ended (the upstream's, passed on
// as a half-close to the client, or the client's), and the other has
// carried nothing for the unit's HalfCloseTimeout on the Manager's clock,
// the front closes the connection and releases its hold, so that the
// unit sleeps although the peer never closes its side. Bytes on the
// open direction keep it open.
func TestServeTCPBoundsHalfClosedConnections(t *testing.T) {
	for _, tt := range halfCloseCases {
		t.Run(tt.name, func(t *testing.T) {
			c := clock.NewMock()
			g, u := halfCloseUnit(t, c, "halfclose")
			assert.Equal(t, halfCloseBound, u.Spec().HalfCloseTimeout)
			_, conn, stop := serveTCP(t, u)
			defer stop()
			defer conn.Close()
			require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second))) // fail rather than hang

			halfClose(t, c, u, conn, bufio.NewReader(conn), tt.upstreamEnds)
			// The close is stamped as activity; the clock may have been
			// stepped once past it before the hold was seen released.
			assert.WithinRange(t, u.Status().LastActivity, c.Now().Add(-halfCloseBound/4), c.Now(), "the end of the connection is activity")
			c.Add(time.Minute + time.Nanosecond)
			g.Sweep()
			assert.Equal(t, wake.Asleep, u.State())
		})
	}
}

// TestUpgradedConnectionBoundOnceHalfClosed: the same bound holds for a
// connection upgraded through the HTTP front (a WebSocket's), which
// httputil.ReverseProxy splices.
func TestUpgradedConnectionBoundOnceHalfClosed(t *testing.T) {
	for _, tt := range halfCloseCases {
		t.Run(tt.name, func(t *testing.T) {
			c := clock.NewMock()
			g, u := halfCloseUnit(t, c, "http")
			srv := httptest.NewServer(u.Handler(wake.ProxyOptions{}))
			t.Cleanup(srv.Close)
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			require.NoError(t, err)
			defer conn.Close()
			require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second))) // fail rather than hang
			_, err = io.WriteString(conn, "GET /halfclose HTTP/1.1\r\nHost: peer\r\nUpgrade: halfclose\r\nConnection: Upgrade\r\n\r\n")
			require.NoError(t, err)
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			require.NoError(t, err)
			require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)

			halfClose(t, c, u, conn, br, tt.upstreamEnds)
			c.Add(time.Minute + time.Nanosecond)
			g.Sweep()
			assert.Equal(t, wake.Asleep, u.State())
		})
	}
}

// TestDefaultHalfCloseTimeout: a zero HalfCloseTimeout is
// DefaultHalfCloseTimeout; a negative one stays, and bounds nothing.
func TestDefaultHalfCloseTimeout(t *testing.T) {
	g := newGroup(t, newManager(t))
	for _, tt := range []struct {
		name string
		in   time.Duration
		want time.Duration
	}{
		{"zero", 0, wake.DefaultHalfCloseTimeout},
		{"negative", -1, -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u, err := g.Add(wake.Spec{ID: tt.name, Command: noCommand, HalfCloseTimeout: tt.in})
			require.NoError(t, err)
			assert.Equal(t, tt.want, u.Spec().HalfCloseTimeout)
		})
	}
}
