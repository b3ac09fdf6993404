//go:build linux

package wake_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/wake"
)

// TestConcurrentRequestsStartOnce: 200 concurrent requests to a sleeping
// unit start it once, and every one is served by that process.
func TestConcurrentRequestsStartOnce(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	var starts atomic.Int32
	u, err := g.Add(httpSpec(t, "web", wake.ModeStop, &starts))
	require.NoError(t, err)
	srv := httptest.NewServer(u.Handler(wake.ProxyOptions{}))
	t.Cleanup(srv.Close)

	const n = 200
	bodies := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			code, body := get(t, srv.URL+"/")
			assert.Equal(t, 200, code, body)
			bodies <- body
		})
	}
	wg.Wait()
	close(bodies)
	pids := map[string]int{}
	for b := range bodies {
		pids[b]++
	}
	assert.Len(t, pids, 1, "served by more than one process: %v", pids)
	assert.Equal(t, int32(1), starts.Load(), "commands made")
	st := u.Status()
	assert.Equal(t, 1, st.ColdStarts)
	assert.Equal(t, 1, st.Attempts)
	assert.Equal(t, wake.Ready, st.State)
	assert.Contains(t, st.Woke.Why, "GET / from 127.0.0.1:")
}

// TestCallerCancellationDoesNotAbortTheWake: a caller that gives up gets
// its ctx's error, and the attempt goes on for the others: one start.
func TestCallerCancellationDoesNotAbortTheWake(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	var starts atomic.Int32
	probing := make(chan struct{}, 1)
	proceed := make(chan struct{})
	u, err := g.Add(wake.Spec{
		ID:      "slow",
		Command: shCommand("exec sleep 1000", &starts),
		Probe: wake.FuncProbe(func(ctx context.Context, _ *processes.Session) error {
			select {
			case probing <- struct{}{}:
			default:
			}
			select {
			case <-proceed:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}),
	})
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(t.Context())
	first := make(chan error, 1)
	go func() { first <- u.Wake(ctx) }()
	recv(t, probing)
	cancel()
	assert.ErrorIs(t, recv(t, first), context.Canceled)
	assert.Equal(t, wake.Waking, u.State(), "the attempt was aborted")

	second := make(chan error, 1)
	go func() { second <- u.Wake(t.Context()) }()
	close(proceed)
	require.NoError(t, recv(t, second))
	assert.Equal(t, wake.Ready, u.State())
	assert.Equal(t, int32(1), starts.Load())
	assert.Equal(t, 1, u.Status().Attempts)
}

// TestIdleBoundary: on a mock clock, a unit idle for exactly its timeout
// stays awake, and one nanosecond more puts it to sleep; SleepIn counts
// down to it.
func TestIdleBoundary(t *testing.T) {
	c := clock.NewMock()
	m := newManager(t, processes.WithClock(c))
	g := newGroup(t, m, wake.WithSweepInterval(time.Hour))
	const idle = 30 * time.Second
	u, err := g.Add(wake.Spec{ID: "u", Command: shCommand("exec sleep 1000", nil), IdleTimeout: idle})
	require.NoError(t, err)
	_, ok := u.SleepIn()
	assert.False(t, ok, "an asleep unit is not due to sleep")
	require.NoError(t, u.Wake(t.Context()))
	pid := u.Status().Pid
	left, ok := u.SleepIn()
	assert.True(t, ok)
	assert.Equal(t, idle, left)

	c.Add(idle - time.Second)
	left, _ = u.SleepIn()
	assert.Equal(t, time.Second, left)
	c.Add(time.Second)
	left, ok = u.SleepIn()
	assert.True(t, ok)
	assert.Zero(t, left)
	g.Sweep()
	assert.Equal(t, wake.Ready, u.State(), "slept when idle for exactly the timeout")

	c.Add(time.Nanosecond)
	g.Sweep()
	st := u.Status()
	assert.Equal(t, wake.Asleep, st.State)
	assert.Equal(t, c.Now(), st.Slept.At)
	assert.Equal(t, "idle for 30.000000001s > 30s", st.Slept.Why)
	proctest.RequireGone(t, pid)
	evs := u.Events()
	require.NotEmpty(t, evs)
	last := evs[len(evs)-1]
	assert.Equal(t, wake.EventAsleep, last.Kind)
	assert.Equal(t, "stopped: idle for 30.000000001s > 30s", last.Message)
}

// TestWakeOfAReadyUnitIsActivity: every Wake counts as activity, as the
// package says, one of a unit already ready too: a caller that wakes the
// unit for each piece of work keeps it awake while the work comes more
// often than the idle timeout.
func TestWakeOfAReadyUnitIsActivity(t *testing.T) {
	c := clock.NewMock()
	m := newManager(t, processes.WithClock(c))
	g := newGroup(t, m, wake.WithSweepInterval(time.Hour))
	u, err := g.Add(wake.Spec{ID: "u", Command: shCommand("exec sleep 1000", nil), IdleTimeout: time.Minute})
	require.NoError(t, err)
	require.NoError(t, u.Wake(t.Context()))
	c.Add(50 * time.Second)
	require.NoError(t, u.Wake(t.Context()))
	assert.Equal(t, c.Now(), u.Status().LastActivity)
	c.Add(20 * time.Second)
	g.Sweep()
	assert.Equal(t, wake.Ready, u.State(), "slept 20s after a Wake, with an idle timeout of a minute")
}

// TestHoldKeepsAwake: a hold keeps an idle unit awake however long, its
// release counts as activity, and Sleep refuses a held unit.
func TestHoldKeepsAwake(t *testing.T) {
	c := clock.NewMock()
	m := newManager(t, processes.WithClock(c))
	g := newGroup(t, m, wake.WithSweepInterval(time.Hour))
	u, err := g.Add(wake.Spec{ID: "u", Command: shCommand("exec sleep 1000", nil), IdleTimeout: time.Minute})
	require.NoError(t, err)
	release := u.Hold()
	require.NoError(t, u.Wake(t.Context()))
	c.Add(time.Hour)
	g.Sweep()
	assert.Equal(t, wake.Ready, u.State())
	assert.ErrorIs(t, u.Sleep(t.Context()), wake.ErrHeld)
	_, ok := u.SleepIn()
	assert.False(t, ok, "a held unit is not due to sleep")
	release()
	release() // idempotent
	assert.Equal(t, 0, u.Status().Holds)
	assert.Equal(t, c.Now(), u.Status().LastActivity)
	c.Add(time.Minute)
	g.Sweep()
	assert.Equal(t, wake.Ready, u.State(), "the release started the idle window")
	c.Add(time.Nanosecond)
	g.Sweep()
	assert.Equal(t, wake.Asleep, u.State())
}

// TestWakeTimeoutAndFailure: a probe that never passes ends in
// ErrWakeTimeout, a program that exits at once in ErrExitedBeforeReady;
// either leaves the unit Failed, its process gone, and the next wake
// retries.
func TestWakeTimeoutAndFailure(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	var starts atomic.Int32
	never, err := g.Add(wake.Spec{
		ID: "never", Command: shCommand("echo started; exec sleep 1000", &starts),
		Probe:       wake.FuncProbe(func(context.Context, *processes.Session) error { return errors.New("not yet") }),
		WakeTimeout: 100 * time.Millisecond,
	})
	require.NoError(t, err)
	err = never.Wake(t.Context())
	require.ErrorIs(t, err, wake.ErrWakeTimeout)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "not yet")
	st := never.Status()
	assert.Equal(t, wake.Failed, st.State)
	assert.ErrorIs(t, st.Err, wake.ErrWakeTimeout)
	assert.Zero(t, st.Pid, "the failed process is kept")
	assert.Equal(t, wake.EventError, never.Events()[len(never.Events())-1].Kind)
	require.ErrorIs(t, never.Wake(t.Context()), wake.ErrWakeTimeout)
	assert.Equal(t, int32(2), starts.Load(), "the next wake retried")

	exits, err := g.Add(wake.Spec{ID: "exits", Command: helperCommand("exit", nil), Upstream: freeAddr(t)})
	require.NoError(t, err)
	err = exits.Wake(t.Context())
	require.ErrorIs(t, err, wake.ErrExitedBeforeReady)
	assert.Contains(t, err.Error(), "exit status 3")
	assert.Equal(t, wake.Failed, exits.State())
}

