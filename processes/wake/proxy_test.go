//go:build linux

package wake_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/wake"
)

// jsonError decodes a front's JSON error.
func jsonError(t *testing.T, body string) (msg, code string) {
	t.Helper()
	var e struct{ Error, Code string }
	require.NoError(t, json.Unmarshal([]byte(body), &e), "body %q", body)
	return e.Error, e.Code
}

// TestStreamingResponseKeepsAwake: a proxied event stream holds the unit
// awake past its idle timeout, on a mock clock, and its end starts the
// idle window.
func TestStreamingResponseKeepsAwake(t *testing.T) {
	c := clock.NewMock()
	m := newManager(t, processes.WithClock(c))
	g := newGroup(t, m, wake.WithSweepInterval(time.Hour))
	spec := httpSpec(t, "web", wake.ModeFreeze, nil)
	spec.IdleTimeout = time.Minute
	u, err := g.Add(spec)
	require.NoError(t, err)
	srv := httptest.NewServer(u.Handler(wake.ProxyOptions{}))
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/stream", nil)
	require.NoError(t, err)
	resp, err := client.Do(req)
	require.NoError(t, err)
	lines := bufio.NewScanner(resp.Body)
	require.True(t, lines.Scan())
	assert.Equal(t, "tick", lines.Text())

	c.Add(10 * time.Minute)
	g.Sweep()
	assert.Equal(t, wake.Ready, u.State(), "slept under an open stream")
	require.True(t, lines.Scan(), "the stream stopped: %v", lines.Err())
	assert.Equal(t, 1, u.Status().Holds)

	cancel()
	resp.Body.Close()
	require.Eventually(t, func() bool { return u.Status().Holds == 0 }, 20*time.Second, time.Millisecond)
	assert.Equal(t, c.Now(), u.Status().LastActivity, "the end of the stream is activity")
	c.Add(time.Minute + time.Nanosecond)
	g.Sweep()
	assert.Equal(t, wake.Asleep, u.State())
}

// TestUpgradedConnectionKeepsAwake: a connection upgraded through the
// front (a WebSocket's 101 Switching Protocols) carries bytes both ways
// and holds the unit past its idle timeout for as long as it is open;
// its end starts the idle window.
func TestUpgradedConnectionKeepsAwake(t *testing.T) {
	c := clock.NewMock()
	m := newManager(t, processes.WithClock(c))
	g := newGroup(t, m, wake.WithSweepInterval(time.Hour))
	spec := httpSpec(t, "web", wake.ModeFreeze, nil)
	spec.IdleTimeout = time.Minute
	u, err := g.Add(spec)
	require.NoError(t, err)
	srv := httptest.NewServer(u.Handler(wake.ProxyOptions{}))
	t.Cleanup(srv.Close)

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "GET /echo HTTP/1.1\r\nHost: web\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("got %s %s, want 101", resp.Status, b)
	}
	assert.Equal(t, "echo", resp.Header.Get("Upgrade"))

	c.Add(10 * time.Minute)
	g.Sweep()
	assert.Equal(t, wake.Ready, u.State(), "slept under an upgraded connection")
	_, err = io.WriteString(conn, "ping")
	require.NoError(t, err)
	b := make([]byte, 4)
	_, err = io.ReadFull(br, b)
	require.NoError(t, err)
	assert.Equal(t, "ping", string(b))
	assert.Equal(t, 1, u.Status().Holds)

	require.NoError(t, conn.Close())
	require.Eventually(t, func() bool { return u.Status().Holds == 0 }, 20*time.Second, time.Millisecond)
	assert.Equal(t, c.Now(), u.Status().LastActivity, "the end of the connection is activity")
	c.Add(time.Minute + time.Nanosecond)
	g.Sweep()
	assert.Equal(t, wake.Asleep, u.State())
}

