package fleet_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/fleet"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

// TestGatewayServesTheAPI: through the gateway, the unchanged
// httpapi.Client starts sessions (placed least loaded), follows them to
// their exit with every byte, reads their status and list, and deletes
// them, which releases their seat.
func TestGatewayServesTheAPI(t *testing.T) {
	f := newFleet(t, nil)
	startHost(t, f.st, "h1", 2, nil, nil)
	startHost(t, f.st, "h2", 4, nil, nil)
	ctx := t.Context()

	var ids []string
	for i := range 3 {
		st, err := f.client.Start(ctx, httpapi.StartRequest{Argv: []string{"sh", "-c", fmt.Sprintf("printf 'line %d\\n'; exit %d", i, i+3)}})
		require.NoError(t, err, "start %d", i)
		ids = append(ids, st.ID)
	}
	for i, id := range ids {
		var got strings.Builder
		exit, err := f.client.Follow(ctx, id, 0, func(o processes.Output) error {
			for _, c := range o.Chunks {
				got.Write(c.Data)
			}
			return nil
		})
		require.NoError(t, err)
		assert.Equal(t, i+3, exit, "got exit %d of session %d", exit, i)
		assert.Equal(t, fmt.Sprintf("line %d\n", i), got.String())
	}
	// Least loaded: h1 (capacity 2) got one of three, h2 (4) two.
	for _, tt := range []struct {
		host string
		want int
	}{{"h1", 1}, {"h2", 2}} {
		recs, err := f.st.Sessions(ctx, fleet.SessionFilter{HostID: tt.host})
		require.NoError(t, err)
		assert.Len(t, recs, tt.want, "sessions on %s", tt.host)
	}
	st, err := f.client.Status(ctx, ids[0])
	require.NoError(t, err)
	assert.Equal(t, ids[0], st.ID)
	list, err := f.client.List(ctx)
	require.NoError(t, err)
	assert.Len(t, list, 3, "got the merged list of both hosts")

	require.NoError(t, f.client.Delete(ctx, ids[0]))
	rec, err := f.st.Session(ctx, ids[0])
	require.NoError(t, err)
	assert.Equal(t, fleet.SessionTerminated, rec.State)
	_, err = f.client.Status(ctx, ids[0])
	assert.ErrorIs(t, err, processes.ErrNotFound, "got a deleted session")
	_, err = f.client.Status(ctx, "nope")
	assert.ErrorIs(t, err, processes.ErrNotFound)
}

// TestGatewayStartErrors: a start refused by the host answers as the
// host did, and frees the seat; a full fleet answers 503 "no_agent"; a
// taken ID 409.
func TestGatewayStartErrors(t *testing.T) {
	f := newFleet(t, nil)
	startHost(t, f.st, "h1", 1, nil, nil)
	ctx := t.Context()

	_, err := f.client.Start(ctx, httpapi.StartRequest{Argv: []string{"/nonexistent/program"}})
	require.ErrorIs(t, err, httpapi.ErrStartFailed, "got %v", err)
	h, err := f.st.Host(ctx, "h1")
	require.NoError(t, err)
	assert.Zero(t, h.Seats, "a failed start kept its seat")

	// An ID no URL can name is refused before anything is placed.
	var ae *httpapi.APIError
	for _, id := range []string{".", ".."} {
		_, err = f.client.Start(ctx, httpapi.StartRequest{ID: id, Argv: []string{"cat"}})
		require.ErrorAs(t, err, &ae, "id %q", id)
		assert.Equal(t, http.StatusBadRequest, ae.Status, "id %q", id)
	}
	h, err = f.st.Host(ctx, "h1")
	require.NoError(t, err)
	assert.Zero(t, h.Seats, "a refused ID took a seat")

	_, err = f.client.Start(ctx, httpapi.StartRequest{ID: "a", Argv: []string{"cat"}})
	require.NoError(t, err)
	_, err = f.client.Start(ctx, httpapi.StartRequest{ID: "a", Argv: []string{"cat"}})
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusConflict, ae.Status)
	_, err = f.client.Start(ctx, httpapi.StartRequest{ID: "b", Argv: []string{"cat"}})
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusServiceUnavailable, ae.Status)
	assert.Equal(t, fleet.CodeNoAgent, ae.Code)
	require.NoError(t, f.client.Delete(ctx, "a"))
}

