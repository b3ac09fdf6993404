package fleet_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes/fleet"
)

// reconcilerFixture: hosts a and b with sessions in every state that
// holds a seat, on a memory Store and a mock clock.
func reconcilerFixture(t *testing.T) (*fleet.MemoryStore, *clock.Mock) {
	t.Helper()
	ctx := t.Context()
	clk := clock.NewMock()
	st := fleet.NewMemoryStore()
	for _, h := range []string{"a", "b"} {
		require.NoError(t, st.RegisterHost(ctx, fleet.Host{ID: h, Region: h, Capacity: 10}, clk.Now()))
		for _, state := range []string{fleet.SessionPending, fleet.SessionRunning, fleet.SessionTerminating, fleet.SessionExited} {
			id := h + "-" + state
			_, err := st.Place(ctx, fleet.Placement{SessionID: id, Criteria: &fleet.SelectionCriteria{Region: h}, Now: clk.Now(), TTL: time.Hour})
			require.NoError(t, err)
			rec, err := st.Session(ctx, id)
			require.NoError(t, err)
			require.Equal(t, h, rec.HostID, "fixture placement")
			if state != fleet.SessionPending {
				_, err = st.Transition(ctx, id, nil, state, "", clk.Now())
				require.NoError(t, err)
			}
		}
	}
	return st, clk
}

// TestReconcilerMarksSessionsOfGoneHosts: a host whose heartbeat count
// stops moving is gone after GoneAfter on the reconciler's clock, not
// before; its sessions are marked lost (terminating ones terminated)
// with the reason, seats released; the live host's are untouched.
func TestReconcilerMarksSessionsOfGoneHosts(t *testing.T) {
	ctx := t.Context()
	st, clk := reconcilerFixture(t)
	r := fleet.NewSessionReconciler(fleet.ReconcilerOptions{Store: st, Clock: clk, StuckAfter: time.Hour, GoneAfter: time.Minute})
	_, err := r.Reconcile(ctx) // first sight of both hosts
	require.NoError(t, err)

	beat := func() { require.NoError(t, st.Heartbeat(ctx, "a", 4, clk.Now())) }
	clk.Add(30 * time.Second)
	beat()
	p, err := r.Reconcile(ctx)
	require.NoError(t, err)
	assert.Empty(t, p.GoneHosts)
	clk.Add(30 * time.Second) // b silent for exactly GoneAfter: not yet
	beat()
	p, err = r.Reconcile(ctx)
	require.NoError(t, err)
	assert.Empty(t, p.GoneHosts, "gone at exactly GoneAfter")
	clk.Add(time.Second)
	beat()
	p, err = r.Reconcile(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"b"}, p.GoneHosts)
	assert.Equal(t, 3, p.Lost, "pending, running and exited sessions of b")
	assert.Equal(t, 1, p.Terminated, "the terminating session of b")

	want := map[string]string{
		"b-pending": fleet.SessionLost, "b-running": fleet.SessionLost, "b-exited": fleet.SessionLost,
		"b-terminating": fleet.SessionTerminated,
		"a-pending":     fleet.SessionPending, "a-running": fleet.SessionRunning,
		"a-terminating": fleet.SessionTerminating, "a-exited": fleet.SessionExited,
	}
	for id, state := range want {
		rec, err := st.Session(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, state, rec.State, "session %s", id)
		if rec.HostID == "b" {
			assert.Contains(t, rec.Reason, "host b is gone")
		}
	}
	hb, err := st.Host(ctx, "b")
	require.NoError(t, err)
	assert.Zero(t, hb.Seats, "b's seats after its sessions were marked")
	stats, err := r.GetStats()
	require.NoError(t, err)
	assert.Equal(t, 3, stats["lost"])
	assert.Equal(t, 1, stats["terminated"])
	assert.Equal(t, 1, stats["hosts_gone"])

	// A gone host that beats again is alive: nothing more is marked.
	require.NoError(t, st.Heartbeat(ctx, "b", 0, clk.Now()))
	p, err = r.Reconcile(ctx)
	require.NoError(t, err)
	assert.Empty(t, p.GoneHosts)
}

