package pgstore_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/activity"
	"github.com/sessionkit/sessionkit/activity/pgstore"
)

// The helper mode of the test binary: with helperEnv=monitor, TestMain runs
// monitorHelper instead of the tests, as one server of a fleet.
const (
	helperEnv  = "PGSTORE_HELPER"
	helperURL  = "PGSTORE_HELPER_URL"  // the database, with its schema
	helperNow  = "PGSTORE_HELPER_NOW"  // the mock clock's time, Unix nanoseconds
	helperName = "PGSTORE_HELPER_NAME" // this server's name: it touches the sessions named after it
)

// The fleet of TestMonitorsInThreeProcesses.
const (
	fleetNamespace = "fleet"
	fleetIdle      = 1000 // idle sessions, each to be hibernated exactly once
	fleetActive    = 10   // sessions each server touches before the monitors run
	fleetTicks     = 3    // monitor ticks per server
)

// TestMonitorsInThreeProcesses: three servers, each a process with its own
// pool and Tracker, run their idle monitors over one database at once. Each
// of 1,000 idle sessions is hibernated exactly once with exactly one event,
// and the sessions one server touched (through write-behind, flushed) are
// hibernated by none.
func TestMonitorsInThreeProcesses(t *testing.T) {
	const servers = 3
	st, db := newStore(t)
	now := base.Add(2 * time.Hour)
	seed(t, db.Pool, fleetNamespace, fleetIdle, time.Minute, nil) // idle since base: 2h
	var active []string
	for s := range servers {
		for i := range fleetActive {
			name := fmt.Sprintf("active-server%d-%02d", s, i)
			active = append(active, name)
			_, err := st.Update(t.Context(), running(fleetNamespace, name, time.Minute)) // idle too, until touched
			require.NoError(t, err)
		}
	}

	type child struct {
		cmd    *exec.Cmd
		stdin  io.WriteCloser
		lines  chan string
		events []string
	}
	children := make([]*child, servers)
	for s := range children {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(),
			helperEnv+"=monitor", helperURL+"="+db.URL,
			helperNow+"="+strconv.FormatInt(now.UnixNano(), 10), helperName+"="+fmt.Sprintf("server%d", s))
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		require.NoError(t, err)
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		c := &child{cmd: cmd, stdin: stdin, lines: make(chan string, fleetIdle+100)}
		go func() {
			defer close(c.lines)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				c.lines <- sc.Text()
			}
		}()
		children[s] = c
		t.Cleanup(func() {
			_ = cmd.Process.Kill() // if the test failed midway; a no-op once it exited
			_ = cmd.Wait()
		})
	}
	// next returns a child's next line.
	next := func(s int) string {
		select {
		case line, ok := <-children[s].lines:
			require.True(t, ok, "server %d exited early", s)
			return line
		case <-time.After(time.Minute):
			t.Fatalf("server %d said nothing for a minute", s)
			return ""
		}
	}
	for s := range children {
		require.Equal(t, "ready", next(s), "server %d", s)
	}
	for s, c := range children { // all have touched and flushed: go
		_, err := io.WriteString(c.stdin, "go\n")
		require.NoError(t, err, "server %d", s)
	}
	for s, c := range children {
		for {
			line := next(s)
			if name, ok := strings.CutPrefix(line, "event "); ok {
				c.events = append(c.events, name)
				continue
			}
			require.Equal(t, "done", line, "server %d", s)
			break
		}
		require.NoError(t, c.cmd.Wait(), "server %d", s)
	}

	perName := map[string]int{}
	for s, c := range children {
		t.Logf("server %d hibernated %d sessions", s, len(c.events))
		for _, name := range c.events {
			perName[name]++
		}
	}
	for i := range fleetIdle {
		name := sessionName(i)
		assert.Equal(t, 1, perName[name], "got %d events for %s, want exactly 1", perName[name], name)
	}
	assert.Len(t, perName, fleetIdle, "got events for %d sessions, want %d", len(perName), fleetIdle)

	sessions, err := st.List(t.Context(), fleetNamespace)
	require.NoError(t, err)
	states := map[string]string{}
	for _, s := range sessions {
		states[s.Name] = s.State
	}
	for i := range fleetIdle {
		assert.Equal(t, activity.StateHibernated, states[sessionName(i)], "state of %s", sessionName(i))
	}
	for _, name := range active {
		assert.Equal(t, activity.StateRunning, states[name], "got %s, touched by its server, hibernated", name)
	}
}

// monitorHelper is one server of TestMonitorsInThreeProcesses. It touches
// its own sessions through write-behind and flushes, says "ready", waits for
// "go", runs its idle monitor for fleetTicks ticks of its mock clock, prints
// "event NAME" for each session it hibernated and "done", and returns the
// exit code.
func monitorHelper() int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "monitor helper:", err)
		return 1
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv(helperURL))
	if err != nil {
		return fail(err)
	}
	defer pool.Close()
	nanos, err := strconv.ParseInt(os.Getenv(helperNow), 10, 64)
	if err != nil {
		return fail(err)
	}
	c := clock.NewMock()
	c.Set(time.Unix(0, nanos))

	var outMu sync.Mutex
	say := func(line string) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Println(line)
	}
	logs := make(chan string, 100)
	tr := activity.NewTracker(pgstore.New(pool),
		activity.WithClock(c),
		activity.WithGracePeriod(time.Minute),
		activity.WithWriteBehind(time.Hour), // flushed by hand below
		activity.WithLogger(slog.New(chanHandler(logs))),
		activity.WithPublisher(activity.PublisherFunc(func(_ context.Context, e activity.Event) error {
			say("event " + e.Name)
			return nil
		})))

	me := os.Getenv(helperName)
	for i := range fleetActive {
		if err := tr.UpdateSessionActivity(ctx, fleetNamespace, fmt.Sprintf("active-%s-%02d", me, i)); err != nil {
			return fail(err)
		}
	}
	if err := tr.Flush(ctx); err != nil {
		return fail(err)
	}
	say("ready")
	if line, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil || line != "go\n" {
		return fail(fmt.Errorf("got %q, %v instead of go", line, err))
	}

	monCtx, stop := context.WithCancel(ctx)
	defer stop()
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		tr.StartIdleMonitor(monCtx, fleetNamespace, time.Second)
	}()
	waitLog := func(msg string) error {
		for {
			select {
			case got := <-logs:
				if got == msg {
					return nil
				}
				if strings.HasPrefix(got, "error ") {
					return fmt.Errorf("monitor: %s", got)
				}
			case <-time.After(time.Minute):
				return fmt.Errorf("no %q within a minute", msg)
			}
		}
	}
	if err := waitLog("activity: idle monitor started"); err != nil {
		return fail(err)
	}
	for range fleetTicks {
		c.Add(time.Second)
		if err := waitLog("activity: idle monitor tick"); err != nil {
			return fail(err)
		}
	}
	stop()
	<-returned
	if err := tr.Close(ctx); err != nil {
		return fail(err)
	}
	say("done")
	return 0
}

// chanHandler is a slog.Handler that sends each record's message, and
// "error MESSAGE: ERR" for errors, to a channel.
type chanHandler chan string

func (h chanHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h chanHandler) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	if r.Level >= slog.LevelError {
		r.Attrs(func(a slog.Attr) bool {
			msg = "error " + msg + ": " + a.Value.String()
			return a.Key != "err"
		})
	}
	h <- msg
	return nil
}

func (h chanHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h chanHandler) WithGroup(string) slog.Handler      { return h }