// TestGatewayScopesWorkspaces: with Authorize, each workspace has IDs of
// its own, and another's session answers 404.
func TestGatewayScopesWorkspaces(t *testing.T) {
	auth := func(r *http.Request) (string, error) {
		ws := r.Header.Get("X-Workspace")
		if ws == "" {
			return "", errors.New("no workspace")
		}
		return ws, nil
	}
	f := newFleet(t, auth)
	startHost(t, f.st, "h1", 4, auth, nil)
	ctx := t.Context()
	a := httpapi.NewClient(f.srv.URL+httpapi.DefaultPrefix, f.hc)
	a.Header = http.Header{"X-Workspace": {"alice"}}
	b := httpapi.NewClient(f.srv.URL+httpapi.DefaultPrefix, f.hc)
	b.Header = http.Header{"X-Workspace": {"bob"}}

	sa, err := a.Start(ctx, httpapi.StartRequest{ID: "build", Argv: []string{"cat"}})
	require.NoError(t, err)
	assert.Equal(t, "build", sa.ID)
	assert.Equal(t, "alice", sa.WorkspaceID)
	_, err = b.Status(ctx, "build")
	assert.ErrorIs(t, err, processes.ErrNotFound, "bob sees alice's session")
	sb, err := b.Start(ctx, httpapi.StartRequest{ID: "build", Argv: []string{"cat"}})
	require.NoError(t, err, "bob may have a build of his own")
	assert.Equal(t, "bob", sb.WorkspaceID)
	_, err = f.st.Session(ctx, httpapi.ScopedID("alice", "build"))
	require.NoError(t, err)
	nobody := httpapi.NewClient(f.srv.URL+httpapi.DefaultPrefix, f.hc)
	_, err = nobody.Status(ctx, "build")
	var ae *httpapi.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusUnauthorized, ae.Status)
}

// TestGatewayStreams: event streams and WebSocket attachments pass
// through the gateway as they come, not buffered.
func TestGatewayStreams(t *testing.T) {
	f := newFleet(t, nil)
	startHost(t, f.st, "h1", 4, nil, nil)
	ctx := t.Context()
	_, err := f.client.Start(ctx, httpapi.StartRequest{ID: "cat", Argv: []string{"cat"}})
	require.NoError(t, err)

	// SSE: the stream's first output event arrives while the process
	// still runs (it is cat, waiting for more input).
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+httpapi.DefaultPrefix+"/cat/events", nil)
	require.NoError(t, err)
	resp, err := f.hc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, f.client.Stdin(ctx, "cat", []byte("ping\n")))
	sc := bufio.NewScanner(resp.Body)
	sawOutput := false
	for !sawOutput && sc.Scan() {
		sawOutput = sc.Text() == "event: output"
	}
	require.True(t, sawOutput, "no output event through the gateway: %v", sc.Err())

	// WebSocket: keystrokes in, output out, through the proxy.
	ws, _, err := websocket.Dial(ctx, strings.Replace(f.srv.URL, "http", "ws", 1)+httpapi.DefaultPrefix+"/cat/attach", &websocket.DialOptions{HTTPClient: f.hc})
	require.NoError(t, err)
	defer ws.CloseNow()
	require.NoError(t, ws.Write(ctx, websocket.MessageBinary, []byte("pong\n")))
	var got strings.Builder
	for !strings.Contains(got.String(), "pong\n") {
		typ, p, err := ws.Read(ctx)
		require.NoError(t, err)
		if typ == websocket.MessageBinary {
			got.Write(p)
		}
	}
	assert.Equal(t, "ping\npong\n", got.String())
	require.NoError(t, ws.Close(websocket.StatusNormalClosure, ""))
	require.NoError(t, f.client.Delete(ctx, "cat"))
}

// TestGatewayLostSessionIs410: a session whose host is gone answers 410
// "lost" with the reason, which the Client reports as processes.ErrClosed.
func TestGatewayLostSessionIs410(t *testing.T) {
	f := newFleet(t, nil)
	h := startHost(t, f.st, "h1", 4, nil, nil)
	ctx := t.Context()
	_, err := f.client.Start(ctx, httpapi.StartRequest{ID: "s", Argv: []string{"cat"}})
	require.NoError(t, err)
	h.stop()
	var ae *httpapi.APIError
	_, err = f.client.Status(ctx, "s")
	require.ErrorAs(t, err, &ae, "a session on a stopped host, not yet marked")
	assert.Equal(t, http.StatusBadGateway, ae.Status, "got %v before the reconciler's verdict", err)

	done, err := f.st.Transition(ctx, "s", nil, fleet.SessionLost, "fleet: host h1 is gone", time.Now())
	require.NoError(t, err)
	require.True(t, done)
	_, err = f.client.Status(ctx, "s")
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusGone, ae.Status)
	assert.Equal(t, fleet.CodeLost, ae.Code)
	assert.Contains(t, ae.Message, "host h1 is gone")
	assert.ErrorIs(t, err, processes.ErrClosed)
	_, err = f.client.Follow(ctx, "s", 0, func(processes.Output) error { return nil })
	assert.ErrorIs(t, err, processes.ErrClosed, "Follow of a lost session")
}

// TestGatewayRefusesCrossOriginStarts: a browser's cross-origin POST / is
// refused before anything is placed.
func TestGatewayRefusesCrossOriginStarts(t *testing.T) {
	f := newFleet(t, nil)
	startHost(t, f.st, "h1", 1, nil, nil)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, f.srv.URL+httpapi.DefaultPrefix+"/", strings.NewReader(`{"argv":["true"]}`))
	require.NoError(t, err)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := f.hc.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	recs, err := f.st.Sessions(t.Context(), fleet.SessionFilter{})
	require.NoError(t, err)
	assert.Empty(t, recs, "a refused start was placed")
}

