package fleet_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/activity"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/activitysync"
	"github.com/sessionkit/sessionkit/processes/fleet"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

// TestAgentSyncReports: a heartbeat carries the Manager's session count;
// the host's records follow its sessions (pending → running, running →
// exited, gone → terminated), and the Bridge puts them, with their
// activity, in the activity Store.
func TestAgentSyncReports(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewMock()
	st := fleet.NewMemoryStore()
	m := processes.NewManager(0, processes.WithClock(clk))
	t.Cleanup(func() { require.NoError(t, m.Shutdown(context.Background())) })
	astore := activity.NewMemoryStore()
	tr := activity.NewTracker(astore, activity.WithClock(clk))
	bridge := activitysync.New(tr, activitysync.Options{Sessions: m.All(), Clock: clk})
	a, err := fleet.NewAgent(fleet.AgentOptions{Host: fleet.Host{ID: "h", Capacity: 10}, Store: st, Manager: m, Clock: clk, Bridge: bridge})
	require.NoError(t, err)
	require.NoError(t, a.Register(ctx))
	for _, id := range []string{"starts", "exits", "vanishes", "in-flight"} {
		_, err := st.Place(ctx, fleet.Placement{SessionID: id, Now: clk.Now(), TTL: time.Minute})
		require.NoError(t, err)
	}
	for _, id := range []string{"exits", "vanishes"} {
		_, err := st.Transition(ctx, id, nil, fleet.SessionRunning, "", clk.Now())
		require.NoError(t, err)
	}
	m.Register(&processes.Session{ID: "starts", WorkspaceID: "w"})
	exits := &processes.Session{ID: "exits", WorkspaceID: "w"}
	m.Register(exits)
	exits.Append("stdout", []byte("bye\n"))
	exits.SetExit(0)

	require.NoError(t, a.Sync(ctx))
	h, err := st.Host(ctx, "h")
	require.NoError(t, err)
	assert.Equal(t, 2, h.Sessions, "the heartbeat's session count")
	assert.Equal(t, int64(1), h.Beats)
	want := map[string]string{
		"starts": fleet.SessionRunning, "exits": fleet.SessionExited,
		"vanishes": fleet.SessionTerminated, "in-flight": fleet.SessionPending,
	}
	for id, state := range want {
		rec, err := st.Session(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, state, rec.State, "session %s", id)
	}
	assert.Equal(t, 2, h.Seats, "seats of the running and the in-flight session")
	recs, err := astore.List(ctx, "w")
	require.NoError(t, err)
	require.Len(t, recs, 2, "the Bridge reported the host's sessions")
	states := map[string]string{}
	for _, r := range recs {
		states[r.Name] = r.State
	}
	assert.Equal(t, map[string]string{"starts": processes.StateRunning, "exits": processes.StateExited}, states)
}

// TestNewAgentNeedsItsParts: a missing Host.ID, Store or Manager, or a
// Host.Addr that is not an http or https URL with a host, is ErrInvalid.
func TestNewAgentNeedsItsParts(t *testing.T) {
	m := processes.NewManager(0)
	t.Cleanup(func() { require.NoError(t, m.Shutdown(context.Background())) })
	st := fleet.NewMemoryStore()
	for name, opts := range map[string]fleet.AgentOptions{
		"no ID":      {Store: st, Manager: m},
		"no Store":   {Host: fleet.Host{ID: "h"}, Manager: m},
		"no Manager": {Host: fleet.Host{ID: "h"}, Store: st},
		// An address the gateway could not proxy to: sessions would be
		// placed on the host and started, and never reached.
		"address without a scheme":  {Host: fleet.Host{ID: "h", Addr: "127.0.0.1:8080"}, Store: st, Manager: m},
		"address of another scheme": {Host: fleet.Host{ID: "h", Addr: "ftp://127.0.0.1"}, Store: st, Manager: m},
		"address without a host":    {Host: fleet.Host{ID: "h", Addr: "http:///api"}, Store: st, Manager: m},
		"address that is no URL":    {Host: fleet.Host{ID: "h", Addr: "http://[::1"}, Store: st, Manager: m},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := fleet.NewAgent(opts)
			assert.ErrorIs(t, err, fleet.ErrInvalid)
		})
	}
}