// TestNonUserRequests: requests that are not the user's neither wake the
// unit nor count as activity; they are proxied while it is ready.
func TestNonUserRequests(t *testing.T) {
	c := clock.NewMock()
	m := newManager(t, processes.WithClock(c))
	g := newGroup(t, m, wake.WithSweepInterval(time.Hour))
	spec := httpSpec(t, "web", wake.ModeStop, nil)
	spec.IdleTimeout = time.Minute
	u, err := g.Add(spec)
	require.NoError(t, err)
	srv := httptest.NewServer(u.Handler(wake.ProxyOptions{
		IsUserRequest: func(r *http.Request) bool { return r.Header.Get("X-Health") == "" },
	}))
	t.Cleanup(srv.Close)

	code, body := get(t, srv.URL+"/", "X-Health", "1")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	_, ecode := jsonError(t, body)
	assert.Equal(t, "asleep", ecode)
	assert.Equal(t, wake.Asleep, u.State())
	assert.Zero(t, u.Status().Attempts, "a health check woke the unit")

	code, _ = get(t, srv.URL+"/")
	require.Equal(t, 200, code)
	woke := c.Now()
	c.Add(time.Minute)
	code, _ = get(t, srv.URL+"/", "X-Health", "1")
	assert.Equal(t, 200, code, "a health check of a ready unit is proxied")
	assert.Equal(t, woke, u.Status().LastActivity, "a health check counted as activity")
	c.Add(time.Nanosecond)
	g.Sweep()
	assert.Equal(t, wake.Asleep, u.State())
}

// TestStartPath: only the start path wakes the unit; other paths are
// refused while it sleeps and proxied once it is ready.
func TestStartPath(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	u, err := g.Add(httpSpec(t, "web", wake.ModeStop, nil))
	require.NoError(t, err)
	srv := httptest.NewServer(u.Handler(wake.ProxyOptions{StartPath: "/status"}))
	t.Cleanup(srv.Close)
	code, _ := get(t, srv.URL+"/")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	code, _ = get(t, srv.URL+"/statusfoo")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	// Paths that name another path through the start path do not wake it.
	for _, p := range []string{"/status/../", "/status/%2e%2e/index.html", "/status/./../x"} {
		code, _ = get(t, srv.URL+p)
		assert.Equal(t, http.StatusServiceUnavailable, code, p)
	}
	assert.Zero(t, u.Status().Attempts)
	code, _ = get(t, srv.URL+"/status/201")
	assert.Equal(t, 201, code)
	code, body := get(t, srv.URL+"/")
	assert.Equal(t, 200, code, body)
	assert.Equal(t, 1, u.Status().Attempts)
}

// TestFrontErrors: a wake that times out answers 504, one that fails
// 502, both as JSON; a route to no unit 404.
func TestFrontErrors(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	_, err := g.AddAll(
		wake.Spec{ID: "slow", Command: shCommand("exec sleep 1000", nil), Upstream: freeAddr(t), Probe: neverReady, WakeTimeout: 50 * time.Millisecond},
		wake.Spec{ID: "exits", Command: helperCommand("exit", nil), Upstream: freeAddr(t)},
		httpSpec(t, "web", wake.ModeStop, nil),
	)
	require.NoError(t, err)
	srv := httptest.NewServer(g.Handler(func(r *http.Request) string {
		id, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		return id
	}, wake.ProxyOptions{}))
	t.Cleanup(srv.Close)
	tests := []struct {
		path       string
		status     int
		code, text string
	}{
		{"/slow/", http.StatusGatewayTimeout, "wake_timeout", "wake timed out"},
		{"/exits/", http.StatusBadGateway, "wake_failed", "unit exits failed to wake"},
		{"/nope/", http.StatusNotFound, "not_found", "no unit nope"},
		{wake.DefaultEventsPath + "?unit=nope", http.StatusNotFound, "not_found", "no unit nope"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			status, body := get(t, srv.URL+tt.path)
			assert.Equal(t, tt.status, status)
			msg, code := jsonError(t, body)
			assert.Equal(t, tt.code, code)
			assert.Contains(t, msg, tt.text)
		})
	}

	// The route's unit is woken and proxied to; the event stream of each
	// unit is found by its "unit" parameter whatever the route says.
	status, body := get(t, srv.URL+"/web/page")
	assert.Equal(t, 200, status)
	assert.Contains(t, body, "hello from ")
	evs := readEvents(t, srv.URL+wake.DefaultEventsPath+"?unit=web")
	assert.Equal(t, []wake.EventKind{wake.EventStarting, wake.EventWaitingForReady, wake.EventReady}, kinds(evs))
	evs = readEvents(t, srv.URL+wake.DefaultEventsPath+"?unit=exits")
	require.NotEmpty(t, evs)
	assert.Equal(t, wake.EventError, evs[len(evs)-1].Kind)
	assert.Empty(t, evs[len(evs)-1].Message, "an error's text is a detail")
	exits, ok := g.Unit("exits")
	require.True(t, ok)
	require.Error(t, exits.Status().Err)
	assert.Contains(t, exits.Status().Err.Error(), "exit status 3")
}