// TestGatewaySameOriginThroughTheProxy: a browser page served by the
// gateway's origin attaches by WebSocket and deletes its session through
// the gateway: the host, which checks the Origin against the request's
// Host, sees the gateway's host, not its own address.
func TestGatewaySameOriginThroughTheProxy(t *testing.T) {
	f := newFleet(t, nil)
	startHost(t, f.st, "h1", 4, nil, nil)
	ctx := t.Context()
	browser := httpapi.NewClient(f.srv.URL+httpapi.DefaultPrefix, f.hc)
	browser.Header = http.Header{"Origin": {f.srv.URL}} // no Sec-Fetch-Site: an older browser
	_, err := browser.Start(ctx, httpapi.StartRequest{ID: "cat", Argv: []string{"cat"}})
	require.NoError(t, err, "a same-origin start through the gateway")

	ws, resp, err := websocket.Dial(ctx, strings.Replace(f.srv.URL, "http", "ws", 1)+httpapi.DefaultPrefix+"/cat/attach",
		&websocket.DialOptions{HTTPClient: f.hc, HTTPHeader: http.Header{"Origin": {f.srv.URL}}})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	require.NoError(t, err, "a same-origin attachment through the gateway")
	require.NoError(t, ws.Close(websocket.StatusNormalClosure, ""))

	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, f.srv.URL+httpapi.DefaultPrefix+"/cat", nil)
	require.NoError(t, err)
	req.Header.Set("Origin", f.srv.URL) // no Sec-Fetch-Site: an older browser
	resp, err = f.hc.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNoContent, resp.StatusCode, "a same-origin DELETE through the gateway")

	// A cross-origin attachment is still refused, by the host.
	_, resp, err = websocket.Dial(ctx, strings.Replace(f.srv.URL, "http", "ws", 1)+httpapi.DefaultPrefix+"/cat/attach",
		&websocket.DialOptions{HTTPClient: f.hc, HTTPHeader: http.Header{"Origin": {"https://evil.example"}}})
	require.Error(t, err)
	if assert.NotNil(t, resp) {
		if resp.Body != nil {
			resp.Body.Close()
		}
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	}
}

// TestGatewayCloseAnswersWaitingStarts: a start waiting for its host when
// the gateway closes answers 503, as Close says, and is not left to the
// StartTimeout.
func TestGatewayCloseAnswersWaitingStarts(t *testing.T) {
	f := newFleet(t, nil)
	ctx := t.Context()
	// A host registered but without an agent: nobody claims the start.
	require.NoError(t, f.st.RegisterHost(ctx, fleet.Host{ID: "h1", Capacity: 1, Addr: "http://127.0.0.1:1", Connected: true}, time.Now()))
	sub, err := f.st.Subscribe(ctx, fleet.HostTopic("h1"))
	require.NoError(t, err)
	defer sub.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := f.client.Start(ctx, httpapi.StartRequest{ID: "s", Argv: []string{"true"}})
		errc <- err
	}()
	proctest.Recv(t, sub.C())
	require.NoError(t, f.gw.Close())
	err = <-errc
	var ae *httpapi.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusServiceUnavailable, ae.Status, "got %v", err)
}

// TestGatewayLargeAndSmallAnswers: JSON answers, pages longer than the
// gateway's copy buffer and small ones, pass through it intact and with
// the length the host gave them.
func TestGatewayLargeAndSmallAnswers(t *testing.T) {
	f := newFleet(t, nil)
	startHost(t, f.st, "h1", 4, nil, nil)
	ctx := t.Context()
	const n = 300_000
	_, err := f.client.Start(ctx, httpapi.StartRequest{ID: "big", Argv: []string{"sh", "-c", fmt.Sprintf("yes abcdefgh | head -c %d", n)}})
	require.NoError(t, err)
	var got strings.Builder
	exit, err := f.client.Follow(ctx, "big", 0, func(o processes.Output) error {
		for _, c := range o.Chunks {
			got.Write(c.Data)
		}
		return nil
	})
	require.NoError(t, err)
	assert.Zero(t, exit)
	assert.Equal(t, strings.Repeat("abcdefgh\n", n/9+1)[:n], got.String())

	resp, err := f.hc.Get(f.srv.URL + httpapi.DefaultPrefix + "/big")
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Positive(t, resp.ContentLength, "a small JSON answer has its length")
	assert.Empty(t, resp.TransferEncoding)
}

