package pgfleet_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/pgtest"
	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/fleet"
	"github.com/sessionkit/sessionkit/processes/fleet/pgfleet"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

// startHost starts a host process of the given capacity and waits until
// it is ready (registered, listening).
func startHost(t *testing.T, ev *events, db *pgtest.DB, id string, capacity int) *helper {
	t.Helper()
	h := startHelper(t, ev, id, "host", envURL+"="+db.URL, envHost+"="+id, envCapacity+"="+strconv.Itoa(capacity))
	l := h.line(t)
	require.True(t, strings.HasPrefix(l, "ready "), "host %s said %q", id, l)
	return h
}

// controlPlane is the test process's part of a fleet: a dispatcher, a
// gateway on a loopback server and a client for it.
type controlPlane struct {
	st     *pgfleet.Store
	disp   *fleet.CommandDispatcher
	gw     *fleet.Gateway
	srv    *httptest.Server
	client *httpapi.Client
}

func newControlPlane(t *testing.T, st *pgfleet.Store) *controlPlane {
	t.Helper()
	sel := fleet.NewAgentSelector(st, fleet.SelectorOptions{TTL: time.Hour})
	d := fleet.NewCommandDispatcher(st, fleet.DispatcherOptions{Workers: 4})
	started := make(chan struct{})
	go func() { defer close(started); d.Start() }()
	gw, err := fleet.NewGateway(t.Context(), st, sel, d, fleet.GatewayOptions{})
	require.NoError(t, err)
	srv := httptest.NewServer(gw)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	c := httpapi.NewClient(srv.URL+httpapi.DefaultPrefix, &http.Client{Transport: tr})
	c.PollWait = 5 * time.Second
	c.MaxBackoff = 200 * time.Millisecond
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.CloseClientConnections()
		srv.Close()
		require.NoError(t, gw.Close())
		d.Stop()
		<-started
	})
	return &controlPlane{st: st, disp: d, gw: gw, srv: srv, client: c}
}

func seats(t *testing.T, st fleet.Store) map[string]int {
	t.Helper()
	hs, err := st.Hosts(t.Context())
	require.NoError(t, err)
	out := map[string]int{}
	for _, h := range hs {
		out[h.ID] = h.Seats
	}
	return out
}

// TestClusterOfThreeHosts: three host processes, each with its own
// Manager on its own loopback port, and a gateway.
//   - Follow through the gateway gets every byte and the exit code of a
//     session on each host.
//   - 300 starts from 8 concurrent clients are placed least loaded: at
//     half way each host holds about half its capacity, at the end each
//     is exactly full and none is over; the 301st is refused (503). A
//     beat reports every session, with its activity, into the activity
//     Store (pgstore) through each host's activitysync Bridge.
//   - One host SIGKILLed: its sessions are marked lost by the reconciler
//     once GoneAfter has passed on its mock clock, not before, while the
//     others beat; they answer 410 "lost" through the gateway, the
//     others' sessions still answer.
func TestClusterOfThreeHosts(t *testing.T) {
	st, db := newStore(t)
	ev := newEvents()
	caps := map[string]int{"h1": 60, "h2": 100, "h3": 140}
	hosts := map[string]*helper{}
	for _, id := range []string{"h1", "h2", "h3"} {
		hosts[id] = startHost(t, ev, db, id, caps[id])
	}
	cp := newControlPlane(t, st)
	ctx := t.Context()

	// Every byte and the exit code, through the gateway, from each host.
	var want strings.Builder
	for i := 1; i <= 20000; i++ {
		fmt.Fprintf(&want, "%d\n", i)
	}
	for i := range 3 {
		s, err := cp.client.Start(ctx, httpapi.StartRequest{ID: fmt.Sprint("seq", i), Argv: []string{"sh", "-c", "seq 1 20000; exit " + strconv.Itoa(7+i)}})
		require.NoError(t, err)
		var got strings.Builder
		exit, err := cp.client.Follow(ctx, s.ID, 0, func(o processes.Output) error {
			assert.Zero(t, o.Missed)
			for _, c := range o.Chunks {
				got.Write(c.Data)
			}
			return nil
		})
		require.NoError(t, err)
		assert.Equal(t, 7+i, exit)
		assert.Equal(t, want.Len(), got.Len(), "bytes of session %s", s.ID)
		assert.True(t, want.String() == got.String(), "output of session %s differs", s.ID)
	}
	assert.Equal(t, map[string]int{"h1": 1, "h2": 1, "h3": 1}, seats(t, st), "the three sessions went one to each host")
	for i := range 3 {
		require.NoError(t, cp.client.Delete(ctx, fmt.Sprint("seq", i)))
	}
	assert.Equal(t, map[string]int{"h1": 0, "h2": 0, "h3": 0}, seats(t, st), "deleted sessions hold no seat")

	// 300 starts, least loaded, never over capacity.
	startAll := func(from, to int) {
		var wg sync.WaitGroup
		next := make(chan int)
		for range 8 {
			wg.Go(func() {
				for i := range next {
					_, err := cp.client.Start(ctx, httpapi.StartRequest{ID: fmt.Sprintf("cat%03d", i), Argv: []string{"cat"}})
					assert.NoError(t, err, "start %d", i)
				}
			})
		}
		for i := from; i < to; i++ {
			next <- i
		}
		close(next)
		wg.Wait()
	}
	startAll(0, 150)
	half := seats(t, st)
	for id, c := range caps {
		// Least loaded: each host near half full. Placements run 8 at a
		// time, each from the loads it read, so a host may be a few off.
		assert.InDelta(t, c/2, half[id], 8, "host %s at half way: %v", id, half)
	}
	startAll(150, 300)
	assert.Equal(t, caps, seats(t, st), "every host exactly full")
	_, err := cp.client.Start(ctx, httpapi.StartRequest{ID: "one-too-many", Argv: []string{"cat"}})
	var ae *httpapi.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusServiceUnavailable, ae.Status)
	assert.Equal(t, fleet.CodeNoAgent, ae.Code)
	for id, h := range hosts {
		h.beat(t)
		got, err := st.Host(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, caps[id], got.Sessions, "sessions in the Manager of %s", id)
	}
	// The beats reported every session, with its activity, into the
	// activity Store (package pgstore) through the Bridge.
	var reported int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM sessionkit_activity_sessions
