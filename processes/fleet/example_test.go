package fleet_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/fleet"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

// Choosing hosts: the least loaded of those that fit takes each new
// session, and a full fleet says so.
func ExampleAgentSelector_SelectAgent() {
	ctx := context.Background()
	clk := clock.NewMock()
	st := fleet.NewMemoryStore()
	_ = st.RegisterHost(ctx, fleet.Host{ID: "eu-1", Region: "eu", Capacity: 2}, clk.Now())
	_ = st.RegisterHost(ctx, fleet.Host{ID: "eu-2", Region: "eu", Capacity: 1}, clk.Now())
	_ = st.RegisterHost(ctx, fleet.Host{ID: "us-1", Region: "us", Capacity: 9}, clk.Now())
	sel := fleet.NewAgentSelector(st, fleet.SelectorOptions{Clock: clk})

	eu := &fleet.SelectionCriteria{Region: "eu", PreferLowLoad: true, RequireConnected: true}
	for range 4 {
		info, err := sel.SelectAgent(ctx, eu)
		if errors.Is(err, fleet.ErrNoAgent) {
			fmt.Println("no agent fits")
			break
		}
		fmt.Println(info.AgentID, info.Capacity["used"], "of", info.Capacity["sessions"])
	}
	// Output:
	// eu-1 1 of 2
	// eu-2 1 of 1
	// eu-1 2 of 2
	// no agent fits
}

// The queue of a dispatcher is bounded: a full one refuses at once.
func ExampleCommandDispatcher_DispatchCommand() {
	st := fleet.NewMemoryStore()
	d := fleet.NewCommandDispatcher(st, fleet.DispatcherOptions{QueueCapacity: 1})
	fmt.Println(d.DispatchCommand(&fleet.Command{ID: "one", HostID: "h1", SessionID: "s1", Kind: fleet.KindForget}))
	fmt.Println(d.DispatchCommand(&fleet.Command{ID: "two", HostID: "h1", SessionID: "s2", Kind: fleet.KindForget}))
	fmt.Println(d.GetQueueLength(), "of", d.GetQueueCapacity())
	// Output:
	// <nil>
	// fleet: dispatch "two": fleet: command queue is full
	// 1 of 1
}

// A whole fleet in one process: a host (Manager, httpapi handler, Agent),
// a dispatcher and the gateway, which the unchanged httpapi.Client uses.
func ExampleGateway() {
	ctx, cancel := context.WithCancel(context.Background())
	st := fleet.NewMemoryStore()

	// The host.
	m := processes.NewManager(0)
	starter := &httpapi.Starter{Allow: func(*http.Request, *httpapi.StartRequest) error { return nil }}
	h := httpapi.NewHandler(m, httpapi.Options{Start: starter.Start})
	hostSrv := httptest.NewServer(h)
	agent, _ := fleet.NewAgent(fleet.AgentOptions{
		Host:  fleet.Host{ID: "host-1", Capacity: 10, Addr: hostSrv.URL},
		Store: st, Manager: m, Handler: h,
	})
	_ = agent.Register(ctx)
	agentDone := make(chan error)
	go func() { agentDone <- agent.Run(ctx) }()

	// The control plane.
	d := fleet.NewCommandDispatcher(st, fleet.DispatcherOptions{})
	go d.Start()
	gw, _ := fleet.NewGateway(ctx, st, fleet.NewAgentSelector(st, fleet.SelectorOptions{}), d, fleet.GatewayOptions{})
	gwSrv := httptest.NewServer(gw)

	c := httpapi.NewClient(gwSrv.URL+httpapi.DefaultPrefix, nil)
	started, err := c.Start(ctx, httpapi.StartRequest{ID: "hello", Argv: []string{"echo", "hello from the fleet"}})
	if err != nil {
		fmt.Println(err)
	}
	var out strings.Builder
	exit, _ := c.Follow(ctx, started.ID, 0, func(o processes.Output) error {
		for _, ch := range o.Chunks {
			out.Write(ch.Data)
		}
		return nil
	})
	rec, _ := st.Session(ctx, "hello")
	fmt.Printf("%s on %s: %q, exit %d\n", started.ID, rec.HostID, out.String(), exit)

	gwSrv.Close()
	_ = gw.Close()
	d.Stop()
	cancel()
	<-agentDone
	hostSrv.Close()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	_ = m.Shutdown(sctx)
	// Output:
	// hello on host-1: "hello from the fleet\n", exit 0
}
