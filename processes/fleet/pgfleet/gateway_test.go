package pgfleet_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/fleet"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

// TestGatewayOddText: over PostgreSQL, an ID, a workspace or a criterion
// that its text cannot hold (a NUL byte, invalid UTF-8) is a client's
// error: a start answers 400 and places nothing, a criterion no host
// matches 503 "no_agent", a session route 404; never 500, which the
// database's encoding error made of each.
func TestGatewayOddText(t *testing.T) {
	ctx := t.Context()
	st, _ := newStore(t)
	require.NoError(t, st.RegisterHost(ctx, fleet.Host{ID: "h", Capacity: 4, Addr: "http://127.0.0.1:1"}, time.Now()))
	disp := fleet.NewCommandDispatcher(st, fleet.DispatcherOptions{})
	go disp.Start()
	t.Cleanup(disp.Stop)
	gw, err := fleet.NewGateway(ctx, st, fleet.NewAgentSelector(st, fleet.SelectorOptions{}), disp, fleet.GatewayOptions{
		Authorize:    func(r *http.Request) (string, error) { return url.QueryUnescape(r.Header.Get("X-Workspace")) },
		StartTimeout: time.Millisecond, // no agent runs: a start placed would wait for nothing
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, gw.Close()) })
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)

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
			req, err := http.NewRequestWithContext(ctx, tt.method, srv.URL+httpapi.DefaultPrefix+tt.path, strings.NewReader(tt.body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Workspace", tt.ws)
			resp, err := srv.Client().Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			var e struct{ Code string }
			_ = json.NewDecoder(resp.Body).Decode(&e)
			assert.Equal(t, tt.status, resp.StatusCode)
			assert.Equal(t, tt.code, e.Code)
		})
	}
	h, err := st.Host(ctx, "h")
	require.NoError(t, err)
	assert.Zero(t, h.Seats, "seats taken by refused starts")
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

// TestGatewayRetryOfAStartOnItsWay: over PostgreSQL, the same start sent
// again while the first is on its way to a host that does not claim it
// (its client left) waits for that start, and answers 201 once the host
// starts it, which it does once.
func TestGatewayRetryOfAStartOnItsWay(t *testing.T) {
	ctx := t.Context()
	st, _ := newStore(t)
	gst := commandLists{st, make(chan struct{}, 1)}
	disp := fleet.NewCommandDispatcher(st, fleet.DispatcherOptions{})
	dispDone := make(chan struct{})
	go func() { defer close(dispDone); disp.Start() }()
	t.Cleanup(func() { disp.Stop(); <-dispDone })
	gw, err := fleet.NewGateway(ctx, gst, fleet.NewAgentSelector(st, fleet.SelectorOptions{}), disp, fleet.GatewayOptions{})
	require.NoError(t, err)
	srv := httptest.NewServer(gw)
	tr := &http.Transport{}
	t.Cleanup(func() { tr.CloseIdleConnections(); srv.Close(); require.NoError(t, gw.Close()) })
	client := httpapi.NewClient(srv.URL+httpapi.DefaultPrefix, &http.Client{Transport: tr})

	m := processes.NewManager(0, processes.WithKillGrace(time.Second))
	t.Cleanup(func() { require.NoError(t, m.Shutdown(context.Background())) })
	starter := &httpapi.Starter{Allow: func(*http.Request, *httpapi.StartRequest) error { return nil }}
	h := httpapi.NewHandler(m, httpapi.Options{Start: starter.Start})
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
	require.NoError(t, a.Register(ctx))
	sent, err := st.Subscribe(ctx, fleet.HostTopic("h1"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, sent.Close()) })

	req := httpapi.StartRequest{ID: "x", Argv: []string{"cat"}}
	ctx1, cancel1 := context.WithCancel(ctx)
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
	go func() { st, err := client.Start(ctx, req); again <- answer{st, err} }()
	var got answer
	select {
	case <-gst.reads: // it found the start on its way
		n, err := a.ClaimOnce(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		got = <-again
	case got = <-again:
	}
	require.NoError(t, got.err, "the same start again")
	assert.Equal(t, "x", got.st.ID)
	assert.Equal(t, int32(1), starts.Load(), "starts executed")
	host, err := st.Host(ctx, "h1")
	require.NoError(t, err)
	assert.Equal(t, 1, host.Seats)
}