// TestFrontErrorsSayNoMoreThanTheEvents: the JSON errors of a front are
// as public as its event stream, so without EventDetails they name the
// unit and the kind of failure, not the program's exit status and last
// output nor the upstream's address; with it they do. The upstream's
// error goes to ErrorLog either way.
func TestFrontErrorsSayNoMoreThanTheEvents(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	addr := freeAddr(t)
	_, err := g.AddAll(
		wake.Spec{ID: "leaks", Command: shCommand("echo token=s3cr3t >&2; exit 7", nil), Upstream: freeAddr(t)},
		// Ready at once, and nothing ever listens at its Upstream.
		wake.Spec{ID: "deaf", Command: shCommand("exec sleep 1000", nil), Upstream: addr, Probe: wake.StartedProbe()},
	)
	require.NoError(t, err)
	route := func(r *http.Request) string {
		id, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		return id
	}
	var logged strings.Builder
	var mu sync.Mutex
	errLog := log.New(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logged.Write(p)
	}), "", 0)
	for _, details := range []bool{false, true} {
		srv := httptest.NewServer(g.Handler(route, wake.ProxyOptions{EventDetails: details, ErrorLog: errLog}))
		t.Cleanup(srv.Close)
		t.Run("details="+strconv.FormatBool(details), func(t *testing.T) {
			status, body := get(t, srv.URL+"/leaks/")
			assert.Equal(t, http.StatusBadGateway, status)
			msg, code := jsonError(t, body)
			assert.Equal(t, "wake_failed", code)
			assert.Contains(t, msg, "leaks")
			for _, secret := range []string{"s3cr3t", "exit status 7"} {
				if details {
					assert.Contains(t, msg, secret)
				} else {
					assert.NotContains(t, msg, secret, "the public error says how the program failed")
				}
			}

			status, body = get(t, srv.URL+"/deaf/")
			assert.Equal(t, http.StatusBadGateway, status)
			msg, code = jsonError(t, body)
			assert.Equal(t, "upstream", code)
			assert.Contains(t, msg, "deaf")
			if details {
				assert.Contains(t, msg, addr)
			} else {
				assert.NotContains(t, msg, addr, "the public error names the upstream")
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, 2, strings.Count(logged.String(), addr), "ErrorLog got %q", logged.String())
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// readEvents reads a front's event stream to its end.
func readEvents(t *testing.T, url string) []wake.Event {
	t.Helper()
	resp, err := client.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	var evs []wake.Event
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var e wake.Event
			require.NoError(t, json.Unmarshal([]byte(data), &e))
			evs = append(evs, e)
		}
	}
	require.NoError(t, sc.Err())
	return evs
}

// TestLoadingPageAndEvents: a browser gets the loading page at once while
// the unit wakes, its event stream tells every step until ready, and the
// next load is the application's.
func TestLoadingPageAndEvents(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	proceed := make(chan struct{})
	spec := httpSpec(t, "web", wake.ModeStop, nil)
	spec.Probe = wake.FuncProbe(func(ctx context.Context, s *processes.Session) error {
		select {
		case <-proceed:
			return wake.TCPProbe(spec.Upstream).Check(ctx, s)
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	u, err := g.Add(spec)
	require.NoError(t, err)
	srv := httptest.NewServer(u.Handler(wake.ProxyOptions{}))
	t.Cleanup(srv.Close)

	code, page := get(t, srv.URL+"/some/page", "Accept", "text/html,application/xhtml+xml")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, page, "<title>Waking web…</title>")
	assert.Contains(t, page, `new EventSource("/.sessionkit/wake/events?unit=web")`)
	assert.Equal(t, wake.Waking, u.State(), "the page did not start the wake")

	close(proceed)
	evs := readEvents(t, srv.URL+wake.DefaultEventsPath+"?unit=web")
	assert.Equal(t, []wake.EventKind{wake.EventStarting, wake.EventWaitingForReady, wake.EventReady}, kinds(evs))
	for _, e := range evs {
		assert.Equal(t, "web", e.Unit)
		assert.Equal(t, uint64(1), e.Attempt)
		assert.False(t, e.Time.IsZero())
		assert.Empty(t, e.Message, "the stream is public: without EventDetails it says nothing of how the unit runs")
	}
	// With EventDetails, the messages: the command line and pid, the probe.
	detailed := httptest.NewServer(u.Handler(wake.ProxyOptions{EventDetails: true}))
	t.Cleanup(detailed.Close)
	evs = readEvents(t, detailed.URL+wake.DefaultEventsPath+"?unit=web")
	require.Len(t, evs, 3)
	assert.Contains(t, evs[0].Message, "pid ")
	assert.Equal(t, "func", evs[1].Message)

	code, body := get(t, srv.URL+"/", "Accept", "text/html")
	assert.Equal(t, 200, code)
	assert.Contains(t, body, "hello from ")
	assert.Contains(t, u.Status().Woke.Why, "GET /some/page from 127.0.0.1:")
}

// TestSubscribeHistoryThenLive: a subscriber gets the current attempt's
// history, then the sleep as it happens, then the next attempt's events.
func TestSubscribeHistoryThenLive(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	u, err := g.Add(wake.Spec{ID: "u", Command: shCommand("exec sleep 1000", nil), Mode: wake.ModePause})
	require.NoError(t, err)
	require.NoError(t, u.Wake(wake.WithCause(t.Context(), "a test")))
	assert.Equal(t, "a test", u.Status().Woke.Why)
	sub := u.Subscribe()
	next := func() wake.Event {
		t.Helper()
		e, err := sub.Next(t.Context())
		require.NoError(t, err)
		return e
	}
	assert.Equal(t, wake.EventStarting, next().Kind)
	assert.Equal(t, wake.EventWaitingForReady, next().Kind)
	assert.Equal(t, wake.EventReady, next().Kind)

	got := make(chan wake.Event, 1)
	go func() {
		e, err := sub.Next(t.Context())
		assert.NoError(t, err)
		got <- e
	}()
	require.NoError(t, u.Sleep(t.Context()))
	e := recv(t, got)
	assert.Equal(t, wake.EventAsleep, e.Kind)
	assert.Equal(t, "paused (SIGSTOP): Sleep called", e.Message)
	require.NoError(t, u.Wake(t.Context()))
	e = next()
	assert.Equal(t, wake.EventWoke, e.Kind)
	assert.Equal(t, uint64(2), e.Attempt)
	assert.Contains(t, e.Message, "continued the stopped tree (SIGCONT)")
	assert.Equal(t, wake.EventReady, next().Kind)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = sub.Next(ctx)
	assert.ErrorIs(t, err, context.Canceled)
}

// TestSubscriberOfALongAttemptGetsItsEnd: an attempt with more events
// than are kept (a unit with 31 dependencies) keeps its last one, and a
// subscriber that read every kept event still gets the end, ready, so
// that the loading page reloads.
func TestSubscriberOfALongAttemptGetsItsEnd(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	var specs []wake.Spec
	var deps []wake.Dependency
	for i := range 31 {
		id := "dep" + strconv.Itoa(i)
		specs = append(specs, wake.Spec{ID: id, Command: shCommand("exec sleep 1000", nil)})
		deps = append(deps, wake.Dependency{Unit: id})
	}
	proceed := make(chan struct{})
	specs = append(specs, wake.Spec{ID: "app", Command: shCommand("exec sleep 1000", nil), DependsOn: deps,
		Probe: wake.FuncProbe(func(ctx context.Context, _ *processes.Session) error {
			select {
			case <-proceed:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})})
	us, err := g.AddAll(specs...)
	require.NoError(t, err)
	app := us[len(us)-1]
	woke := make(chan error, 1)
	go func() { woke <- app.Wake(t.Context()) }()
	require.Eventually(t, func() bool { return app.State() == wake.Waking }, 20*time.Second, time.Millisecond)
	sub := app.Subscribe()
	n := 0
	for {
		e, err := sub.Next(t.Context())
		require.NoError(t, err)
		n++
		if e.Kind == wake.EventWaitingForReady {
			break
		}
	}
	require.Equal(t, 2*31+2, n, "events before the probe: each dependency's two, starting, waiting for ready")
	close(proceed)
	require.NoError(t, recv(t, woke))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	e, err := sub.Next(ctx)
	require.NoError(t, err, "the end of the attempt was dropped for a reader of every kept event")
	assert.Equal(t, wake.EventReady, e.Kind)
	evs := app.Events()
	assert.Equal(t, wake.EventReady, evs[len(evs)-1].Kind)
}

// TestServeTCP: the TCP front wakes the unit on connect, splices both
// ways, holds the unit for the connection's life, and returns ctx.Err()
// with no goroutine left when its ctx ends.
func TestServeTCP(t *testing.T) {
	c := clock.NewMock()
	m := newManager(t, processes.WithClock(c))
	g := newGroup(t, m, wake.WithSweepInterval(time.Hour))
	spec := httpSpec(t, "web", wake.ModeFreeze, nil)
	spec.IdleTimeout = time.Minute
	u, err := g.Add(spec)
	require.NoError(t, err)
	ln, conn, stop := serveTCP(t, u)
	_, err = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	b, err := io.ReadAll(io.LimitReader(resp.Body, resp.ContentLength))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, string(b), "hello from ")
	assert.Contains(t, u.Status().Woke.Why, "tcp connection from 127.0.0.1:")

	c.Add(time.Hour)
	g.Sweep()
	assert.Equal(t, wake.Ready, u.State(), "slept under an open connection")
	require.NoError(t, conn.(*net.TCPConn).CloseWrite())
	_, err = br.ReadByte()
	assert.ErrorIs(t, err, io.EOF, "the half-close was not passed on")
	conn.Close()
	require.Eventually(t, func() bool { return u.Status().Holds == 0 }, 20*time.Second, time.Millisecond)
	c.Add(time.Minute + time.Nanosecond)
	g.Sweep()
	assert.Equal(t, wake.Asleep, u.State())

	stop()
	_, err = net.Dial("tcp", ln.Addr().String())
	assert.Error(t, err, "the listener is still open")

	noUp, err := g.Add(wake.Spec{ID: "none", Command: noCommand})
	require.NoError(t, err)
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	assert.ErrorIs(t, noUp.Serve(t.Context(), ln2), wake.ErrInvalidSpec)
}

// TestLoadingPageWhileSleeping: a browser that asks while the unit is
// being put to sleep gets the loading page, whose event stream skips the
// attempt going to sleep but for its end: before, it replayed that
// attempt's "ready" at once, and the page reloaded itself again and again
// until the sleep ended. Now it reloads once, when the sleep ends (and
// the wake that the page's request queued is under way).
func TestLoadingPageWhileSleeping(t *testing.T) {
	m := newManager(t, processes.WithKillGrace(time.Hour))
	g := newGroup(t, m)
	u, err := g.Add(wake.Spec{ID: "web", Command: shCommand(stubbornScript, nil), Upstream: freeAddr(t),
		Probe: wake.OutputProbe(regexp.MustCompile(`(?m)^ready$`))})
	require.NoError(t, err)
	require.NoError(t, u.Wake(t.Context()))
	s := u.Session()
	go func() { _ = u.Sleep(context.Background()) }()
	waitOutputLine(t, s, "term")
	require.Equal(t, wake.Sleeping, u.State())
	srv := httptest.NewServer(u.Handler(wake.ProxyOptions{}))
	t.Cleanup(srv.Close)

	code, page := get(t, srv.URL+"/", "Accept", "text/html")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, page, "<title>Waking web…</title>")
	resp, err := client.Get(srv.URL + wake.DefaultEventsPath + "?unit=web")
	require.NoError(t, err)
	defer resp.Body.Close()
	_, err = s.Write([]byte("\n")) // the sleep ends
	require.NoError(t, err)
	var evs []wake.Event
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var e wake.Event
			require.NoError(t, json.Unmarshal([]byte(data), &e))
			evs = append(evs, e)
		}
	}
	require.NoError(t, sc.Err())
	require.NotEmpty(t, evs)
	for _, e := range evs[:len(evs)-1] {
		assert.Equal(t, uint64(2), e.Attempt, "an event of the attempt going to sleep: %+v", e)
	}
	last := evs[len(evs)-1]
	assert.True(t, last.Kind == wake.EventAsleep && last.Attempt == 1 || last.Kind == wake.EventReady && last.Attempt == 2,
		"the stream ended with %+v", last)

	// The wake the page's request queued, and this one, are one.
	require.NoError(t, u.Wake(t.Context()))
	assert.Equal(t, 2, u.Status().Attempts)
	_, err = u.Session().Write([]byte("\n")) // read by its SIGTERM trap at Shutdown
	require.NoError(t, err)
}