// TestAgentForgetsAStartGivenUp: a start that completes on the host after
// the fleet gave up on its session (the dispatcher failed it after its
// last lease, or the reconciler found it stuck) does not leave a process
// running that no record points to: the agent forgets it and fails the
// command.
func TestAgentForgetsAStartGivenUp(t *testing.T) {
	ctx := t.Context()
	st := fleet.NewMemoryStore()
	m := processes.NewManager(0, processes.WithKillGrace(time.Second))
	t.Cleanup(func() { require.NoError(t, m.Shutdown(context.Background())) })
	h := httpapi.NewHandler(m, httpapi.Options{Start: allowAll.Start})
	entered, release := make(chan struct{}), make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		h.ServeHTTP(w, r)
	})
	a, err := fleet.NewAgent(fleet.AgentOptions{Host: fleet.Host{ID: "h", Capacity: 1}, Store: st, Manager: m, Handler: slow})
	require.NoError(t, err)
	require.NoError(t, a.Register(ctx))
	_, err = st.Place(ctx, fleet.Placement{SessionID: "s", Now: time.Now(), TTL: time.Minute})
	require.NoError(t, err)
	body, err := json.Marshal(httpapi.StartRequest{ID: "s", Argv: []string{"cat"}})
	require.NoError(t, err)
	payload, err := json.Marshal(fleet.StartPayload{Body: body, ClientID: "s"})
	require.NoError(t, err)
	require.NoError(t, st.Enqueue(ctx, time.Now(), &fleet.Command{ID: "c", HostID: "h", SessionID: "s", Kind: fleet.KindStart, Payload: payload}))
	_, err = st.Send(ctx, "c", time.Now(), time.Minute, 1)
	require.NoError(t, err)

	claimed := make(chan error, 1)
	go func() { _, err := a.ClaimOnce(ctx); claimed <- err }()
	<-entered
	done, err := st.Transition(ctx, "s", []string{fleet.SessionPending}, fleet.SessionFailed, "fleet: given up", time.Now())
	require.NoError(t, err)
	require.True(t, done)
	close(release)
	require.NoError(t, <-claimed)

	s, ok := m.Get("s")
	assert.False(t, ok && !s.Closed(), "a session the fleet gave up on still runs on its host")
	rec, err := st.Session(ctx, "s")
	require.NoError(t, err)
	assert.Equal(t, fleet.SessionFailed, rec.State)
	c, err := st.Command(ctx, "c")
	require.NoError(t, err)
	assert.Equal(t, fleet.CommandFailed, c.State, "got command %+v", c)
	h2, err := st.Host(ctx, "h")
	require.NoError(t, err)
	assert.Zero(t, h2.Seats)
}

// TestGatewayRestartOfAHeldID: starting again the ID of a session its
// host still holds (exited, or marked lost while its host lives on)
// answers 409 as the host would, and never 201 for a process that was
// not started.
func TestGatewayRestartOfAHeldID(t *testing.T) {
	var mu sync.Mutex
	var execs []string
	f := newFleet(t, nil)
	th := startHost(t, f.st, "h1", 4, nil, func(c fleet.Command) { mu.Lock(); execs = append(execs, c.Kind); mu.Unlock() })
	ctx := t.Context()

	_, err := f.client.Start(ctx, httpapi.StartRequest{ID: "once", Argv: []string{"true"}})
	require.NoError(t, err)
	_, err = f.client.Follow(ctx, "once", 0, func(processes.Output) error { return nil })
	require.NoError(t, err)
	require.NoError(t, th.agent.Sync(ctx))
	rec, err := f.st.Session(ctx, "once")
	require.NoError(t, err)
	require.Equal(t, fleet.SessionExited, rec.State)

	_, err = f.client.Start(ctx, httpapi.StartRequest{ID: "once", Argv: []string{"true"}})
	var ae *httpapi.APIError
	require.ErrorAs(t, err, &ae, "a second start of an exited session's ID")
	assert.Equal(t, http.StatusConflict, ae.Status)
	_, err = f.client.Status(ctx, "once")
	assert.NoError(t, err, "the exited session is still readable through the gateway")

	_, err = f.client.Start(ctx, httpapi.StartRequest{ID: "held", Argv: []string{"cat"}})
	require.NoError(t, err)
	_, err = f.st.Transition(ctx, "held", nil, fleet.SessionLost, "fleet: host h1 is gone", time.Now())
	require.NoError(t, err)
	_, err = f.client.Start(ctx, httpapi.StartRequest{ID: "held", Argv: []string{"cat"}})
	require.ErrorAs(t, err, &ae, "a second start of the ID of a session its host still runs")
	assert.Equal(t, http.StatusConflict, ae.Status)
}