WHERE state = 'running' AND name LIKE 'cat%' AND last_activity IS NOT NULL`).Scan(&reported))
	assert.Equal(t, 300, reported, "running sessions in the activity Store")
	ev.mu.Lock()
	killedPids := append([]int(nil), ev.started["h2"]...)
	ev.mu.Unlock()
	require.Len(t, killedPids, 101, "h2 started one seq and 100 cats")

	// One host SIGKILLed; the reconciler, on a mock clock, marks its
	// sessions lost after GoneAfter and not before.
	hosts["h2"].kill(t)
	proctest.RequireGone(t, killedPids...) // the sessions died with their host
	clk := clock.NewMock()
	r := fleet.NewSessionReconciler(fleet.ReconcilerOptions{Store: st, Clock: clk, GoneAfter: time.Minute, StuckAfter: time.Hour})
	_, err = r.Reconcile(ctx)
	require.NoError(t, err)
	beatLive := func() { hosts["h1"].beat(t); hosts["h3"].beat(t) }
	beatLive()
	clk.Add(time.Minute)
	p, err := r.Reconcile(ctx)
	require.NoError(t, err)
	assert.Empty(t, p.GoneHosts, "gone before GoneAfter passed")
	assert.Zero(t, p.Lost)
	beatLive()
	clk.Add(time.Second)
	p, err = r.Reconcile(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"h2"}, p.GoneHosts)
	assert.Equal(t, 100, p.Lost)
	stats, err := r.GetStats()
	require.NoError(t, err)
	assert.Equal(t, 100, stats["lost"])

	lost, err := st.Sessions(ctx, fleet.SessionFilter{HostID: "h2", States: []string{fleet.SessionLost}})
	require.NoError(t, err)
	require.Len(t, lost, 100)
	_, err = cp.client.Status(ctx, lost[0].ID)
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusGone, ae.Status)
	assert.Equal(t, fleet.CodeLost, ae.Code)
	assert.Contains(t, ae.Message, "host h2 is gone")
	_, err = cp.client.Follow(ctx, lost[1].ID, 0, func(processes.Output) error { return nil })
	assert.True(t, errors.Is(err, processes.ErrClosed), "Follow of a lost session: %v", err)
	for _, id := range []string{"h1", "h3"} {
		live, err := st.Sessions(ctx, fleet.SessionFilter{HostID: id, States: []string{fleet.SessionRunning}})
		require.NoError(t, err)
		require.Len(t, live, caps[id], "running sessions of %s", id)
		s, err := cp.client.Status(ctx, live[0].ID)
		require.NoError(t, err)
		assert.True(t, s.Alive)
	}
	assert.Equal(t, 0, seats(t, st)["h2"], "a gone host's seats are released")
}
