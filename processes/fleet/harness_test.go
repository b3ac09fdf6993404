package fleet_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/fleet"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

// testHost is an in-process host: a Manager, its httpapi handler on a
// loopback server, and an Agent running until the test ends.
type testHost struct {
	id      string
	m       *processes.Manager
	srv     *httptest.Server
	agent   *fleet.Agent
	handler http.Handler
	stop    func()
}

// allowAll is a Starter that runs what it is asked.
var allowAll = &httpapi.Starter{Allow: func(*http.Request, *httpapi.StartRequest) error { return nil }}

// startHost starts a host of the given capacity on st.
func startHost(t *testing.T, st fleet.Store, id string, capacity int, authorize func(*http.Request) (string, error), onExec func(fleet.Command)) *testHost {
	t.Helper()
	m := processes.NewManager(0, processes.WithKillGrace(time.Second))
	h := httpapi.NewHandler(m, httpapi.Options{Start: allowAll.Start, Authorize: authorize})
	mux := http.NewServeMux()
	mux.Handle(httpapi.DefaultPrefix+"/", h)
	srv := httptest.NewServer(mux)
	a, err := fleet.NewAgent(fleet.AgentOptions{
		Host:      fleet.Host{ID: id, ClusterID: "c1", Region: "eu", Platform: "linux", Capacity: capacity, Addr: srv.URL},
		Store:     st,
		Manager:   m,
		Handler:   h,
		OnExecute: onExec,
	})
	require.NoError(t, err)
	require.NoError(t, a.Register(t.Context()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	th := &testHost{id: id, m: m, srv: srv, agent: a, handler: h}
	stopped := false
	th.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("agent %s: Run returned %v, want context.Canceled", id, err)
		}
		srv.CloseClientConnections()
		srv.Close()
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		require.NoError(t, m.Shutdown(sctx))
	}
	t.Cleanup(th.stop)
	return th
}

// testFleet is a memory Store, a selector, a running dispatcher and a
// gateway on a loopback server, with a client for it.
type testFleet struct {
	st     *fleet.MemoryStore
	sel    *fleet.AgentSelector
	disp   *fleet.CommandDispatcher
	gw     *fleet.Gateway
	srv    *httptest.Server
	client *httpapi.Client
	hc     *http.Client
}

func newFleet(t *testing.T, authorize func(*http.Request) (string, error)) *testFleet {
	t.Helper()
	return newFleetWith(t, fleet.GatewayOptions{Authorize: authorize, RouteCacheTTL: -1})
}

// newFleetWith is newFleet with the gateway's options given.
func newFleetWith(t *testing.T, opts fleet.GatewayOptions) *testFleet {
	t.Helper()
	st := fleet.NewMemoryStore()
	sel := fleet.NewAgentSelector(st, fleet.SelectorOptions{})
	disp := fleet.NewCommandDispatcher(st, fleet.DispatcherOptions{})
	started := make(chan struct{})
	go func() { close(started); disp.Start() }()
	<-started
	gw, err := fleet.NewGateway(t.Context(), st, sel, disp, opts)
	require.NoError(t, err)
	srv := httptest.NewServer(gw)
	tr := &http.Transport{}
	hc := &http.Client{Transport: tr}
	f := &testFleet{st: st, sel: sel, disp: disp, gw: gw, srv: srv, hc: hc,
		client: httpapi.NewClient(srv.URL+httpapi.DefaultPrefix, hc)}
	f.client.PollWait = 5 * time.Second
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.CloseClientConnections()
		srv.Close()
		require.NoError(t, gw.Close())
		disp.Stop()
	})
	return f
}