// TestReconcilerRetriesStuckSessions: a session pending or terminating
// for longer than StuckAfter on a live host has its command sent again
// (its host is notified again); a terminating one without a command gets
// a forget; a pending one without a command in flight is failed. GetStats
// counts each stuck state.
func TestReconcilerRetriesStuckSessions(t *testing.T) {
	ctx := t.Context()
	st, clk := reconcilerFixture(t)
	d := fleet.NewCommandDispatcher(st, fleet.DispatcherOptions{Clock: clk, Workers: 1})
	sub, err := st.Subscribe(ctx, fleet.HostTopic("a"))
	require.NoError(t, err)
	defer sub.Close()
	go d.Start()
	defer d.Stop()
	// a-pending's start was sent and never claimed.
	require.NoError(t, d.DispatchCommand(&fleet.Command{ID: "start", HostID: "a", SessionID: "a-pending", Kind: fleet.KindStart}))
	proctest.Recv(t, sub.C())

	r := fleet.NewSessionReconciler(fleet.ReconcilerOptions{Store: st, Dispatcher: d, Clock: clk, StuckAfter: time.Minute, GoneAfter: time.Hour})
	_, err = r.Reconcile(ctx)
	require.NoError(t, err)
	clk.Add(time.Minute)
	p, err := r.Reconcile(ctx)
	require.NoError(t, err)
	assert.Zero(t, p.StuckPending+p.StuckTerminating, "stuck at exactly StuckAfter")
	// A pending session whose only start failed for good: failed too.
	require.NoError(t, st.Enqueue(ctx, clk.Now(), &fleet.Command{ID: "dead-start", HostID: "b", SessionID: "b-pending", Kind: fleet.KindStart}))
	_, err = st.Send(ctx, "dead-start", clk.Now(), time.Minute, 0)
	require.NoError(t, err)

	clk.Add(time.Second)
	p, err = r.Reconcile(ctx)
	require.NoError(t, err)
	// a and b each have a pending and a terminating session; b's pending
	// one has no command in flight and fails, a's is retried; both
	// terminating ones get a forget.
	assert.Equal(t, 2, p.StuckPending)
	assert.Equal(t, 2, p.StuckTerminating)
	assert.Equal(t, 3, p.Retried)
	assert.Equal(t, 1, p.Failed)
	proctest.Recv(t, sub.C()) // the start re-notified, or a's forget sent: either wakes a
	rec, err := st.Session(ctx, "b-pending")
	require.NoError(t, err)
	assert.Equal(t, fleet.SessionFailed, rec.State)
	assert.Contains(t, rec.Reason, "dead-start was failed")
	forgets, err := st.Commands(ctx, fleet.CommandFilter{SessionID: "a-terminating"})
	require.NoError(t, err)
	require.Len(t, forgets, 1)
	assert.Equal(t, fleet.KindForget, forgets[0].Kind)
	stats, err := r.GetStats()
	require.NoError(t, err)
	assert.Equal(t, 2, stats["stuck_pending"])
	assert.Equal(t, 2, stats["stuck_terminating"])
	assert.Equal(t, 3, stats["retried"])
	assert.Equal(t, 1, stats["failed"])

	// Retried sessions wait another StuckAfter before the next retry.
	clk.Add(30 * time.Second)
	p, err = r.Reconcile(ctx)
	require.NoError(t, err)
	assert.Zero(t, p.Retried)
}

// TestReconcilerLoop: Start runs a pass each Interval of the clock; Stop
// waits for it and is idempotent.
func TestReconcilerLoop(t *testing.T) {
	st, clk := reconcilerFixture(t)
	r := fleet.NewSessionReconciler(fleet.ReconcilerOptions{Store: st, Clock: clk, Interval: time.Second})
	r.Stop() // without Start: a no-op
	r.Start()
	r.Start()
	for passes := 0; passes < 3; {
		clk.Add(time.Second)
		stats, err := r.GetStats()
		require.NoError(t, err)
		passes = stats["passes"]
	}
	r.Stop()
	r.Stop()
	stats, err := r.GetStats()
	require.NoError(t, err)
	clk.Add(10 * time.Second)
	after, err := r.GetStats()
	require.NoError(t, err)
	assert.Equal(t, stats["passes"], after["passes"], "a pass after Stop")
}