// TestGatewayStartDropsHopByHopHeaders: the start a host serves carries
// the client's end-to-end headers, not those meant for the gateway
// alone: the ones its Connection header names and the proxy
// credentials.
func TestGatewayStartDropsHopByHopHeaders(t *testing.T) {
	var mu sync.Mutex
	var seen []http.Header
	auth := func(r *http.Request) (string, error) {
		if r.Method == http.MethodPost {
			mu.Lock()
			seen = append(seen, r.Header.Clone())
			mu.Unlock()
		}
		return "w", nil
	}
	f := newFleet(t, auth)
	startHost(t, f.st, "h1", 1, auth, nil)
	c := httpapi.NewClient(f.srv.URL+httpapi.DefaultPrefix, f.hc)
	c.Header = http.Header{
		"Connection":          {"X-Gateway-Only"},
		"X-Gateway-Only":      {"secret"},
		"Proxy-Authorization": {"Basic Z2F0ZXdheTpvbmx5"},
		"X-End-To-End":        {"kept"},
	}
	_, err := c.Start(t.Context(), httpapi.StartRequest{ID: "s", Argv: []string{"true"}})
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, 2, "the gateway's and the host's Authorize")
	host := seen[1]
	assert.Equal(t, "kept", host.Get("X-End-To-End"))
	assert.Empty(t, host.Values("X-Gateway-Only"), "a header the Connection header names")
	assert.Empty(t, host.Values("Proxy-Authorization"))
}

// TestGatewaySessionPaths: session routes are split as the mux splits
// them: escaped slashes stay in the ID, paths that are not clean are
// redirected to their clean form (as the mux does), and {sid}/ is the session's route
// with an empty rest.
func TestGatewaySessionPaths(t *testing.T) {
	f := newFleet(t, nil)
	startHost(t, f.st, "h1", 4, nil, nil)
	ctx := t.Context()
	_, err := f.client.Start(ctx, httpapi.StartRequest{ID: "a", Argv: []string{"cat"}})
	require.NoError(t, err)
	hc := &http.Client{Transport: f.hc.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := f.srv.URL + httpapi.DefaultPrefix
	for _, tt := range []struct {
		name, path string
		want       int
	}{
		{"status", "/a", http.StatusOK},
		{"output", "/a/output?since=0", http.StatusOK},
		{"escaped slash in the ID", "/a%2Fb/output", http.StatusNotFound},
		{"not clean", "/x/../a/output", http.StatusTemporaryRedirect},
		{"double slash", "//a/output", http.StatusTemporaryRedirect},
		{"unknown", "/nope/output", http.StatusNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+tt.path, nil)
			require.NoError(t, err)
			resp, err := hc.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, tt.want, resp.StatusCode, "GET %s", tt.path)
		})
	}
	require.NoError(t, f.client.Delete(ctx, "a"))
}

// TestGatewayClosedPlacesNothing: a start that reaches a closed gateway
// answers 503 before anything is placed or dispatched, so that nothing
// starts behind an error.
func TestGatewayClosedPlacesNothing(t *testing.T) {
	f := newFleet(t, nil)
	startHost(t, f.st, "h1", 1, nil, nil)
	require.NoError(t, f.gw.Close())
	_, err := f.client.Start(t.Context(), httpapi.StartRequest{ID: "late", Argv: []string{"true"}})
	var ae *httpapi.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusServiceUnavailable, ae.Status)
	recs, err := f.st.Sessions(t.Context(), fleet.SessionFilter{})
	require.NoError(t, err)
	assert.Empty(t, recs, "a start refused by a closed gateway was placed")
	cmds, err := f.st.Commands(t.Context(), fleet.CommandFilter{})
	require.NoError(t, err)
	assert.Empty(t, cmds, "a start refused by a closed gateway was dispatched")
}

// TestGatewayCrossOriginDeleteChangesNothing: a browser's cross-origin
// DELETE of a session is refused, and leaves its record as it was: a
// record marked terminating by a refused DELETE would get a forget from
// the reconciler, which would kill the session after all.
func TestGatewayCrossOriginDeleteChangesNothing(t *testing.T) {
	f := newFleet(t, nil)
	startHost(t, f.st, "h1", 1, nil, nil)
	ctx := t.Context()
	_, err := f.client.Start(ctx, httpapi.StartRequest{ID: "s", Argv: []string{"cat"}})
	require.NoError(t, err)
	for _, method := range []string{http.MethodDelete, http.MethodPost} {
		path := "/s"
		if method == http.MethodPost {
			path = "/s/signal?signal=KILL"
		}
		req, err := http.NewRequestWithContext(ctx, method, f.srv.URL+httpapi.DefaultPrefix+path, nil)
		require.NoError(t, err)
		req.Header.Set("Origin", "https://evil.example")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err := f.hc.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, "%s %s", method, path)
	}
	rec, err := f.st.Session(ctx, "s")
	require.NoError(t, err)
	assert.Equal(t, fleet.SessionRunning, rec.State, "after refused cross-origin requests")
	st, err := f.client.Status(ctx, "s")
	require.NoError(t, err)
	assert.True(t, st.Alive)
	require.NoError(t, f.client.Delete(ctx, "s"))
}

// silentDone is a Store whose DoneTopic subscription delivers nothing,
// as when every notification is dropped (a slow receiver, a connection
// lost): the gateway learns of completions by its fallback poll only.
type silentDone struct{ fleet.Store }

type silentSub struct {
	ch   chan string
	once sync.Once
}

func (s *silentSub) C() <-chan string { return s.ch }
func (s *silentSub) Close() error     { s.once.Do(func() { close(s.ch) }); return nil }