// TestProcessExitWhileReady: a ready unit whose process exits is asleep,
// says why, and the next wake starts it again.
func TestProcessExitWhileReady(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	u, err := g.Add(wake.Spec{ID: "u", Command: shCommand("read x; exit 4", nil)})
	require.NoError(t, err)
	require.NoError(t, u.Wake(t.Context()))
	sub := u.Subscribe()
	for {
		e, err := sub.Next(t.Context())
		require.NoError(t, err)
		if e.Kind == wake.EventReady {
			break
		}
	}
	_, err = u.Session().Write([]byte("\n"))
	require.NoError(t, err)
	e, err := sub.Next(t.Context())
	require.NoError(t, err)
	assert.Equal(t, wake.EventAsleep, e.Kind)
	assert.Equal(t, "process exited: exit status 4", e.Message)
	st := u.Status()
	assert.Equal(t, wake.Asleep, st.State)
	assert.Equal(t, "process exited: exit status 4", st.Slept.Why)
	require.NoError(t, u.Wake(t.Context()))
	assert.Equal(t, 2, u.Status().ColdStarts)
}

// TestMaxConcurrentWakes: with a bound of 2, four units woken together
// never have more than two cold starts in flight, and all wake.
func TestMaxConcurrentWakes(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m, wake.WithMaxConcurrentWakes(2))
	var inFlight, most atomic.Int32
	entered := make(chan struct{}, 4)
	proceed := make(chan struct{})
	probe := wake.FuncProbe(func(ctx context.Context, _ *processes.Session) error {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			old := most.Load()
			if n <= old || most.CompareAndSwap(old, n) {
				break
			}
		}
		entered <- struct{}{}
		select {
		case <-proceed:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	var units []*wake.Unit
	for _, id := range []string{"a", "b", "c", "d"} {
		u, err := g.Add(wake.Spec{ID: id, Command: shCommand("exec sleep 1000", nil), Probe: probe})
		require.NoError(t, err)
		units = append(units, u)
	}
	errs := make(chan error, len(units))
	for _, u := range units {
		go func() { errs <- u.Wake(t.Context()) }()
	}
	recv(t, entered)
	recv(t, entered)
	require.Eventually(t, func() bool {
		for _, u := range units {
			if u.State() != wake.Waking {
				return false
			}
		}
		return true
	}, 20*time.Second, time.Millisecond)
	waking := 0
	for _, u := range units {
		if st := u.Status(); st.State == wake.Waking && st.ColdStarts == 0 {
			waking++
		}
	}
	assert.Equal(t, 2, waking, "units waiting for a slot without a process")
	close(proceed)
	for range units {
		require.NoError(t, recv(t, errs))
	}
	assert.Equal(t, int32(2), most.Load())
}

// TestSleepReturnsWhenCtxEnds: a caller of Sleep whose ctx ends gets its
// error while the stop goes on: a child that ignores SIGTERM is killed
// after the Manager's kill grace, and the unit ends asleep.
func TestSleepReturnsWhenCtxEnds(t *testing.T) {
	m := newManager(t, processes.WithKillGrace(300*time.Millisecond))
	g := newGroup(t, m)
	u, err := g.Add(wake.Spec{ID: "stubborn", Command: shCommand(`trap "" TERM; echo ready; while :; do sleep 0.01; done`, nil),
		Probe: wake.OutputProbe(regexp.MustCompile("ready"))})
	require.NoError(t, err)
	require.NoError(t, u.Wake(t.Context()))
	pid := u.Status().Pid
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	assert.ErrorIs(t, u.Sleep(ctx), context.Canceled)
	require.Eventually(t, func() bool { return u.State() == wake.Asleep }, 20*time.Second, time.Millisecond)
	proctest.RequireGone(t, pid)
}

// TestExitedProcessTreeGoneBeforeAsleep: when a ready unit's process
// exits and leaves a child serving on the unit's Upstream (a crashed
// master and its worker), the unit is asleep only once that child is
// gone, so the next wake starts afresh rather than fail with
// ErrAddrInUse against the remains of the last incarnation.
func TestExitedProcessTreeGoneBeforeAsleep(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	addr := freeAddr(t)
	var starts atomic.Int32
	u, err := g.Add(wake.Spec{
		ID: "master",
		Command: func(context.Context) (*exec.Cmd, error) {
			starts.Add(1)
			// The worker serves; the master waits for it.
			cmd := exec.Command("sh", "-c", `"$0" -test.run='^$' </dev/null >/dev/null 2>&1 & echo worker $!; wait`, os.Args[0])
			cmd.Env = append(os.Environ(), helperEnv+"=http", "WAKE_ADDR="+addr, "GORACE=atexit_sleep_ms=0")
			return cmd, nil
		},
		Upstream: addr,
	})
	require.NoError(t, err)
	require.NoError(t, u.Wake(t.Context()))
	sub := u.Subscribe()
	var worker int
	_, err = fmt.Sscanf(waitOutputLine(t, u.Session(), "worker "), "worker %d", &worker)
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(u.Status().Pid, syscall.SIGKILL))
	for {
		e, err := sub.Next(t.Context())
		require.NoError(t, err)
		if e.Kind == wake.EventAsleep {
			break
		}
	}
	p, ok := proctest.Stat(worker)
	assert.False(t, ok && p.State != "Z", "the worker of the exited master still runs (%s) when the unit is asleep", p.State)
	require.NoError(t, u.Wake(t.Context()), "the next wake found the last incarnation's worker")
	assert.Equal(t, int32(2), starts.Load())
}