// noSubscribe is a Store whose Subscribe fails, as one whose database
// refuses a new connection.
type noSubscribe struct{ fleet.Store }

func (noSubscribe) Subscribe(context.Context, fleet.Topic) (fleet.Subscription, error) {
	return nil, errors.New("too many connections")
}

// TestAgentRunFailingLeavesTheHostDisconnected: a Run that registered the
// host and then failed does not leave it connected, where placements
// would send it starts that nobody claims.
func TestAgentRunFailingLeavesTheHostDisconnected(t *testing.T) {
	ctx := t.Context()
	st := fleet.NewMemoryStore()
	m := processes.NewManager(0)
	t.Cleanup(func() { require.NoError(t, m.Shutdown(context.Background())) })
	a, err := fleet.NewAgent(fleet.AgentOptions{Host: fleet.Host{ID: "h", Capacity: 1}, Store: noSubscribe{st}, Manager: m})
	require.NoError(t, err)
	require.Error(t, a.Run(ctx))
	h, err := st.Host(ctx, "h")
	require.NoError(t, err)
	assert.False(t, h.Connected, "a host whose agent is not running is connected")
	_, err = fleet.NewAgentSelector(st, fleet.SelectorOptions{}).SelectAgent(ctx, &fleet.SelectionCriteria{RequireConnected: true})
	assert.ErrorIs(t, err, fleet.ErrNoAgent)
}

// TestAgentStopCompletesWhatItExecuted: when Run's context ends while a
// command executes, the agent still completes that command (its outcome
// was lost, and the command sent again to a host that had stopped
// claiming, until it failed after its attempts), and executes no further
// command of its batch: they stay claimed, sent again after their lease.
func TestAgentStopCompletesWhatItExecuted(t *testing.T) {
	st := fleet.NewMemoryStore()
	m := processes.NewManager(0)
	t.Cleanup(func() { require.NoError(t, m.Shutdown(context.Background())) })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var executed []string
	a, err := fleet.NewAgent(fleet.AgentOptions{Host: fleet.Host{ID: "h", Capacity: 1}, Store: st, Manager: m,
		OnExecute: func(c fleet.Command) {
			executed = append(executed, c.ID) // one batch at a time: no race
			cancel()                          // the agent is stopped during its first command
		}})
	require.NoError(t, err)
	require.NoError(t, a.Register(ctx))
	now := time.Now()
	for _, id := range []string{"first", "second"} {
		require.NoError(t, st.Enqueue(ctx, now, &fleet.Command{ID: id, HostID: "h", SessionID: "s-" + id, Kind: fleet.KindForget}))
		_, err := st.Send(ctx, id, now, time.Minute, 3)
		require.NoError(t, err)
	}
	require.ErrorIs(t, a.Run(ctx), context.Canceled)
	assert.Equal(t, []string{"first"}, executed, "commands executed after Run's context ended")
	c, err := st.Command(t.Context(), "first")
	require.NoError(t, err)
	assert.Equal(t, fleet.CommandCompleted, c.State, "the command executed as Run stopped")
	c, err = st.Command(t.Context(), "second")
	require.NoError(t, err)
	assert.Equal(t, fleet.CommandAck, c.State, "the command claimed and not executed")
}