func (silentDone) Subscribe(context.Context, fleet.Topic) (fleet.Subscription, error) {
	return &silentSub{ch: make(chan string)}, nil
}

// TestGatewayStartLeavesNoWaiter: a start whose completion the gateway
// learned by polling, its notification lost, leaves no waiter behind
// (each one held its command's ID for the gateway's life).
func TestGatewayStartLeavesNoWaiter(t *testing.T) {
	ctx := t.Context()
	st := fleet.NewMemoryStore()
	startHost(t, st, "h1", 4, nil, nil)
	disp := fleet.NewCommandDispatcher(st, fleet.DispatcherOptions{})
	go disp.Start()
	t.Cleanup(disp.Stop)
	clk := clock.NewMock()
	clk.Set(time.Now())
	gw, err := fleet.NewGateway(ctx, silentDone{st}, fleet.NewAgentSelector(st, fleet.SelectorOptions{}), disp, fleet.GatewayOptions{Clock: clk})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, gw.Close()) })
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	c := httpapi.NewClient(srv.URL+httpapi.DefaultPrefix, srv.Client())
	done, err := st.Subscribe(ctx, fleet.DoneTopic)
	require.NoError(t, err)
	defer done.Close()

	for i := range 3 {
		errc := make(chan error, 1)
		go func() {
			_, err := c.Start(ctx, httpapi.StartRequest{ID: fmt.Sprint("s", i), Argv: []string{"true"}})
			errc <- err
		}()
		proctest.Recv(t, done.C()) // completed; the gateway was not told
		// Step the gateway's poll until it answers.
		for answered := false; !answered; {
			select {
			case err := <-errc:
				require.NoError(t, err, "start %d", i)
				answered = true
			default:
				clk.Add(time.Second)
			}
		}
	}
	assert.Zero(t, gw.Waiters(), "waiters left by starts that completed")
}

// TestGatewayOddText: an ID, a workspace or a criterion that no Store
// can hold (a NUL byte, invalid UTF-8) is a client's error, not the
// gateway's: a start answers 400 and places nothing, a criterion no host
// matches 503 "no_agent", a session route 404; never 500.
func TestGatewayOddText(t *testing.T) {
	authorize := func(r *http.Request) (string, error) { return url.QueryUnescape(r.Header.Get("X-Workspace")) }
	f := newFleet(t, authorize)
	startHost(t, f.st, "h1", 4, authorize, nil)
	checkOddText(t, f.srv.URL+httpapi.DefaultPrefix, f.hc)
	h, err := f.st.Host(t.Context(), "h1")
	require.NoError(t, err)
	assert.Zero(t, h.Seats, "seats taken by refused starts")
}

// checkOddText sends the gateway at base the requests of
// TestGatewayOddText; its Authorize takes the workspace from the header
// X-Workspace, query-unescaped.
func checkOddText(t *testing.T, base string, hc *http.Client) {
	t.Helper()
	do := func(method, path, ws, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, base+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Workspace", ws)
		resp, err := hc.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var e struct{ Code string }
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e.Code
	}
	for _, tt := range []struct {
		name, method, path, ws, body string
		status                       int
		code                         string
	}{
		{"start of an ID with a NUL byte", "POST", "/", "", `{"id":"a\u0000b","argv":["true"]}`, http.StatusBadRequest, httpapi.CodeBadRequest},
		{"start in a workspace with a NUL byte", "POST", "/", "w%00", `{"id":"a","argv":["true"]}`, http.StatusBadRequest, httpapi.CodeBadRequest},
		{"start in a workspace of invalid UTF-8", "POST", "/", "w%FF", `{"id":"a","argv":["true"]}`, http.StatusBadRequest, httpapi.CodeBadRequest},
		{"start in a region with a NUL byte", "POST", "/?region=%00", "", `{"argv":["true"]}`, http.StatusServiceUnavailable, fleet.CodeNoAgent},
		{"start on a platform of invalid UTF-8", "POST", "/?platform=%FF", "", `{"argv":["true"]}`, http.StatusServiceUnavailable, fleet.CodeNoAgent},
		{"status of an ID with a NUL byte", "GET", "/a%00b", "", "", http.StatusNotFound, httpapi.CodeNotFound},
		{"output of an ID of invalid UTF-8", "GET", "/a%FFb/output", "", "", http.StatusNotFound, httpapi.CodeNotFound},
		{"delete of an ID with a NUL byte", "DELETE", "/a%00b", "", "", http.StatusNotFound, httpapi.CodeNotFound},
		{"status in a workspace with a NUL byte", "GET", "/a", "w%00", "", http.StatusNotFound, httpapi.CodeNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, code := do(tt.method, tt.path, tt.ws, tt.body)
			assert.Equal(t, tt.status, status)
			assert.Equal(t, tt.code, code)
		})
	}
}