// flakyListener fails its first Accept as a listener out of descriptors
// does (EMFILE), then accepts.
type flakyListener struct {
	net.Listener
	failed bool
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if !l.failed {
		l.failed = true
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestServeTCPSurvivesATemporaryAcceptError: an Accept that fails for
// want of descriptors is retried, as net/http's Server does, rather than
// end Serve and close every connection.
func TestServeTCPSurvivesATemporaryAcceptError(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	u, err := g.Add(httpSpec(t, "web", wake.ModeStop, nil))
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- u.Serve(ctx, &flakyListener{Listener: ln}) }()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	resp, err := (&http.Client{Transport: tr, Timeout: 20 * time.Second}).Get("http://" + ln.Addr().String() + "/")
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, string(b), "hello from ")
	cancel()
	assert.ErrorIs(t, recv(t, served), context.Canceled)
}

// TestFrontAfterShutdown: once the group is shut down, the front answers
// every request 503 with the JSON error "closed", browsers' included, and
// the event stream ends at once: before, a browser got the loading page,
// whose stream replayed the last attempt's "ready", and reloaded itself
// for ever.
func TestFrontAfterShutdown(t *testing.T) {
	m := newManager(t)
	g := wake.NewGroup(m)
	u, err := g.Add(httpSpec(t, "web", wake.ModeStop, nil))
	require.NoError(t, err)
	srv := httptest.NewServer(u.Handler(wake.ProxyOptions{}))
	t.Cleanup(srv.Close)
	code, body := get(t, srv.URL+"/")
	require.Equal(t, 200, code, body)
	require.NoError(t, g.Shutdown(t.Context()))

	for _, accept := range []string{"*/*", "text/html"} {
		code, body = get(t, srv.URL+"/", "Accept", accept)
		assert.Equal(t, http.StatusServiceUnavailable, code, accept)
		if assert.True(t, json.Valid([]byte(body)), "%s: %q", accept, body) {
			_, ecode := jsonError(t, body)
			assert.Equal(t, "closed", ecode, accept)
		}
	}
	assert.Empty(t, readEvents(t, srv.URL+wake.DefaultEventsPath))
}

