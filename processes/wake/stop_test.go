//go:build linux

package wake_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
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

func init() { platformHelpers["traced"] = runTraced }

// runTraced is the "traced" helper: the HTTP server, after starting
// "sleep 1000" under its own ptrace, which it continues once and never
// waits for again: a SIGSTOP leaves that child in a tracing stop ("t"),
// never in a stopped state ("T"), as a program under a debugger is.
func runTraced() {
	runtime.LockOSThread()
	cmd := exec.Command("sleep", "1000")
	cmd.SysProcAttr = &syscall.SysProcAttr{Ptrace: true}
	if err := cmd.Start(); err != nil {
		fmt.Println("start:", err)
		os.Exit(1)
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(cmd.Process.Pid, &ws, 0, nil); err != nil || !ws.Stopped() {
		fmt.Println("wait4:", err, ws)
		os.Exit(1)
	}
	if err := syscall.PtraceCont(cmd.Process.Pid, 0); err != nil {
		fmt.Println("ptrace:", err)
		os.Exit(1)
	}
	fmt.Println("traced", cmd.Process.Pid)
	serveHTTP()
}

// waitOutputLine waits until the output of s has a line starting with
// prefix, and returns that line.
func waitOutputLine(t *testing.T, s *processes.Session, prefix string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	out := ""
	for since := 0; ; {
		o := s.Output(since)
		for _, c := range o.Chunks {
			out += string(c.Data)
			since = c.Seq
		}
		if i := strings.Index(out, prefix); i >= 0 {
			if j := strings.IndexByte(out[i:], '\n'); j >= 0 {
				return out[i : i+j]
			}
		}
		require.True(t, o.Alive, "exited before printing %q: %q", prefix, out)
		require.NoError(t, s.WaitOutput(ctx, since), "waiting for %q in %q", prefix, out)
	}
}

// stubbornScript prints "ready", and on SIGTERM prints "term" and waits
// for a line on its stdin before it exits: the test decides when a
// graceful stop ends.
const stubbornScript = `trap 'echo term; read x; exit 0' TERM; echo ready; while :; do sleep 0.01; done`

// TestSleepOfATreeThatWillNotStop: a pause that cannot take effect (a
// member of the tree in a tracing stop, as a program under a debugger
// is) is given up after the unit's SleepTimeout: the tree is terminated
// instead, the unit is asleep with nothing kept, and the next request
// starts it afresh. Before, the sleep waited for ever, and with it every
// request to the unit and the group's idle sweep.
func TestSleepOfATreeThatWillNotStop(t *testing.T) {
	m := newManager(t, processes.WithKillGrace(200*time.Millisecond))
	g := newGroup(t, m)
	addr := freeAddr(t)
	u, err := g.Add(wake.Spec{
		ID: "traced", Command: helperCommand("traced", nil, "WAKE_ADDR="+addr), Upstream: addr,
		Mode: wake.ModePause, SleepTimeout: 100 * time.Millisecond,
	})
	require.NoError(t, err)
	srv := httptest.NewServer(u.Handler(wake.ProxyOptions{}))
	t.Cleanup(srv.Close)
	code, body := get(t, srv.URL+"/")
	require.Equal(t, 200, code, body)
	first := pidOf(t, body)
	traced := pidOf(t, "hello from "+strings.TrimPrefix(waitOutputLine(t, u.Session(), "traced "), "traced "))

	slept := make(chan error, 1)
	go func() { slept <- u.Sleep(t.Context()) }()
	require.NoError(t, recv(t, slept))
	st := u.Status()
	assert.Equal(t, wake.Asleep, st.State)
	assert.False(t, st.Kept, "a tree that would not stop is kept")
	assert.Zero(t, st.Pid)
	evs := u.Events()
	require.NotEmpty(t, evs)
	assert.Contains(t, evs[len(evs)-1].Message, "stopped (pause failed: the tree did not stop within 100ms)")
	proctest.RequireGone(t, first, traced)

	code, body = get(t, srv.URL+"/")
	require.Equal(t, 200, code, body)
	assert.NotEqual(t, first, pidOf(t, body))
	assert.Equal(t, 2, u.Status().ColdStarts)
}

// TestSweepSleepsUnitsTogether: a unit whose stop takes long (a program
// that handles SIGTERM slowly) does not hold back the sleep of the other
// units due in the same sweep.
func TestSweepSleepsUnitsTogether(t *testing.T) {
	c := clock.NewMock()
	m := newManager(t, processes.WithClock(c), processes.WithKillGrace(time.Hour))
	g := newGroup(t, m, wake.WithSweepInterval(time.Hour))
	slow, err := g.Add(wake.Spec{ID: "slow", Command: shCommand(stubbornScript, nil), IdleTimeout: time.Minute})
	require.NoError(t, err)
	quick, err := g.Add(wake.Spec{ID: "quick", Command: shCommand("exec sleep 1000", nil), IdleTimeout: time.Minute})
	require.NoError(t, err)
	require.NoError(t, slow.Wake(t.Context()))
	require.NoError(t, quick.Wake(t.Context()))
	s := slow.Session()
	waitOutputLine(t, s, "ready")

	c.Add(time.Minute + time.Nanosecond)
	sub := quick.Subscribe()
	swept := make(chan struct{})
	go func() { g.Sweep(); close(swept) }()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for {
		e, err := sub.Next(ctx)
		require.NoError(t, err, "quick never slept while slow was being stopped")
		if e.Kind == wake.EventAsleep {
			break
		}
	}
	assert.Equal(t, wake.Asleep, quick.State())
	waitOutputLine(t, s, "term")
	assert.Equal(t, wake.Sleeping, slow.State())
	_, err = s.Write([]byte("\n"))
	require.NoError(t, err)
	recv(t, swept)
	assert.Equal(t, wake.Asleep, slow.State())
}

// TestShutdownTerminatesUnitsTogether: Shutdown sends the graceful
// signal to every unit at once, rather than one unit after the end of
// the previous one's grace.
func TestShutdownTerminatesUnitsTogether(t *testing.T) {
	m := newManager(t, processes.WithKillGrace(time.Hour))
	g := wake.NewGroup(m)
	var sessions []*processes.Session
	for _, id := range []string{"a", "b", "c"} {
		u, err := g.Add(wake.Spec{ID: id, Command: shCommand(stubbornScript, nil)})
		require.NoError(t, err)
		require.NoError(t, u.Wake(t.Context()))
		waitOutputLine(t, u.Session(), "ready")
		sessions = append(sessions, u.Session())
	}
	done := make(chan error, 1)
	go func() { done <- g.Shutdown(t.Context()) }()
	for _, s := range sessions {
		waitOutputLine(t, s, "term")
	}
	for _, s := range sessions {
		_, err := s.Write([]byte("\n"))
		require.NoError(t, err)
	}
	require.NoError(t, recv(t, done))
	for _, s := range sessions {
		proctest.RequireGone(t, s.Pid())
	}
}

// TestShutdownCtxEndKillsWhatIsLeft: when Shutdown's ctx ends, every
// process still being stopped gets SIGKILL: a ready unit's, one whose
// wake failed and is being stopped, and one put to sleep (ModeStop), all
// three handling SIGTERM for ever.
func TestShutdownCtxEndKillsWhatIsLeft(t *testing.T) {
	m := newManager(t, processes.WithKillGrace(time.Hour))
	g := wake.NewGroup(m)
	ready, err := g.Add(wake.Spec{ID: "ready", Command: shCommand(stubbornScript, nil)})
	require.NoError(t, err)
	require.NoError(t, ready.Wake(t.Context()))
	rs := ready.Session()
	waitOutputLine(t, rs, "ready")

	sleeping, err := g.Add(wake.Spec{ID: "sleeping", Command: shCommand(stubbornScript, nil)})
	require.NoError(t, err)
	require.NoError(t, sleeping.Wake(t.Context()))
	ss := sleeping.Session()
	waitOutputLine(t, ss, "ready")
	go func() { _ = sleeping.Sleep(context.Background()) }()
	waitOutputLine(t, ss, "term")

	probing := make(chan *processes.Session, 1)
	waking, err := g.Add(wake.Spec{ID: "waking", Command: shCommand(stubbornScript, nil),
		Probe: wake.FuncProbe(func(ctx context.Context, s *processes.Session) error {
			select {
			case probing <- s:
			default:
			}
			<-ctx.Done()
			return ctx.Err()
		})})
	require.NoError(t, err)
	woke := make(chan error, 1)
	go func() { woke <- waking.Wake(t.Context()) }()
	ws := recv(t, probing)
	waitOutputLine(t, ws, "ready")

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- g.Shutdown(ctx) }()
	waitOutputLine(t, rs, "term")
	waitOutputLine(t, ws, "term")
	cancel()
	assert.ErrorIs(t, recv(t, done), context.Canceled)
	proctest.RequireGone(t, rs.Pid(), ss.Pid(), ws.Pid())
	assert.ErrorIs(t, recv(t, woke), wake.ErrClosed)
	require.NoError(t, g.Shutdown(t.Context()), "the second Shutdown waits for the first")
}