// TestGatewayStoppedDispatcherSaysStopped: a start whose dispatcher was
// stopped answers 503 "stopped", not "queue_full" (retrying soon does
// not help), and releases its seat.
func TestGatewayStoppedDispatcherSaysStopped(t *testing.T) {
	f := newFleet(t, nil)
	startHost(t, f.st, "h1", 1, nil, nil)
	f.disp.Stop()
	_, err := f.client.Start(t.Context(), httpapi.StartRequest{ID: "s", Argv: []string{"true"}})
	var ae *httpapi.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusServiceUnavailable, ae.Status)
	assert.Equal(t, fleet.CodeStopped, ae.Code)
	h, err := f.st.Host(t.Context(), "h1")
	require.NoError(t, err)
	assert.Zero(t, h.Seats, "a start not dispatched kept its seat")
}

// TestGatewayHostWithoutAUsableAddress: a session on a host whose
// address the gateway cannot proxy to (registered in the Store without
// an Agent, which refuses such an address) answers 502 naming the host,
// not 500.
func TestGatewayHostWithoutAUsableAddress(t *testing.T) {
	f := newFleet(t, nil)
	ctx := t.Context()
	for i, addr := range []string{"", "127.0.0.1:8080", "http://[::1"} {
		host, sid := fmt.Sprint("h", i), fmt.Sprint("s", i)
		require.NoError(t, f.st.RegisterHost(ctx, fleet.Host{ID: host, Region: host, Capacity: 1, Addr: addr}, time.Now()))
		_, err := f.st.Place(ctx, fleet.Placement{SessionID: sid, Criteria: &fleet.SelectionCriteria{Region: host}, Now: time.Now(), TTL: time.Minute})
		require.NoError(t, err)
		_, err = f.client.Status(ctx, sid)
		var ae *httpapi.APIError
		require.ErrorAs(t, err, &ae, "address %q", addr)
		assert.Equal(t, http.StatusBadGateway, ae.Status, "address %q: %v", addr, err)
		assert.Equal(t, fleet.CodeBadGateway, ae.Code, "address %q", addr)
		assert.Contains(t, ae.Message, host, "address %q", addr)
	}
}

// TestGatewayDeleteOfAnotherRouteKeepsTheSession: a DELETE of a path
// under a session that is not the session's route ({sid}/, with a
// trailing slash), which its host answers 404, leaves the session's
// record as it was: it marked the record terminating, and the reconciler
// would then have forgotten the session on its host. A DELETE of an ID
// that ends in an escaped slash is the session's route.
func TestGatewayDeleteOfAnotherRouteKeepsTheSession(t *testing.T) {
	f := newFleet(t, nil)
	startHost(t, f.st, "h1", 4, nil, nil)
	ctx := t.Context()
	for _, id := range []string{"a", "b/"} {
		_, err := f.client.Start(ctx, httpapi.StartRequest{ID: id, Argv: []string{"cat"}})
		require.NoError(t, err)
	}
	del := func(path string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodDelete, f.srv.URL+httpapi.DefaultPrefix+path, nil)
		require.NoError(t, err)
		resp, err := f.hc.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusNotFound, del("/a/"), "the host's answer to DELETE {sid}/")
	rec, err := f.st.Session(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, fleet.SessionRunning, rec.State, "the record after a DELETE of another route")

	assert.Equal(t, http.StatusNoContent, del("/b%2F"), "DELETE of the session b/")
	rec, err = f.st.Session(ctx, "b/")
	require.NoError(t, err)
	assert.Equal(t, fleet.SessionTerminated, rec.State)
	require.NoError(t, f.client.Delete(ctx, "a"))
}

// TestGatewayDeleteRefusedByTheHostKeepsTheSession: a DELETE that the
// session's host refuses (here a policy in front of its handler answers
// 403) leaves the session's record as it was before the gateway marked
// it terminating: the mark stayed, and the reconciler would have
// forgotten the session the host refused to end. A DELETE the host
// carries out still ends it.
func TestGatewayDeleteRefusedByTheHostKeepsTheSession(t *testing.T) {
	f := newFleet(t, nil)
	ctx := t.Context()
	m := processes.NewManager(0, processes.WithKillGrace(time.Second))
	t.Cleanup(func() { require.NoError(t, m.Shutdown(context.Background())) })
	h := httpapi.NewHandler(m, httpapi.Options{Start: allowAll.Start})
	var refuse atomic.Bool
	refuse.Store(true)
	policy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete && refuse.Load() {
			http.Error(w, `{"error":"not yours","code":"forbidden"}`, http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(policy)
	t.Cleanup(srv.Close)
	a, err := fleet.NewAgent(fleet.AgentOptions{Host: fleet.Host{ID: "h1", Capacity: 1, Addr: srv.URL}, Store: f.st, Manager: m, Handler: h})
	require.NoError(t, err)
	require.NoError(t, a.Register(ctx))
	actx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(actx) }()
	t.Cleanup(func() { cancel(); <-done })

	_, err = f.client.Start(ctx, httpapi.StartRequest{ID: "s", Argv: []string{"cat"}})
	require.NoError(t, err)
	err = f.client.Delete(ctx, "s")
	var ae *httpapi.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusForbidden, ae.Status)
	rec, err := f.st.Session(ctx, "s")
	require.NoError(t, err)
	assert.Equal(t, fleet.SessionRunning, rec.State, "the record after a DELETE its host refused")

	refuse.Store(false)
	require.NoError(t, f.client.Delete(ctx, "s"))
	rec, err = f.st.Session(ctx, "s")
	require.NoError(t, err)
	assert.Equal(t, fleet.SessionTerminated, rec.State)
}