// TestReconcilerTimesEachIncarnation: a session ID placed again between
// two passes (its earlier incarnation failed) is timed from the new
// placement, not from when the reconciler first saw the earlier one in
// the same state: it is not stuck StuckAfter after the first, and is
// once StuckAfter has passed since the reconciler saw the second.
func TestReconcilerTimesEachIncarnation(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewMock()
	st := fleet.NewMemoryStore()
	require.NoError(t, st.RegisterHost(ctx, fleet.Host{ID: "a", Capacity: 10}, clk.Now()))
	place := func() {
		t.Helper()
		_, err := st.Place(ctx, fleet.Placement{SessionID: "x", Now: clk.Now(), TTL: time.Hour})
		require.NoError(t, err)
	}
	r := fleet.NewSessionReconciler(fleet.ReconcilerOptions{Store: st, Clock: clk, StuckAfter: time.Minute, GoneAfter: time.Hour})
	place()
	_, err := r.Reconcile(ctx) // first sight of x, pending
	require.NoError(t, err)
	clk.Add(time.Minute)
	_, err = st.Transition(ctx, "x", []string{fleet.SessionPending}, fleet.SessionFailed, "start failed", clk.Now())
	require.NoError(t, err)
	place() // a new incarnation, pending since now
	clk.Add(time.Nanosecond)
	p, err := r.Reconcile(ctx)
	require.NoError(t, err)
	assert.Zero(t, p.StuckPending, "a session placed 1ns ago is stuck")
	assert.Zero(t, p.Failed)
	rec, err := st.Session(ctx, "x")
	require.NoError(t, err)
	assert.Equal(t, fleet.SessionPending, rec.State)

	clk.Add(time.Minute) // StuckAfter since the reconciler saw it placed again: not yet
	p, err = r.Reconcile(ctx)
	require.NoError(t, err)
	assert.Zero(t, p.StuckPending, "stuck at exactly StuckAfter")
	clk.Add(time.Nanosecond)
	p, err = r.Reconcile(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, p.StuckPending, "pending for StuckAfter+1ns since it was seen placed again")
	assert.Equal(t, 1, p.Failed, "placed and never started")
}

// outage is a Store that fails every call while down, as one whose
// database or network is unreachable: neither the hosts' heartbeats nor
// the reconciler's reads get through.
type outage struct {
	fleet.Store
	down atomic.Bool
}

var errOutage = errors.New("connection refused")

func (s *outage) Hosts(ctx context.Context) ([]fleet.Host, error) {
	if s.down.Load() {
		return nil, errOutage
	}
	return s.Store.Hosts(ctx)
}

func (s *outage) Heartbeat(ctx context.Context, hostID string, sessions int, now time.Time) error {
	if s.down.Load() {
		return errOutage
	}
	return s.Store.Heartbeat(ctx, hostID, sessions, now)
}

