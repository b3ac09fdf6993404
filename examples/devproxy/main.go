// Command devproxy is a scale-to-zero dev server: Python's http.server
// (python3 -m http.server) behind the reverse proxy of package
// processes/wake, started on the first request, frozen (cgroup.freeze)
// after 30 seconds without one, and thawed by the next. A browser sees a
// loading page while the server wakes, which reloads itself once it is
// ready; curl simply waits.
//
// Usage:
//
//	devproxy [-addr 127.0.0.1:8080] [-dir .] [-idle 30s] [-mode freeze] [-python python3]
//
// It serves on loopback only. GET /.devproxy/status tells the unit's
// state, why it last woke and slept, and how long until it sleeps; it
// neither wakes the server nor counts as activity. See the README.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/sessionkit/sessionkit/loopback"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/wake"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// run is the program, until ctx ends; it returns the exit code.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("devproxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "loopback address to serve on")
	dir := fs.String("dir", ".", "directory that http.server serves")
	idle := fs.Duration("idle", 30*time.Second, "put the server to sleep after this long without a request")
	mode := fs.String("mode", "freeze", "how the server sleeps: freeze, pause or stop")
	python := fs.String("python", "python3", "the Python interpreter")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	m, ok := map[string]wake.Mode{"freeze": wake.ModeFreeze, "pause": wake.ModePause, "stop": wake.ModeStop}[*mode]
	if !ok || *idle <= 0 {
		fmt.Fprintln(stderr, "devproxy: -mode must be freeze, pause or stop, and -idle positive")
		return 2
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(stderr, "devproxy:", err)
		if errors.Is(err, syscall.EADDRINUSE) {
			fmt.Fprintf(stderr, "devproxy: another program listens on %s: stop it, or pick another address with -addr (127.0.0.1:0 for any free port)\n", *addr)
		}
		return 1
	}
	ap, err := netip.ParseAddrPort(ln.Addr().String())
	if err != nil || !ap.Addr().IsLoopback() {
		ln.Close()
		fmt.Fprintln(stderr, "devproxy: refusing to serve on", ln.Addr(), "(it serves your files): use a loopback address")
		return 2
	}
	upstream, err := freeLoopback()
	if err != nil {
		fmt.Fprintln(stderr, "devproxy:", err)
		return 1
	}

	logger := slog.New(slog.NewTextHandler(stderr, nil))
	pm := processes.NewManager(0)
	app, err := newApp(pm, config{Dir: *dir, Python: *python, Upstream: upstream, Idle: *idle, Mode: m, Logger: logger})
	if err != nil {
		fmt.Fprintln(stderr, "devproxy:", err)
		_ = pm.Shutdown(context.Background())
		return 1
	}
	// Requests see the end of ctx: event streams and requests waiting for
	// a wake end at once, rather than hold the server's Shutdown.
	// Only requests addressed to this loopback server by its own names:
	// a web page cannot reach the served files by DNS rebinding.
	srv := &http.Server{Handler: loopback.HostGuard("devproxy", int(ap.Port()), app), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stderr, "devproxy: open http://%s/ (serving %s, %s after %s idle)\n", ln.Addr(), *dir, m, *idle)

	select {
	case <-ctx.Done():
	case err := <-served:
		fmt.Fprintln(stderr, "devproxy: serve:", err)
		served <- err
	}
	// Each step has its own time: one that runs out leaves the next its
	// own, so the Python server always gets the grace of a stop.
	code := 0
	step := func(name string, d time.Duration, f func(context.Context) error) {
		sctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		if err := f(sctx); err != nil {
			fmt.Fprintf(stderr, "devproxy: %s: %v\n", name, err)
			code = 1
		}
	}
	step("http shutdown", 5*time.Second, func(ctx context.Context) error {
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
			return err
		}
		return nil
	})
	step("shutdown", 10*time.Second, app.Close)
	step("manager shutdown", 10*time.Second, pm.Shutdown)
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return 1
	}
	return code
}