// TestGatewayForwardingHeadersAreTheGateways: the host sees the same
// forwarding headers on a start as on a proxied request, set by the
// gateway from the client's connection: the X-Forwarded-* and Forwarded
// headers a client sends are dropped, as ReverseProxy drops them. A
// start carried them as the client wrote them, so a host that trusts
// its gateway's X-Forwarded-For let any client claim any address on the
// one route that runs commands.
func TestGatewayForwardingHeadersAreTheGateways(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]http.Header{} // by the host, per method
	hostAuth := func(r *http.Request) (string, error) {
		mu.Lock()
		seen[r.Method] = r.Header.Clone()
		mu.Unlock()
		return "w", nil
	}
	f := newFleet(t, func(*http.Request) (string, error) { return "w", nil })
	m := processes.NewManager(0, processes.WithKillGrace(time.Second))
	t.Cleanup(func() { require.NoError(t, m.Shutdown(context.Background())) })
	h := httpapi.NewHandler(m, httpapi.Options{Start: allowAll.Start, Authorize: hostAuth})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	a, err := fleet.NewAgent(fleet.AgentOptions{Host: fleet.Host{ID: "h1", Capacity: 1, Addr: srv.URL}, Store: f.st, Manager: m, Handler: h})
	require.NoError(t, err)
	require.NoError(t, a.Register(t.Context()))
	actx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(actx) }()
	t.Cleanup(func() { cancel(); <-done })

	c := httpapi.NewClient(f.srv.URL+httpapi.DefaultPrefix, f.hc)
	c.Header = http.Header{
		"X-Forwarded-For":   {"10.9.9.9"},
		"X-Forwarded-Host":  {"trusted.example"},
		"X-Forwarded-Proto": {"https"},
		"Forwarded":         {"for=10.9.9.9;proto=https"},
	}
	_, err = c.Start(t.Context(), httpapi.StartRequest{ID: "s", Argv: []string{"cat"}})
	require.NoError(t, err)
	_, err = c.Status(t.Context(), "s")
	require.NoError(t, err)
	require.NoError(t, c.Delete(t.Context(), "s"))

	mu.Lock()
	defer mu.Unlock()
	gwHost := strings.TrimPrefix(f.srv.URL, "http://")
	for _, method := range []string{http.MethodPost, http.MethodGet, http.MethodDelete} {
		got := seen[method]
		require.NotNil(t, got, "%s not seen by the host", method)
		assert.Equal(t, "127.0.0.1", got.Get("X-Forwarded-For"), "%s: X-Forwarded-For", method)
		assert.Equal(t, gwHost, got.Get("X-Forwarded-Host"), "%s: X-Forwarded-Host", method)
		assert.Equal(t, "http", got.Get("X-Forwarded-Proto"), "%s: X-Forwarded-Proto", method)
		assert.Empty(t, got.Values("Forwarded"), "%s: Forwarded", method)
	}
}