// TestShutdownDuringASweep: Shutdown returns by the end of its ctx while
// the idle sweep is stopping a unit whose program handles SIGTERM for
// ever, which then gets SIGKILL: before, Shutdown waited for the sweep,
// and so for the Manager's whole kill grace.
func TestShutdownDuringASweep(t *testing.T) {
	c := clock.NewMock()
	m := newManager(t, processes.WithClock(c), processes.WithKillGrace(time.Hour))
	g := wake.NewGroup(m, wake.WithSweepInterval(time.Minute))
	u, err := g.Add(wake.Spec{ID: "stubborn", Command: shCommand(stubbornScript, nil), IdleTimeout: time.Second})
	require.NoError(t, err)
	require.NoError(t, u.Wake(t.Context()))
	s := u.Session()
	waitOutputLine(t, s, "ready")
	c.Add(time.Minute) // the sweeper's tick: it stops the idle unit
	waitOutputLine(t, s, "term")

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- g.Shutdown(ctx) }()
	cancel()
	assert.ErrorIs(t, recv(t, done), context.Canceled)
	proctest.RequireGone(t, s.Pid())
	require.NoError(t, g.Shutdown(t.Context()))
	assert.Equal(t, wake.Asleep, u.State())
}

// TestShutdownStopsDependentsFirst: Shutdown terminates a dependent
// before its dependency, as docker compose stops services, so that the
// dependent's graceful stop (a flush, say) still finds its dependency:
// before, both got SIGTERM at once. The dependency's SIGTERM handler
// prints whether the dependent, which takes a moment to stop, is still
// running.
func TestShutdownStopsDependentsFirst(t *testing.T) {
	m := newManager(t)
	g := wake.NewGroup(m)
	webpid := filepath.Join(t.TempDir(), "webpid")
	_, err := g.AddAll(
		wake.Spec{ID: "db", Command: shCommand(`trap 'if kill -0 "$(cat `+webpid+`)" 2>/dev/null; then echo term early; else echo term late; fi; exit 0' TERM; echo ready; while :; do sleep 0.01; done`, nil)},
		wake.Spec{ID: "web", Command: shCommand(`echo $$ > `+webpid+`; trap 'echo term; sleep 0.3; exit 0' TERM; echo ready; while :; do sleep 0.01; done`, nil),
			DependsOn: []wake.Dependency{{Unit: "db"}}},
	)
	require.NoError(t, err)
	web, _ := g.Unit("web")
	db, _ := g.Unit("db")
	require.NoError(t, web.Wake(t.Context()))
	ws, ds := web.Session(), db.Session()
	waitOutputLine(t, ws, "ready")
	waitOutputLine(t, ds, "ready")
	require.NoError(t, g.Shutdown(t.Context()))
	assert.Equal(t, "term late", waitOutputLine(t, ds, "term "))
	proctest.RequireGone(t, ws.Pid(), ds.Pid())
}