// TestReconcilerOutageLosesNoSession: while the Store is unreachable no
// host can beat and the reconciler cannot look; once it is back, the
// hosts are not judged gone for the silence of the outage (every session
// of the fleet was marked lost at the first pass after an outage longer
// than GoneAfter), and a host that stays silent GoneAfter after the
// outage still is.
func TestReconcilerOutageLosesNoSession(t *testing.T) {
	ctx := t.Context()
	mem, clk := reconcilerFixture(t)
	st := &outage{Store: mem}
	r := fleet.NewSessionReconciler(fleet.ReconcilerOptions{Store: st, Clock: clk, StuckAfter: time.Hour, GoneAfter: time.Minute})
	_, err := r.Reconcile(ctx)
	require.NoError(t, err)

	st.down.Store(true)
	for range 3 {
		clk.Add(time.Minute)
		assert.Error(t, st.Heartbeat(ctx, "a", 4, clk.Now()))
		_, err := r.Reconcile(ctx)
		require.ErrorIs(t, err, errOutage)
	}
	st.down.Store(false)
	p, err := r.Reconcile(ctx) // before any host could beat again
	require.NoError(t, err)
	assert.Empty(t, p.GoneHosts, "hosts judged gone for the outage's silence")
	assert.Zero(t, p.Lost+p.Terminated)

	// a beats again, b stays silent: b is gone GoneAfter after the
	// outage, not before.
	clk.Add(time.Minute)
	require.NoError(t, st.Heartbeat(ctx, "a", 4, clk.Now()))
	p, err = r.Reconcile(ctx)
	require.NoError(t, err)
	assert.Empty(t, p.GoneHosts, "gone at exactly GoneAfter after the outage")
	clk.Add(time.Nanosecond)
	p, err = r.Reconcile(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"b"}, p.GoneHosts)
	assert.Equal(t, 3, p.Lost)
}

// TestReconcilerForgetsHostsTheStoreDropped: the reconciler keeps an
// observation only of the hosts the Store has: a control plane with
// churning hosts kept one for every host it ever saw, and a host
// registered again under a deleted one's ID was judged by the old
// observation, gone at once, its new sessions lost.
func TestReconcilerForgetsHostsTheStoreDropped(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewMock()
	st := fleet.NewMemoryStore()
	r := fleet.NewSessionReconciler(fleet.ReconcilerOptions{Store: st, Clock: clk, GoneAfter: time.Minute})
	for i := range 10 {
		require.NoError(t, st.RegisterHost(ctx, fleet.Host{ID: fmt.Sprintf("h%d", i), Capacity: 1}, clk.Now()))
	}
	_, err := r.Reconcile(ctx)
	require.NoError(t, err)
	hosts, _ := r.Tracked()
	require.Equal(t, 10, hosts, "hosts observed")

	clk.Add(time.Hour) // the hosts left: silent, then pruned
	st.Prune(clk.Now())
	all, err := st.Hosts(ctx)
	require.NoError(t, err)
	require.Empty(t, all, "hosts left in the Store")
	_, err = r.Reconcile(ctx)
	require.NoError(t, err)
	hosts, _ = r.Tracked()
	assert.Zero(t, hosts, "got observations of hosts the Store no longer has")

	// h0 comes back, as new, and a session is placed on it.
	require.NoError(t, st.RegisterHost(ctx, fleet.Host{ID: "h0", Capacity: 1}, clk.Now()))
	_, err = st.Place(ctx, fleet.Placement{SessionID: "s", Now: clk.Now(), TTL: time.Minute})
	require.NoError(t, err)
	p, err := r.Reconcile(ctx)
	require.NoError(t, err)
	assert.Empty(t, p.GoneHosts, "a host back under a deleted one's ID judged gone at once")
	rec, err := st.Session(ctx, "s")
	require.NoError(t, err)
	assert.Equal(t, fleet.SessionPending, rec.State)

	// h1 is deleted and comes back between two passes, with the beat
	// count its predecessor had: a new host all the same.
	require.NoError(t, st.RegisterHost(ctx, fleet.Host{ID: "h1", Capacity: 1}, clk.Now()))
	_, err = r.Reconcile(ctx)
	require.NoError(t, err)
	clk.Add(time.Hour)
	require.NoError(t, st.Heartbeat(ctx, "h0", 1, clk.Now()))
	st.Prune(clk.Now())
	_, err = st.Host(ctx, "h1")
	require.ErrorIs(t, err, fleet.ErrNotFound, "h1 pruned")
	require.NoError(t, st.RegisterHost(ctx, fleet.Host{ID: "h1", Capacity: 1}, clk.Now()))
	p, err = r.Reconcile(ctx)
	require.NoError(t, err)
	assert.Empty(t, p.GoneHosts, "a host deleted and back between two passes judged gone at once")
}