// TestAgentLeavesAnotherHostsRecord: a command that ends on host a after
// its session was given up and placed again on host b, under the same
// ID, changes nothing of b's session: a start that completes on a is
// forgotten there (it marked b's pending record running, and a kept a
// process nothing pointed to), a start that fails on a does not fail b's
// record, and a forget on a does not mark b's running session
// terminated.
func TestAgentLeavesAnotherHostsRecord(t *testing.T) {
	for _, tt := range []struct {
		name string
		kind string
		argv []string
	}{
		{"start completes", fleet.KindStart, []string{"cat"}},
		{"start fails", fleet.KindStart, []string{"/nonexistent/program"}},
		{"forget", fleet.KindForget, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			st := fleet.NewMemoryStore()
			m := processes.NewManager(0, processes.WithKillGrace(time.Second))
			t.Cleanup(func() { require.NoError(t, m.Shutdown(context.Background())) })
			h := httpapi.NewHandler(m, httpapi.Options{Start: allowAll.Start})
			entered, release := make(chan struct{}), make(chan struct{})
			a, err := fleet.NewAgent(fleet.AgentOptions{Host: fleet.Host{ID: "a", Region: "a", Capacity: 1}, Store: st, Manager: m, Handler: h,
				OnExecute: func(fleet.Command) { close(entered); <-release }})
			require.NoError(t, err)
			require.NoError(t, a.Register(ctx))
			require.NoError(t, st.RegisterHost(ctx, fleet.Host{ID: "b", Region: "b", Capacity: 1}, time.Now()))
			place := func(region string) {
				t.Helper()
				_, err := st.Place(ctx, fleet.Placement{SessionID: "s", Criteria: &fleet.SelectionCriteria{Region: region}, Now: time.Now(), TTL: time.Minute})
				require.NoError(t, err)
			}
			place("a")
			var payload []byte
			if tt.kind == fleet.KindStart {
				body, err := json.Marshal(httpapi.StartRequest{ID: "s", Argv: tt.argv})
				require.NoError(t, err)
				payload, err = json.Marshal(fleet.StartPayload{Body: body, ClientID: "s"})
				require.NoError(t, err)
			} else {
				_, err := st.Transition(ctx, "s", nil, fleet.SessionTerminating, "", time.Now())
				require.NoError(t, err)
			}
			require.NoError(t, st.Enqueue(ctx, time.Now(), &fleet.Command{ID: "c", HostID: "a", SessionID: "s", Kind: tt.kind, Payload: payload}))
			_, err = st.Send(ctx, "c", time.Now(), time.Minute, 1)
			require.NoError(t, err)

			claimed := make(chan error, 1)
			go func() { _, err := a.ClaimOnce(ctx); claimed <- err }()
			<-entered
			// Meanwhile the fleet gives s up on a and places it on b.
			_, err = st.Transition(ctx, "s", nil, fleet.SessionFailed, "fleet: given up", time.Now())
			require.NoError(t, err)
			place("b")
			want := fleet.SessionPending
			if tt.kind == fleet.KindForget {
				want = fleet.SessionRunning
				_, err = st.Transition(ctx, "s", nil, want, "", time.Now())
				require.NoError(t, err)
			}
			close(release)
			<-claimed

			rec, err := st.Session(ctx, "s")
			require.NoError(t, err)
			assert.Equal(t, "b", rec.HostID)
			assert.Equal(t, want, rec.State, "b's session changed by a command of a (reason %q)", rec.Reason)
			hb, err := st.Host(ctx, "b")
			require.NoError(t, err)
			assert.Equal(t, 1, hb.Seats, "b's seat")
			s, ok := m.Get("s")
			assert.False(t, ok && !s.Closed(), "a process of s runs on a, where no record points")
		})
	}
}

