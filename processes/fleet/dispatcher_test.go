package fleet_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/fleet"
)

// TestQueueFullIsAnError: a full queue refuses at once and stores
// nothing; a started dispatcher drains it.
func TestQueueFullIsAnError(t *testing.T) {
	st := fleet.NewMemoryStore()
	d := fleet.NewCommandDispatcher(st, fleet.DispatcherOptions{QueueCapacity: 2})
	assert.Equal(t, 2, d.GetQueueCapacity())
	for range 2 {
		require.NoError(t, d.DispatchCommand(&fleet.Command{HostID: "h", Kind: fleet.KindForget}))
	}
	assert.Equal(t, 2, d.GetQueueLength())
	c := &fleet.Command{ID: "third", HostID: "h", Kind: fleet.KindForget}
	err := d.DispatchCommand(c)
	require.ErrorIs(t, err, fleet.ErrQueueFull)
	_, err = st.Command(t.Context(), "third")
	assert.ErrorIs(t, err, fleet.ErrNotFound, "a refused command was stored")
	assert.ErrorIs(t, d.DispatchCommand(nil), fleet.ErrInvalid)
	assert.ErrorIs(t, d.DispatchCommand(&fleet.Command{}), fleet.ErrInvalid)

	sub, err := st.Subscribe(t.Context(), fleet.HostTopic("h"))
	require.NoError(t, err)
	defer sub.Close()
	d.SetWorkers(1)
	go d.Start()
	for range 2 {
		proctest.Recv(t, sub.C()) // each queued command is sent and its host notified
	}
	d.Stop()
	assert.Zero(t, d.GetQueueLength())
	sent, err := st.Commands(t.Context(), fleet.CommandFilter{States: []string{fleet.CommandSent}})
	require.NoError(t, err)
	assert.Len(t, sent, 2)
	assert.ErrorIs(t, d.DispatchCommand(&fleet.Command{HostID: "h"}), fleet.ErrStopped)
	d.Stop() // idempotent
}

// TestCommandLifecycle: a command dispatched to a host with an agent
// goes pending → sent → ack → completed, with each time set and one
// attempt, and does what it says (a forget).
func TestCommandLifecycle(t *testing.T) {
	f := newFleet(t, nil)
	h := startHost(t, f.st, "h1", 4, nil, nil)
	ctx := t.Context()
	s := &processes.Session{ID: "s1"}
	h.m.Register(s)
	done, err := f.st.Subscribe(ctx, fleet.DoneTopic)
	require.NoError(t, err)
	defer done.Close()
	c := &fleet.Command{ID: "forget-s1", HostID: "h1", SessionID: "s1", Kind: fleet.KindForget}
	require.NoError(t, f.disp.DispatchCommand(c))
	assert.Equal(t, fleet.CommandPending, c.State)
	for proctest.Recv(t, done.C()) != c.ID {
	}
	got, err := f.st.Command(ctx, c.ID)
	require.NoError(t, err)
	assert.Equal(t, fleet.CommandCompleted, got.State)
	assert.Equal(t, 1, got.Attempts)
	for name, at := range map[string]time.Time{"created": got.CreatedAt, "sent": got.SentAt, "acked": got.AckedAt, "done": got.DoneAt} {
		assert.False(t, at.IsZero(), "%s time not set", name)
	}
	assert.False(t, got.SentAt.Before(got.CreatedAt) || got.AckedAt.Before(got.SentAt) || got.DoneAt.Before(got.AckedAt), "times out of order: %+v", got)
	_, ok := h.m.Get("s1")
	assert.False(t, ok, "the forget was not executed")
}

// TestRetriesThenFailed: a command its host never claims is sent again
// each time its lease runs out, then failed after MaxAttempts; a start's
// session fails with it, releasing the seat.
func TestRetriesThenFailed(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewMock()
	st := fleet.NewMemoryStore()
	require.NoError(t, st.RegisterHost(ctx, fleet.Host{ID: "h", Capacity: 1}, clk.Now()))
	sel := fleet.NewAgentSelector(st, fleet.SelectorOptions{Clock: clk})
	_, err := sel.Place(ctx, nil, "s", "")
	require.NoError(t, err)
	d := fleet.NewCommandDispatcher(st, fleet.DispatcherOptions{Clock: clk, Lease: time.Minute, MaxAttempts: 3, Workers: 1})
	sub, err := st.Subscribe(ctx, fleet.HostTopic("h"))
	require.NoError(t, err)
	defer sub.Close()
	doneSub, err := st.Subscribe(ctx, fleet.DoneTopic)
	require.NoError(t, err)
	defer doneSub.Close()
	go d.Start()
	defer d.Stop()
	require.NoError(t, d.DispatchCommand(&fleet.Command{ID: "start-s", HostID: "h", SessionID: "s", Kind: fleet.KindStart}))
	for attempt := 1; attempt <= 3; attempt++ {
		// Each send notifies the host, and so does a send of a command
		// already sent (the start's recovery scan can queue the new
		// command a second time): wait for this attempt's.
		for {
			proctest.Recv(t, sub.C())
			c, err := st.Command(ctx, "start-s")
			require.NoError(t, err)
			require.LessOrEqual(t, c.Attempts, attempt, "sent again before its lease ran out")
			if c.Attempts == attempt {
				break
			}
		}
		require.NoError(t, d.DispatchPendingCommands(), "nothing is due yet")
		clk.Add(time.Minute + time.Second)
		require.NoError(t, d.DispatchPendingCommands())
	}
	assert.Equal(t, "start-s", proctest.Recv(t, doneSub.C()))
	c, err := st.Command(ctx, "start-s")
	require.NoError(t, err)
	assert.Equal(t, fleet.CommandFailed, c.State)
	assert.Equal(t, 3, c.Attempts)
	d.Stop() // the worker has marked the session once Stop returns
	rec, err := st.Session(ctx, "s")
	require.NoError(t, err)
	assert.Equal(t, fleet.SessionFailed, rec.State)
	h, err := st.Host(ctx, "h")
	require.NoError(t, err)
	assert.Zero(t, h.Seats)
}