// TestLoadingPageUnderAPrefix: a front mounted under a path prefix
// (http.StripPrefix) gives the loading page the event stream's URL under
// that prefix, where the front serves it: before, the page followed
// "/.sessionkit/wake/events" at the root, which the mux answered 404, and
// it never reloaded.
func TestLoadingPageUnderAPrefix(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	u, err := g.Add(httpSpec(t, "web", wake.ModeStop, nil))
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/app/", http.StripPrefix("/app", u.Handler(wake.ProxyOptions{})))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	code, page := get(t, srv.URL+"/app/some/page", "Accept", "text/html")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, page, `new EventSource("/app/.sessionkit/wake/events?unit=web")`)
	evs := readEvents(t, srv.URL+"/app"+wake.DefaultEventsPath+"?unit=web")
	require.NotEmpty(t, evs)
	assert.Equal(t, wake.EventReady, evs[len(evs)-1].Kind)
	code, body := get(t, srv.URL+"/app/", "Accept", "text/html")
	assert.Equal(t, 200, code)
	assert.Contains(t, body, "hello from ")

	// A path the prefix does not explain gives no prefix.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/other", nil)
	req.Header.Set("Accept", "text/html")
	require.NoError(t, u.Sleep(t.Context()))
	req.URL.Path = "/elsewhere"
	u.Handler(wake.ProxyOptions{}).ServeHTTP(rec, req)
	assert.Contains(t, rec.Body.String(), `new EventSource("/.sessionkit/wake/events?unit=web")`)
}

