package pgfleet_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/activity"
	"github.com/sessionkit/sessionkit/activity/pgstore"
	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/activitysync"
	"github.com/sessionkit/sessionkit/processes/fleet"
	"github.com/sessionkit/sessionkit/processes/fleet/pgfleet"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

// Environment of the helper modes.
const (
	envURL      = "FLEET_URL"      // the database, with the test's schema
	envHost     = "FLEET_HOST"     // host: its ID
	envCapacity = "FLEET_CAPACITY" // host: its seats
	envBatch    = "FLEET_BATCH"    // dispatch: how many starts to place and dispatch (0: recover only)
	envPause    = "FLEET_PAUSE"    // dispatch: after this many starts, say "paused" and wait to be killed
)

// out writes whole lines to stdout from any goroutine.
type out struct {
	mu sync.Mutex
	w  io.Writer
}

func (o *out) println(a ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintln(o.w, a...)
}

// reportingStore prints "done ID" after each successful Complete.
type reportingStore struct {
	fleet.Store
	o *out
}

func (s reportingStore) Complete(ctx context.Context, id, hostID string, result []byte, errText string, now time.Time) error {
	err := s.Store.Complete(ctx, id, hostID, result, errText, now)
	if err == nil {
		s.o.println("done", id)
	}
	return err
}

func runHelper(mode string) int {
	o := &out{w: os.Stdout}
	var err error
	switch mode {
	case "host":
		err = hostHelper(o)
	case "dispatch":
		err = dispatchHelper(o)
	default:
		err = fmt.Errorf("unknown helper mode %q", mode)
	}
	if err != nil {
		o.println("error", err)
		return 1
	}
	return 0
}

// hostHelper is a fleet host: a Manager, its httpapi handler on a
// loopback port, and an Agent reporting through an activitysync Bridge
// into pgstore's table. It prints "ready ADDR", then "started SID
// PID" for each session it starts, "exec CMD" for each command it
// executes and "done CMD" for each it completes. Each "beat" line on stdin
// makes it beat and report (Agent.Sync) and answer "beat ok"; it shuts
// down at the end of stdin. Its own heartbeat interval is an hour, so the
// test decides when it beats.
func hostHelper(o *out) error {
	ctx := context.Background()
	capacity, _ := strconv.Atoi(os.Getenv(envCapacity))
	pool, err := pgxpool.New(ctx, os.Getenv(envURL))
	if err != nil {
		return err
	}
	defer pool.Close()
	m := processes.NewManager(0, processes.WithKillGrace(time.Second))
	// The sessions' states and activity go to the activity Store of
	// package pgstore in the same schema, through the Bridge.
	if err := pgstore.Migrate(ctx, pool); err != nil {
		return err
	}
	bridge := activitysync.New(activity.NewTracker(pgstore.New(pool)), activitysync.Options{Sessions: m.All()})
	starter := &httpapi.Starter{Allow: func(*http.Request, *httpapi.StartRequest) error { return nil }}
	start := func(r *http.Request, m *processes.Manager) (*processes.Session, error) {
		s, err := starter.Start(r, m)
		if err == nil {
			o.println("started", s.ID, s.Pid())
		}
		return s, err
	}
	h := httpapi.NewHandler(m, httpapi.Options{Start: start})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	addr := "http://" + ln.Addr().String()
	a, err := fleet.NewAgent(fleet.AgentOptions{
		Host: fleet.Host{ID: os.Getenv(envHost), ClusterID: "c1", ClusterName: "test", Region: "local",
			Platform: runtime.GOOS, Capacity: capacity, Addr: addr},
		Store:             reportingStore{pgfleet.New(pool), o},
		Manager:           m,
		Handler:           h,
		HeartbeatInterval: time.Hour,
		PollInterval:      time.Second,
		OnExecute:         func(c fleet.Command) { o.println("exec", c.ID) },
		Bridge:            bridge,
	})
	if err != nil {
		return err
	}
	if err := a.Register(ctx); err != nil {
		return err
	}
	actx, cancel := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- a.Run(actx) }()
	o.println("ready", addr)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() == "beat" {
			if err := a.Sync(ctx); err != nil {
				o.println("beat", err)
			} else {
				o.println("beat ok")
			}
		}
	}
	cancel()
	<-ran
	_ = srv.Close()
	<-served
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	return m.Shutdown(sctx)
}