// flakyStore fails the first Complete of each command, as a host whose
// database connection broke after it executed a command.
type flakyStore struct {
	fleet.Store
	mu     sync.Mutex
	failed map[string]bool
}

func (s *flakyStore) Complete(ctx context.Context, id, hostID string, result []byte, errText string, now time.Time) error {
	s.mu.Lock()
	first := !s.failed[id]
	s.failed[id] = true
	s.mu.Unlock()
	if first {
		return errors.New("connection reset")
	}
	return s.Store.Complete(ctx, id, hostID, result, errText, now)
}

// TestDeliveredTwiceExecutedOnce: a command executed but not completed
// (the completion was lost) is sent again after its lease, and the agent
// completes it without executing it again: the CommandID is the
// idempotency key. (A forget, which succeeds: a terminate of a session
// without a process fails, and is completed as failed again.)
// redelivery is an agent and a dispatcher over a store whose first
// completion of each command is lost, on a mock clock with a one-minute
// lease; runs counts each command's executions.
type redelivery struct {
	clk  *clock.Mock
	st   *flakyStore
	m    *processes.Manager
	a    *fleet.Agent
	d    *fleet.CommandDispatcher
	sub  fleet.Subscription
	runs map[string]int // read once the commands are final
}

func newRedelivery(t *testing.T) *redelivery {
	t.Helper()
	ctx := t.Context()
	r := &redelivery{clk: clock.NewMock(), st: &flakyStore{Store: fleet.NewMemoryStore(), failed: map[string]bool{}}, runs: map[string]int{}}
	r.m = processes.NewManager(0, processes.WithClock(r.clk))
	t.Cleanup(func() { require.NoError(t, r.m.Shutdown(context.Background())) })
	var mu sync.Mutex
	a, err := fleet.NewAgent(fleet.AgentOptions{Host: fleet.Host{ID: "h", Capacity: 1}, Store: r.st, Manager: r.m, Clock: r.clk,
		OnExecute: func(c fleet.Command) { mu.Lock(); r.runs[c.ID]++; mu.Unlock() }})
	require.NoError(t, err)
	require.NoError(t, a.Register(ctx))
	r.a = a
	r.d = fleet.NewCommandDispatcher(r.st, fleet.DispatcherOptions{Clock: r.clk, Lease: time.Minute})
	r.sub, err = r.st.Subscribe(ctx, fleet.HostTopic("h"))
	require.NoError(t, err)
	t.Cleanup(func() { r.sub.Close() })
	go r.d.Start()
	t.Cleanup(r.d.Stop)
	return r
}