// freeLoopback returns a 127.0.0.1 address whose port is free now, for
// the Python server.
func freeLoopback() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// config is what newApp needs.
type config struct {
	Dir      string        // served by http.server
	Python   string        // the interpreter
	Upstream string        // host:port for http.server
	Idle     time.Duration // the unit's idle timeout
	Mode     wake.Mode
	Logger   *slog.Logger // wake events at Info, the group's warnings; nil discards
}

// statusPath answers the unit's status as JSON.
const statusPath = "/.devproxy/status"

// app is the dev proxy: one unit, its front, and the status route.
type app struct {
	g     *wake.Group
	u     *wake.Unit
	front http.Handler
	wg    sync.WaitGroup
	stop  context.CancelFunc
}

// newApp adds the Python server as a unit of a group on m and returns the
// handler that fronts it. Close shuts the group down.
func newApp(m *processes.Manager, cfg config) (*app, error) {
	_, port, err := net.SplitHostPort(cfg.Upstream)
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// The group logs its steps at Info too: only its warnings and errors
	// here, so that each step is in the log once, with its details, below.
	g := wake.NewGroup(m, wake.WithLogger(slog.New(atLeast{logger.Handler(), slog.LevelWarn})))
	u, err := g.Add(wake.Spec{
		ID: "devserver",
		Command: func(context.Context) (*exec.Cmd, error) {
			return exec.Command(cfg.Python, "-m", "http.server", port, "--bind", "127.0.0.1", "--directory", cfg.Dir), nil
		},
		Upstream:    cfg.Upstream,
		Probe:       wake.HTTPProbe("/"),
		Mode:        cfg.Mode,
		IdleTimeout: cfg.Idle,
		WakeTimeout: 30 * time.Second,
	})
	if err != nil {
		_ = g.Shutdown(context.Background())
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	a := &app{g: g, u: u, front: u.Handler(wake.ProxyOptions{EventDetails: true}), stop: stop}
	// Every wake event in the log, as it happens.
	a.wg.Go(func() {
		sub := u.Subscribe()
		for {
			e, err := sub.Next(ctx)
			if err != nil {
				return
			}
			logger.Info("devproxy: "+string(e.Kind), "message", e.Message, "attempt", e.Attempt)
		}
	})
	return a, nil
}

// atLeast is h for the records of level min and above only.
type atLeast struct {
	h   slog.Handler
	min slog.Level
}

func (a atLeast) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= a.min && a.h.Enabled(ctx, l)
}

func (a atLeast) Handle(ctx context.Context, r slog.Record) error { return a.h.Handle(ctx, r) }

func (a atLeast) WithAttrs(attrs []slog.Attr) slog.Handler {
	return atLeast{a.h.WithAttrs(attrs), a.min}
}

func (a atLeast) WithGroup(name string) slog.Handler { return atLeast{a.h.WithGroup(name), a.min} }

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != statusPath {
		a.front.ServeHTTP(w, r)
		return
	}
	st := a.u.Status()
	body := map[string]any{
		"state":         st.State.String(),
		"pid":           st.Pid,
		"kept":          st.Kept,
		"cold_starts":   st.ColdStarts,
		"attempts":      st.Attempts,
		"holds":         st.Holds,
		"woke_because":  st.Woke.Why,
		"slept_because": st.Slept.Why,
	}
	if st.SleepDue {
		body["sleep_in_seconds"] = strconv.FormatFloat(st.SleepIn.Seconds(), 'f', 1, 64)
	}
	if st.Err != nil {
		body["error"] = st.Err.Error()
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

// Unit returns the dev server's unit.
func (a *app) Unit() *wake.Unit { return a.u }

// Close shuts the group down, terminating the Python server, and stops
// the event log.
func (a *app) Close(ctx context.Context) error {
	err := a.g.Shutdown(ctx)
	a.stop()
	a.wg.Wait()
	return err
}
