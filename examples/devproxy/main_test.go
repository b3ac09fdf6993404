//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/wake"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// pythonPath returns a Python 3 interpreter, the system's first: a pyenv
// shim runs bash scripts that may wait for a stale lock. Without one the
// test is skipped (failed under CI=true).
func pythonPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "/usr/local/bin/python3"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("python3"); err == nil {
		return p
	}
	proctest.Missing(t, "no python3: install Debian's python3 package")
	return ""
}

// page links an empty icon, so that the browser asks for no favicon: a
// request in flight holds the unit, and the browser test puts it to sleep
// right after the page loads.
const page = "<!doctype html><title>devproxy test</title><link rel=icon href=\"data:,\"><h1 id=app>hello from devproxy</h1>"

// startApp runs the dev proxy's app over a directory holding index.html,
// on a Manager shut down when the test ends.
func startApp(t *testing.T, mode wake.Mode) (*app, *httptest.Server) {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "index.html"), []byte(page), 0o644))
	m := processes.NewManager(0)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, m.Shutdown(ctx))
	})
	upstream, err := freeLoopback()
	require.NoError(t, err)
	a, err := newApp(m, config{Dir: dir, Python: pythonPath(t), Upstream: upstream, Idle: 30 * time.Second, Mode: mode})
	require.NoError(t, err)
	srv := httptest.NewServer(a)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, a.Close(ctx))
	})
	return a, srv
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestCurlWakesTheServer: the first request starts Python and is served
// by it; frozen, the same process serves the next request after a thaw;
// the status route tells each step without waking anything.
func TestCurlWakesTheServer(t *testing.T) {
	a, srv := startApp(t, wake.ModeFreeze)
	status := func() map[string]any {
		t.Helper()
		code, body := get(t, srv.URL+statusPath)
		require.Equal(t, 200, code)
		var st map[string]any
		require.NoError(t, json.Unmarshal([]byte(body), &st))
		return st
	}
	assert.Equal(t, "asleep", status()["state"])

	code, body := get(t, srv.URL+"/")
	require.Equal(t, 200, code, body)
	assert.Equal(t, page, body)
	st := status()
	assert.Equal(t, "ready", st["state"])
	assert.Contains(t, st["woke_because"], "GET / from 127.0.0.1:")
	assert.Equal(t, "30.0", st["sleep_in_seconds"])
	pid := int(st["pid"].(float64))

	require.NoError(t, a.Unit().Sleep(t.Context()))
	st = status()
	assert.Equal(t, "asleep", st["state"])
	assert.Equal(t, true, st["kept"])
	assert.Equal(t, "Sleep called", st["slept_because"])

	code, body = get(t, srv.URL+"/index.html")
	require.Equal(t, 200, code, body)
	assert.Equal(t, page, body)
	st = status()
	assert.Equal(t, float64(pid), st["pid"], "a cold start instead of a thaw")
	assert.Equal(t, float64(1), st["cold_starts"])
	assert.Equal(t, float64(2), st["attempts"])

	require.NoError(t, a.Close(t.Context()))
	proctest.RequireGone(t, pid)
}

// TestRunStopsWithStreamsOpen: the program stops cleanly when its ctx
// ends (Ctrl-C) while a loading page's event stream is open: before, the
// HTTP server's Shutdown waited its whole 5 seconds for the stream, and
// the group and the Manager were then shut down with that context over
// ("context deadline exceeded": the Python server got no grace). On the
// way, a request for another site's name (DNS rebinding) is refused
// without waking the server.
func TestRunStopsWithStreamsOpen(t *testing.T) {
	python := pythonPath(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "index.html"), []byte(page), 0o644))
	pr, pw := io.Pipe()
	lines := make(chan string, 1000)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"-addr", "127.0.0.1:0", "-dir", dir, "-python", python}, pw)
		pw.Close()
	}()
	var log []string
	addr := ""
	for addr == "" {
		var line string
		select {
		case l, ok := <-lines:
			require.True(t, ok, "run ended: %q", log)
			line = l
		case <-time.After(20 * time.Second):
			t.Fatalf("no address printed: %q", log)
		}
		log = append(log, line)
		if rest, found := strings.CutPrefix(line, "devproxy: open http://"); found {
			addr, _, _ = strings.Cut(rest, "/")
		}
	}
	base := "http://" + addr
	// A page of another site rebound to this address reaches nothing,
	// and wakes nothing.
	req, err := http.NewRequestWithContext(t.Context(), "GET", base+"/", nil)
	require.NoError(t, err)
	req.Host = "rebound.example:" + port(t, addr)
	rebound, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	rebound.Body.Close()
	assert.Equal(t, http.StatusForbidden, rebound.StatusCode)
	code0, status := get(t, base+statusPath)
	require.Equal(t, 200, code0)
	assert.Contains(t, status, `"state":"asleep"`)
	// The event stream of a loading page, open while nothing wakes.
	resp, err := http.Get(base + wake.DefaultEventsPath + "?unit=devserver")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))

	cancel()
	assert.Equal(t, 0, proctest.Recv(t, code))
	for line := range lines {
		log = append(log, line)
	}
	for _, line := range log {
		assert.NotContains(t, line, "deadline exceeded")
		assert.NotContains(t, line, "shutdown:")
	}
}

// port returns the port of the address host:port.
func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	return p
}

// TestLogShowsEachStepOnce: the log of a wake is the README's, each step
// once as a "devproxy: <step>" line; the group's own Info lines ("wake:
// ready") repeated them.
func TestLogShowsEachStepOnce(t *testing.T) {
	python := pythonPath(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "index.html"), []byte(page), 0o644))
	pr, pw := io.Pipe()
	lines := make(chan string, 1000)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"-addr", "127.0.0.1:0", "-dir", dir, "-python", python}, pw)
		pw.Close()
	}()
	next := func(log []string) string {
		t.Helper()
		select {
		case l, ok := <-lines:
			require.True(t, ok, "run ended: %q", log)
			return l
		case <-time.After(20 * time.Second):
			t.Fatalf("nothing more logged: %q", log)
			return ""
		}
	}
	var log []string
	addr := ""
	for addr == "" {
		line := next(log)
		log = append(log, line)
		if rest, found := strings.CutPrefix(line, "devproxy: open http://"); found {
			addr, _, _ = strings.Cut(rest, "/")
		}
	}
	status, body := get(t, "http://"+addr+"/")
	require.Equal(t, 200, status, body)
	for !strings.Contains(log[len(log)-1], `msg="devproxy: ready"`) {
		log = append(log, next(log))
	}
	cancel()
	assert.Equal(t, 0, proctest.Recv(t, code))
	for line := range lines {
		log = append(log, line)
	}
	var steps []string
	for _, line := range log[1:] {
		_, msg, ok := strings.Cut(line, ` level=INFO msg="`)
		require.True(t, ok, "a log line not as the README shows: %q", line)
		msg, _, _ = strings.Cut(msg, `"`)
		steps = append(steps, msg)
	}
	if n := len(steps); n > 0 && steps[n-1] == "devproxy: asleep" {
		steps = steps[:n-1] // the stop, when logged before the log ends
	}
	assert.Equal(t, []string{"devproxy: starting", "devproxy: waiting for ready", "devproxy: ready"}, steps,
		"the steps of a wake; the log: %q", log)
}