// dispatchHelper is a dispatcher process: it places FLEET_BATCH sessions
// and dispatches a start of /bin/true for each, printing "queued CMD"
// after each, then "idle"; with a batch of 0 it only recovers
// (CommandDispatcher.Start calls DispatchPendingCommands first). It runs
// until killed or the end of stdin.
func dispatchHelper(o *out) error {
	ctx := context.Background()
	n, _ := strconv.Atoi(os.Getenv(envBatch))
	pause, _ := strconv.Atoi(os.Getenv(envPause))
	pool, err := pgxpool.New(ctx, os.Getenv(envURL))
	if err != nil {
		return err
	}
	defer pool.Close()
	st := pgfleet.New(pool)
	d := fleet.NewCommandDispatcher(st, fleet.DispatcherOptions{QueueCapacity: 4096, Workers: 4, RecoverInterval: time.Second})
	started := make(chan struct{})
	go func() { defer close(started); d.Start() }()
	sel := fleet.NewAgentSelector(st, fleet.SelectorOptions{TTL: time.Hour})
	for i := range n {
		if pause > 0 && i == pause {
			// Mid-batch, whatever the machine's load: the test kills
			// the process here, with its workers still sending.
			o.println("paused")
			_, _ = io.Copy(io.Discard, os.Stdin)
			return nil
		}
		sid := fmt.Sprintf("k%04d", i)
		info, err := sel.Place(ctx, nil, sid, "")
		if err != nil {
			return err
		}
		body, _ := json.Marshal(httpapi.StartRequest{ID: sid, Argv: []string{"true"}})
		payload, _ := json.Marshal(fleet.StartPayload{Body: body, ClientID: sid})
		c := &fleet.Command{ID: "start-" + sid, HostID: info.AgentID, SessionID: sid, Kind: fleet.KindStart, Payload: payload}
		if err := d.DispatchCommand(c); err != nil {
			return err
		}
		o.println("queued", c.ID)
	}
	o.println("idle")
	_, _ = io.Copy(io.Discard, os.Stdin)
	d.Stop()
	<-started
	return nil
}

// events is what the helper processes of a test printed, shared by all.
type events struct {
	mu      sync.Mutex
	execs   map[string]int   // command → executions
	dones   map[string]int   // command → completions
	started map[string][]int // host → session pids
	sids    map[string]int   // session → starts
	queued  []string
	changed chan struct{}
}

func newEvents() *events {
	return &events{execs: map[string]int{}, dones: map[string]int{}, started: map[string][]int{}, sids: map[string]int{},
		changed: make(chan struct{}, 1)}
}

// wait blocks until cond holds, re-checking it after each line a helper
// prints (each wait for a line fails the test after ten seconds).
func (e *events) wait(t *testing.T, cond func(*events) bool) {
	t.Helper()
	for {
		e.mu.Lock()
		ok := cond(e)
		e.mu.Unlock()
		if ok {
			return
		}
		proctest.Recv(t, e.changed)
	}
}

// helper is one helper process of a test.
type helper struct {
	id     string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // lines other than those events records
	read   chan struct{}
	killed bool
}

// startHelper starts the test binary in a helper mode with env, records
// its lines in ev, and kills and reaps it when the test ends.
func startHelper(t *testing.T, ev *events, id, mode string, env ...string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{helperEnv + "=" + mode}, env...)...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	h := &helper{id: id, cmd: cmd, stdin: stdin, lines: make(chan string, 16), read: make(chan struct{})}
	go func() {
		defer close(h.read)
		defer close(h.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 0 {
				continue
			}
			ev.mu.Lock()
			recorded := true
			switch {
			case f[0] == "exec" && len(f) == 2:
				ev.execs[f[1]]++
			case f[0] == "done" && len(f) == 2:
				ev.dones[f[1]]++
			case f[0] == "queued" && len(f) == 2:
				ev.queued = append(ev.queued, f[1])
			case f[0] == "started" && len(f) == 3:
				pid, _ := strconv.Atoi(f[2])
				ev.started[id] = append(ev.started[id], pid)
				ev.sids[f[1]]++
			default:
				recorded = false
			}
			ev.mu.Unlock()
			select {
			case ev.changed <- struct{}{}:
			default:
			}
			if !recorded {
				h.lines <- sc.Text()
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	t.Cleanup(func() { h.stop(t) })
	return h
}

// line returns the helper's next unrecorded line.
func (h *helper) line(t *testing.T) string {
	t.Helper()
	return proctest.Recv(t, h.lines)
}

// beat makes a host beat and report, and waits for its answer.
func (h *helper) beat(t *testing.T) {
	t.Helper()
	_, err := io.WriteString(h.stdin, "beat\n")
	require.NoError(t, err)
	require.Equal(t, "beat ok", h.line(t), "host %s", h.id)
}

// kill SIGKILLs the helper and reaps it.
func (h *helper) kill(t *testing.T) {
	t.Helper()
	if h.killed {
		return
	}
	h.killed = true
	require.NoError(t, h.cmd.Process.Kill())
	for range h.lines {
	}
	<-h.read
	_ = h.cmd.Wait()
	proctest.RequireGone(t, h.cmd.Process.Pid)
}

// stop ends the helper's stdin, waits for it to exit and reaps it; one
// that does not exit within ten seconds is killed.
func (h *helper) stop(t *testing.T) {
	t.Helper()
	if h.killed {
		return
	}
	h.killed = true
	_ = h.stdin.Close()
	exited := make(chan struct{})
	go func() {
		for range h.lines {
		}
		<-h.read
		close(exited)
	}()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Errorf("helper %s did not exit at the end of its stdin; killing it", h.id)
		_ = h.cmd.Process.Kill()
		<-exited
	}
	if err := h.cmd.Wait(); err != nil {
		t.Errorf("helper %s: %v", h.id, err)
	}
	proctest.RequireGone(t, h.cmd.Process.Pid)
}