// TestWakeDuringShutdown: once Shutdown began, Wake returns ErrClosed
// for every unit, a ready one included (the HTTP front answered 503
// already, while Wake, and so the TCP front, said the unit was ready
// while its process was about to be terminated).
func TestWakeDuringShutdown(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	_, err := g.AddAll(
		wake.Spec{ID: "db", Command: shCommand("exec sleep 1000", nil)},
		// Outlives its SIGTERM, so db, stopped after it, stays ready for
		// the Manager's kill grace.
		wake.Spec{ID: "web", Command: shCommand(`trap 'echo term' TERM; echo ready; while :; do sleep 0.01; done`, nil),
			DependsOn: []wake.Dependency{{Unit: "db"}}},
	)
	require.NoError(t, err)
	web, _ := g.Unit("web")
	db, _ := g.Unit("db")
	require.NoError(t, web.Wake(t.Context()))
	ws, ds := web.Session(), db.Session()
	waitOutputLine(t, ws, "ready")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- g.Shutdown(ctx) }()
	waitOutputLine(t, ws, "term")
	require.Equal(t, wake.Ready, db.State(), "db is stopped after web is gone")
	assert.ErrorIs(t, db.Wake(t.Context()), wake.ErrClosed)
	assert.ErrorIs(t, web.Wake(t.Context()), wake.ErrClosed)
	cancel()
	assert.ErrorIs(t, recv(t, errc), context.Canceled)
	proctest.RequireGone(t, ws.Pid(), ds.Pid())
}