// TestGatewayListBoundsEachHostsAnswer: GET / reads at most MaxListBytes
// of each host's list; a host whose list is longer is left out, as a
// failing host is, and the others' lists are merged.
func TestGatewayListBoundsEachHostsAnswer(t *testing.T) {
	const limit = 4 << 10
	f := newFleetWith(t, fleet.GatewayOptions{MaxListBytes: limit, RouteCacheTTL: -1})
	startHost(t, f.st, "h1", 1, nil, nil)
	// h2 answers a list far longer than the limit.
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"sessions":[`))
		entry := []byte(`{"id":"` + strings.Repeat("x", 100) + `"}`)
		for i := range 10 * limit / len(entry) {
			if i > 0 {
				_, _ = w.Write([]byte(","))
			}
			if _, err := w.Write(entry); err != nil {
				return
			}
		}
		_, _ = w.Write([]byte(`]}`))
	}))
	t.Cleanup(big.Close)
	require.NoError(t, f.st.RegisterHost(t.Context(), fleet.Host{ID: "h2", Capacity: 1, Addr: big.URL}, time.Now()))

	_, err := f.client.Start(t.Context(), httpapi.StartRequest{ID: "s", Argv: []string{"cat"}})
	require.NoError(t, err)
	list, err := f.client.List(t.Context())
	require.NoError(t, err)
	require.Len(t, list, 1, "got h2's oversize list merged")
	assert.Equal(t, "s", list[0].ID)
}

// TestGatewayStartIsNoLocalCaller: a start that came through the fleet
// reaches the host's Authorize with RemoteAddr StartRemoteAddr, no
// address, and the client's in X-Forwarded-For: the agent served it as
// from "127.0.0.1:0", so that a host trusting loopback callers trusted
// every client of the gateway with the one route that runs commands.
func TestGatewayStartIsNoLocalCaller(t *testing.T) {
	var mu sync.Mutex
	var remote, forwardedFor string
	loopbackOnly := func(r *http.Request) (string, error) {
		if r.Method == http.MethodPost {
			mu.Lock()
			remote, forwardedFor = r.RemoteAddr, r.Header.Get("X-Forwarded-For")
			mu.Unlock()
		}
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return "", errors.New("not a local caller")
		}
		return "", nil
	}
	f := newFleet(t, nil)
	startHost(t, f.st, "h1", 1, loopbackOnly, nil)
	_, err := f.client.Start(t.Context(), httpapi.StartRequest{ID: "s", Argv: []string{"cat"}})
	var ae *httpapi.APIError
	require.ErrorAs(t, err, &ae, "a start through the fleet passed a loopback check")
	assert.Equal(t, http.StatusUnauthorized, ae.Status)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, fleet.StartRemoteAddr, remote)
	assert.Equal(t, "127.0.0.1", forwardedFor, "the client's address")
}

// commandLists is a Store that tells each Commands read on a channel
// (without blocking): a start of the gateway looks for the start of its
// session on its way.
type commandLists struct {
	fleet.Store
	reads chan struct{}
}

func (s commandLists) Commands(ctx context.Context, f fleet.CommandFilter) ([]fleet.Command, error) {
	select {
	case s.reads <- struct{}{}:
	default:
	}
	return s.Store.Commands(ctx, f)
}

// TestGatewayRetryOfAStartOnItsWay: the same start sent again while the
// first is on its way to a host that does not answer (the first client
// got 504, or left) waits for that start and answers what it answers,
// 201 once the host starts it, and nothing is started twice: it answered
// 409 until the reconciler gave the session up, though nothing but the
// client's own start held the ID.
func TestGatewayRetryOfAStartOnItsWay(t *testing.T) {
	st := fleet.NewMemoryStore()
	gst := commandLists{st, make(chan struct{}, 1)}
	sel := fleet.NewAgentSelector(st, fleet.SelectorOptions{})
	disp := fleet.NewCommandDispatcher(st, fleet.DispatcherOptions{})
	dispDone := make(chan struct{})
	go func() { defer close(dispDone); disp.Start() }()
	t.Cleanup(func() { disp.Stop(); <-dispDone })
	gw, err := fleet.NewGateway(t.Context(), gst, sel, disp, fleet.GatewayOptions{})
	require.NoError(t, err)
	srv := httptest.NewServer(gw)
	tr := &http.Transport{}
	t.Cleanup(func() { tr.CloseIdleConnections(); srv.Close(); require.NoError(t, gw.Close()) })
	client := httpapi.NewClient(srv.URL+httpapi.DefaultPrefix, &http.Client{Transport: tr})

	// h1 is registered, but its agent claims nothing until told.
	m := processes.NewManager(0, processes.WithKillGrace(time.Second))
	t.Cleanup(func() { require.NoError(t, m.Shutdown(context.Background())) })
	h := httpapi.NewHandler(m, httpapi.Options{Start: allowAll.Start})
	hsrv := httptest.NewServer(h)
	t.Cleanup(hsrv.Close)
	var starts atomic.Int32
	a, err := fleet.NewAgent(fleet.AgentOptions{Host: fleet.Host{ID: "h1", Capacity: 2, Addr: hsrv.URL}, Store: st, Manager: m, Handler: h,
		OnExecute: func(c fleet.Command) {
			if c.Kind == fleet.KindStart {
				starts.Add(1)
			}
		}})
	require.NoError(t, err)
	require.NoError(t, a.Register(t.Context()))
	sent, err := st.Subscribe(t.Context(), fleet.HostTopic("h1"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, sent.Close()) })

	req := httpapi.StartRequest{ID: "x", Argv: []string{"cat"}}
	ctx1, cancel1 := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { _, err := client.Start(ctx1, req); errc <- err }()
	proctest.Recv(t, sent.C()) // the start is on its way
	cancel1()
	require.ErrorIs(t, <-errc, context.Canceled)

	type answer struct {
		st  httpapi.Started
		err error
	}
	again := make(chan answer, 1)
	go func() { st, err := client.Start(t.Context(), req); again <- answer{st, err} }()
	var got answer
	select {
	case <-gst.reads: // it found the start on its way
		n, err := a.ClaimOnce(t.Context())
		require.NoError(t, err)
		require.Equal(t, 1, n)
		got = <-again
	case got = <-again:
	}
	require.NoError(t, got.err, "the same start again")
	assert.Equal(t, "x", got.st.ID)
	assert.Equal(t, int32(1), starts.Load(), "starts executed")
	host, err := st.Host(t.Context(), "h1")
	require.NoError(t, err)
	assert.Equal(t, 1, host.Seats)
	assert.Zero(t, gw.Waiters(), "waiters left")

	// Another start of the ID is refused as before.
	_, err = client.Start(t.Context(), httpapi.StartRequest{ID: "x", Argv: []string{"true"}})
	var ae *httpapi.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusConflict, ae.Status)
}