func TestDeliveredTwiceExecutedOnce(t *testing.T) {
	ctx := t.Context()
	r := newRedelivery(t)
	clk, st, m, a, d, sub, runs := r.clk, r.st, r.m, r.a, r.d, r.sub, r.runs
	m.Register(&processes.Session{ID: "s"})
	require.NoError(t, d.DispatchCommand(&fleet.Command{ID: "sig", HostID: "h", SessionID: "s", Kind: fleet.KindForget}))
	proctest.Recv(t, sub.C())
	n, err := a.ClaimOnce(ctx)
	assert.Equal(t, 1, n)
	require.Error(t, err, "the first completion is lost")
	c, err := st.Command(ctx, "sig")
	require.NoError(t, err)
	require.Equal(t, fleet.CommandAck, c.State)

	clk.Add(time.Minute + time.Second)
	require.NoError(t, d.DispatchPendingCommands())
	proctest.Recv(t, sub.C())
	n, err = a.ClaimOnce(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	c, err = st.Command(ctx, "sig")
	require.NoError(t, err)
	assert.Equal(t, fleet.CommandCompleted, c.State)
	assert.Equal(t, 2, c.Attempts)
	assert.Equal(t, map[string]int{"sig": 1}, runs, "got executions per command")
}

// TestDeliveredAgainKeepsTheOutcome: a command whose execution failed and
// whose completion was lost is sent again; the agent does not execute it
// again, and completes it with the first execution's outcome (failed,
// with its error), not as a success.
func TestDeliveredAgainKeepsTheOutcome(t *testing.T) {
	ctx := t.Context()
	r := newRedelivery(t)
	clk, st, a, d, sub, runs := r.clk, r.st, r.a, r.d, r.sub, r.runs
	payload, err := json.Marshal(fleet.SignalPayload{Signal: "INT"})
	require.NoError(t, err)
	require.NoError(t, d.DispatchCommand(&fleet.Command{ID: "sig", HostID: "h", SessionID: "nope", Kind: fleet.KindSignal, Payload: payload}))
	proctest.Recv(t, sub.C())
	_, err = a.ClaimOnce(ctx)
	require.Error(t, err, "the first completion is lost")

	clk.Add(time.Minute + time.Second)
	require.NoError(t, d.DispatchPendingCommands())
	proctest.Recv(t, sub.C())
	n, err := a.ClaimOnce(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	c, err := st.Command(ctx, "sig")
	require.NoError(t, err)
	assert.Equal(t, fleet.CommandFailed, c.State, "a failed execution delivered again")
	assert.Contains(t, c.Error, "not found")
	assert.Equal(t, map[string]int{"sig": 1}, runs, "got executions per command")
}

// gatedStore holds every Send until release is closed, telling entered
// each time one begins.
type gatedStore struct {
	fleet.Store
	entered chan string
	release chan struct{}
}

func (s *gatedStore) Send(ctx context.Context, id string, now time.Time, lease time.Duration, maxAttempts int) (fleet.Command, error) {
	s.entered <- id
	<-s.release
	return s.Store.Send(ctx, id, now, lease, maxAttempts)
}

// TestRecoveryScanSkipsACommandBeingSent: a scan that reads a command
// pending while a worker sends it does not queue it again (it took a
// queue slot, and the command was sent twice).
func TestRecoveryScanSkipsACommandBeingSent(t *testing.T) {
	st := &gatedStore{Store: fleet.NewMemoryStore(), entered: make(chan string, 4), release: make(chan struct{})}
	d := fleet.NewCommandDispatcher(st, fleet.DispatcherOptions{QueueCapacity: 1, Workers: 1})
	go d.Start()
	defer d.Stop()
	var release sync.Once
	defer release.Do(func() { close(st.release) }) // before Stop, whatever fails
	require.NoError(t, d.DispatchCommand(&fleet.Command{ID: "a", HostID: "h", Kind: fleet.KindForget}))
	assert.Equal(t, "a", proctest.Recv(t, st.entered)) // a worker sends a; it is still pending in the store
	require.NoError(t, d.DispatchPendingCommands())
	assert.Zero(t, d.GetQueueLength(), "the scan queued the command being sent")
	require.NoError(t, d.DispatchCommand(&fleet.Command{ID: "b", HostID: "h", Kind: fleet.KindForget}), "the queue's one slot is free")
}

// TestAgentClockBehindKeepsItsLease: an agent whose clock runs an hour
// behind the dispatcher's claims a command and executes it within the
// lease the dispatcher gave: the dispatcher's recovery would not send
// it again meanwhile (the claim's lease, on the agent's clock, was over
// before it began), and the agent completes it on its first attempt.
func TestAgentClockBehindKeepsItsLease(t *testing.T) {
	ctx := t.Context()
	st := fleet.NewMemoryStore()
	dclk, aclk := clock.NewMock(), clock.NewMock()
	dclk.Set(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
	aclk.Set(dclk.Now().Add(-time.Hour))
	d := fleet.NewCommandDispatcher(st, fleet.DispatcherOptions{Clock: dclk, Lease: 30 * time.Second})
	m := processes.NewManager(0)
	t.Cleanup(func() { require.NoError(t, m.Shutdown(context.Background())) })
	var recoverable []fleet.Command
	var recoverErr error
	a, err := fleet.NewAgent(fleet.AgentOptions{Host: fleet.Host{ID: "h", Capacity: 1}, Store: st, Manager: m, Clock: aclk,
		OnExecute: func(fleet.Command) {
			// While it runs, what the dispatcher's recovery would send
			// again, a second later on its clock.
			recoverable, recoverErr = st.Recoverable(ctx, dclk.Now().Add(time.Second), 10)
		}})
	require.NoError(t, err)
	require.NoError(t, a.Register(ctx))
	sub, err := st.Subscribe(ctx, fleet.HostTopic("h"))
	require.NoError(t, err)
	defer sub.Close()
	go d.Start()
	defer d.Stop()
	require.NoError(t, d.DispatchCommand(&fleet.Command{ID: "c", HostID: "h", SessionID: "s", Kind: fleet.KindForget}))
	proctest.Recv(t, sub.C()) // sent

	n, err := a.ClaimOnce(ctx)
	require.NoError(t, err, "the agent's completion")
	require.Equal(t, 1, n)
	require.NoError(t, recoverErr)
	assert.Empty(t, recoverable, "recoverable while its agent ran it")
	c, err := st.Command(ctx, "c")
	require.NoError(t, err)
	assert.Equal(t, fleet.CommandCompleted, c.State)
	assert.Equal(t, 1, c.Attempts, "sent again while its agent ran it")
}