// TestEventsPathIsRooted: an EventsPath written without its leading
// slash, or with a trailing one, is served where the loading page asks
// for it, not proxied (and woken for) as a request of the unit.
func TestEventsPathIsRooted(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	spec := httpSpec(t, "web", wake.ModeStop, nil)
	proceed := make(chan struct{}) // the unit wakes until the end
	spec.Probe = wake.FuncProbe(func(ctx context.Context, _ *processes.Session) error {
		select {
		case <-proceed:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	u, err := g.Add(spec)
	require.NoError(t, err)
	for _, p := range []string{"wake-events", "/wake-events/"} {
		t.Run(p, func(t *testing.T) {
			srv := httptest.NewServer(u.Handler(wake.ProxyOptions{EventsPath: p}))
			t.Cleanup(srv.Close)
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/page", nil)
			req.Header.Set("Accept", "text/html")
			u.Handler(wake.ProxyOptions{EventsPath: p}).ServeHTTP(rec, req)
			assert.Contains(t, rec.Body.String(), `new EventSource("/wake-events?unit=web")`)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/wake-events?unit=web", nil)
			require.NoError(t, err)
			resp, err := client.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
		})
	}
	close(proceed)
	require.NoError(t, u.Wake(t.Context()))
}

// TestGroupHandlerNilRoute: a nil route is refused where the mistake is
// made, not by a nil call in the server's goroutine at the first request.
func TestGroupHandlerNilRoute(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	assert.PanicsWithValue(t, "wake: nil route for Group.Handler", func() { g.Handler(nil, wake.ProxyOptions{}) })
}

// serveTCP serves u's TCP front on a new loopback listener and dials it;
// stop ends Serve and checks that it returned its context's error.
func serveTCP(t *testing.T, u *wake.Unit) (ln net.Listener, conn net.Conn, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- u.Serve(ctx, ln) }()
	conn, err = net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	return ln, conn, func() {
		cancel()
		assert.ErrorIs(t, recv(t, served), context.Canceled)
	}
}