// TestShutdownIsGracefulWithCommandContext: a Command that gives its ctx
// to exec.CommandContext, as Spec.Command allows, still gets Shutdown's
// graceful stop, a dependent's before its dependencies': the context
// does not end (and os/exec does not SIGKILL the process) before
// Shutdown has stopped the unit.
func TestShutdownIsGracefulWithCommandContext(t *testing.T) {
	m := newManager(t)
	g := wake.NewGroup(m)
	webpid := filepath.Join(t.TempDir(), "webpid")
	var mu sync.Mutex
	var ctxs []context.Context
	withCtx := func(script string) func(context.Context) (*exec.Cmd, error) {
		return func(ctx context.Context) (*exec.Cmd, error) {
			mu.Lock()
			ctxs = append(ctxs, ctx)
			mu.Unlock()
			return exec.CommandContext(ctx, "sh", "-c", script), nil
		}
	}
	_, err := g.AddAll(
		wake.Spec{ID: "db", Command: withCtx(`trap 'if kill -0 "$(cat ` + webpid + `)" 2>/dev/null; then echo term early; else echo term late; fi; exit 0' TERM; echo ready; while :; do sleep 0.01; done`)},
		wake.Spec{ID: "web", Command: withCtx(`echo $$ > ` + webpid + `; trap 'echo term; sleep 0.3; exit 0' TERM; echo ready; while :; do sleep 0.01; done`),
			DependsOn: []wake.Dependency{{Unit: "db"}}},
	)
	require.NoError(t, err)
	web, _ := g.Unit("web")
	db, _ := g.Unit("db")
	require.NoError(t, web.Wake(t.Context()))
	ws, ds := web.Session(), db.Session()
	waitOutputLine(t, ws, "ready")
	waitOutputLine(t, ds, "ready")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, ctxs, 2)
	for _, ctx := range ctxs {
		assert.NoError(t, ctx.Err(), "the Command's ctx ended under its running process")
	}
	require.NoError(t, g.Shutdown(t.Context()))
	for _, ctx := range ctxs {
		assert.Error(t, ctx.Err(), "the Command's ctx outlived its process")
	}
	st, _ := ws.ExitStatus()
	assert.Equal(t, 0, st.Code, "web: %v", st)
	st, _ = ds.ExitStatus()
	assert.Equal(t, 0, st.Code, "db: %v", st)
	assert.Equal(t, "term late", waitOutputLine(t, ds, "term "))
	proctest.RequireGone(t, ws.Pid(), ds.Pid())
}

// TestCommandContextEndsWithTheProcess: the ctx a Command gets ends once
// its process is stopped: put to sleep by ModeStop, or failed to wake.
func TestCommandContextEndsWithTheProcess(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	ctxs := make(chan context.Context, 2)
	command := func(ctx context.Context) (*exec.Cmd, error) {
		ctxs <- ctx
		return exec.CommandContext(ctx, "sleep", "1000"), nil
	}
	stops, err := g.Add(wake.Spec{ID: "stops", Command: command})
	require.NoError(t, err)
	require.NoError(t, stops.Wake(t.Context()))
	ctx := recv(t, ctxs)
	assert.NoError(t, ctx.Err())
	require.NoError(t, stops.Sleep(t.Context()))
	assert.Error(t, ctx.Err(), "asleep in ModeStop")

	fails, err := g.Add(wake.Spec{ID: "fails", Command: command, Probe: neverReady, WakeTimeout: 50 * time.Millisecond})
	require.NoError(t, err)
	require.ErrorIs(t, fails.Wake(t.Context()), wake.ErrWakeTimeout)
	assert.Error(t, recv(t, ctxs).Err(), "failed to wake")
}

// TestAttemptThatOutlivesShutdownLeavesNothing: a wake whose Command
// returns only after Shutdown returned at the end of its ctx is not
// ready on its own: its process, started then, is terminated and the
// wake fails with ErrClosed.
func TestAttemptThatOutlivesShutdownLeavesNothing(t *testing.T) {
	m := newManager(t)
	g := wake.NewGroup(m)
	entered, proceed := make(chan struct{}), make(chan struct{})
	u, err := g.Add(wake.Spec{ID: "slow", Probe: wake.StartedProbe(),
		Command: func(context.Context) (*exec.Cmd, error) {
			close(entered)
			<-proceed // a Command that ignores its ctx
			return exec.Command("sleep", "1000"), nil
		}})
	require.NoError(t, err)
	woke := make(chan error, 1)
	go func() { woke <- u.Wake(t.Context()) }()
	recv(t, entered)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, g.Shutdown(ctx), context.Canceled)
	close(proceed)
	assert.ErrorIs(t, recv(t, woke), wake.ErrClosed, "the wake's own outcome")
	assert.NotEqual(t, wake.Ready, u.State())
	var pid int
	for _, e := range u.Events() {
		if e.Kind == wake.EventStarting {
			_, err := fmt.Sscanf(e.Message[strings.LastIndex(e.Message, "pid "):], "pid %d", &pid)
			require.NoError(t, err)
		}
	}
	require.NotZero(t, pid, "no start in %v", u.Events())
	proctest.RequireGone(t, pid)
	require.NoError(t, g.Shutdown(t.Context()))
}