// TestAgentSurvivesAPanickingStart: a start handler that panics fails
// its command and its session, as net/http would drop the request of a
// handler that panics, instead of ending the host's process (and every
// session on it); an answer that is not JSON is carried as a JSON
// string, not dropped (which made a 201 look like a failed start).
func TestAgentSurvivesAPanickingStart(t *testing.T) {
	for _, tt := range []struct {
		name    string
		handler http.HandlerFunc
		state   string // of the command
		result  string
	}{
		{"panic", func(http.ResponseWriter, *http.Request) { panic("boom") }, fleet.CommandFailed, ""},
		{"abort", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }, fleet.CommandFailed, ""},
		{"plain text", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte("started, not JSON\n"))
		}, fleet.CommandCompleted, `{"status":201,"body":"started, not JSON"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			st := fleet.NewMemoryStore()
			m := processes.NewManager(0)
			t.Cleanup(func() { require.NoError(t, m.Shutdown(context.Background())) })
			a, err := fleet.NewAgent(fleet.AgentOptions{Host: fleet.Host{ID: "h", Capacity: 1}, Store: st, Manager: m, Handler: tt.handler})
			require.NoError(t, err)
			c := startThrough(t, st, a, "true")
			assert.Equal(t, tt.state, c.State, "command %+v", c)
			if tt.state == fleet.CommandFailed {
				assert.Contains(t, c.Error, "panicked")
				rec, err := st.Session(ctx, "s")
				require.NoError(t, err)
				assert.Equal(t, fleet.SessionFailed, rec.State)
				return
			}
			assert.JSONEq(t, tt.result, string(c.Result))
		})
	}
}

// startThrough registers a's host "h", places session "s" on it, sends a
// its start command "c" running program, has it claim and execute the
// command, and returns the command as the Store then holds it.
func startThrough(t *testing.T, st fleet.Store, a *fleet.Agent, program string) fleet.Command {
	t.Helper()
	ctx := t.Context()
	require.NoError(t, a.Register(ctx))
	_, err := st.Place(ctx, fleet.Placement{SessionID: "s", Now: time.Now(), TTL: time.Minute})
	require.NoError(t, err)
	payload, err := json.Marshal(fleet.StartPayload{Body: []byte(`{"id":"s","argv":["` + program + `"]}`), ClientID: "s"})
	require.NoError(t, err)
	require.NoError(t, st.Enqueue(ctx, time.Now(), &fleet.Command{ID: "c", HostID: "h", SessionID: "s", Kind: fleet.KindStart, Payload: payload}))
	_, err = st.Send(ctx, "c", time.Now(), time.Minute, 1)
	require.NoError(t, err)
	n, err := a.ClaimOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	c, err := st.Command(ctx, "c")
	require.NoError(t, err)
	return c
}

// TestAgentBoundsTheStartAnswer: the agent keeps at most
// MaxStartAnswerBytes of its handler's answer to a start (the command's
// Result, which the Store keeps and the gateway sends): a longer one
// fails the start, and the session it started is forgotten.
func TestAgentBoundsTheStartAnswer(t *testing.T) {
	ctx := t.Context()
	st := fleet.NewMemoryStore()
	m := processes.NewManager(0, processes.WithKillGrace(time.Second))
	t.Cleanup(func() { require.NoError(t, m.Shutdown(context.Background())) })
	h := httpapi.NewHandler(m, httpapi.Options{Start: allowAll.Start})
	long := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		chunk := []byte(strings.Repeat("x", 4096))
		for range 2 * fleet.MaxStartAnswerBytes / len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	a, err := fleet.NewAgent(fleet.AgentOptions{Host: fleet.Host{ID: "h", Capacity: 1}, Store: st, Manager: m, Handler: long})
	require.NoError(t, err)
	c := startThrough(t, st, a, "cat")
	assert.Equal(t, fleet.CommandFailed, c.State, "got command %+v", c)
	assert.LessOrEqual(t, len(c.Result), fleet.MaxStartAnswerBytes, "got a result of %d bytes", len(c.Result))
	rec, err := st.Session(ctx, "s")
	require.NoError(t, err)
	assert.Equal(t, fleet.SessionFailed, rec.State)
	s, ok := m.Get("s")
	assert.False(t, ok && !s.Closed(), "the session whose answer was lost runs on")
}

// TestAgentRegistersAgainAfterItsHostWasDeleted: a host deleted from the
// Store while its agent lived on (pruned after a long silence, or by an
// operator) is registered again at the agent's next beat, rather than
// beat against nothing for ever.
func TestAgentRegistersAgainAfterItsHostWasDeleted(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewMock()
	st := fleet.NewMemoryStore()
	m := processes.NewManager(0, processes.WithClock(clk))
	t.Cleanup(func() { require.NoError(t, m.Shutdown(context.Background())) })
	a, err := fleet.NewAgent(fleet.AgentOptions{Host: fleet.Host{ID: "h", Capacity: 3}, Store: st, Manager: m})
	require.NoError(t, err)
	require.NoError(t, a.Register(ctx))
	clk.Add(2 * time.Hour)
	st.Prune(clk.Now().Add(-time.Hour))
	_, err = st.Host(ctx, "h")
	require.ErrorIs(t, err, fleet.ErrNotFound, "pruned")

	require.NoError(t, a.Sync(ctx))
	h, err := st.Host(ctx, "h")
	require.NoError(t, err)
	assert.Equal(t, 3, h.Capacity)
	assert.True(t, h.Online(clk.Now(), time.Minute), "got %+v", h)
}

// signalSubscribe is a MemoryStore that tells each Subscribe on a
// channel: an agent's Run has registered its host and is about to
// claim.
type signalSubscribe struct {
	*fleet.MemoryStore
	subscribed chan struct{}
}

func (s signalSubscribe) Subscribe(ctx context.Context, topic fleet.Topic) (fleet.Subscription, error) {
	sub, err := s.MemoryStore.Subscribe(ctx, topic)
	s.subscribed <- struct{}{}
	return sub, err
}

// TestAgentRunOneAtATime: a second Run of an Agent while one runs
// returns ErrRunning and changes nothing: two loops on one Agent made
// the first to end mark the host disconnected while the other ran, so
// that no placement reached it. Run after the previous one returned
// runs again.
func TestAgentRunOneAtATime(t *testing.T) {
	ctx := t.Context()
	st := signalSubscribe{fleet.NewMemoryStore(), make(chan struct{}, 1)}
	m := processes.NewManager(0)
	t.Cleanup(func() { require.NoError(t, m.Shutdown(context.Background())) })
	a, err := fleet.NewAgent(fleet.AgentOptions{Host: fleet.Host{ID: "h", Capacity: 1}, Store: st, Manager: m})
	require.NoError(t, err)
	run := func() (context.CancelFunc, chan error) {
		rctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(rctx) }()
		return cancel, done
	}
	cancelA, doneA := run()
	t.Cleanup(func() { cancelA(); <-doneA })
	<-st.subscribed // A runs

	cancelB, doneB := run()
	var errB error
	select {
	case errB = <-doneB:
	case <-st.subscribed: // B runs too
		cancelB()
		errB = <-doneB
	}
	cancelB()
	assert.ErrorIs(t, errB, fleet.ErrRunning)
	h, err := st.Host(ctx, "h")
	require.NoError(t, err)
	assert.True(t, h.Connected, "the host of a running agent is disconnected")

	cancelA()
	assert.ErrorIs(t, <-doneA, context.Canceled)
	doneA <- nil // for the cleanup
	h, err = st.Host(ctx, "h")
	require.NoError(t, err)
	assert.False(t, h.Connected, "the host of a stopped agent is connected")

	cancelC, doneC := run()
	<-st.subscribed // C runs
	h, err = st.Host(ctx, "h")
	require.NoError(t, err)
	assert.True(t, h.Connected, "the host of a running agent is disconnected")
	cancelC()
	assert.ErrorIs(t, <-doneC, context.Canceled)
}
