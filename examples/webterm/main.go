// Command webterm serves a terminal in the browser: a page with xterm.js
// (vendored in static/ and embedded in the binary) that starts a shell
// under a pseudo-terminal through package httpapi, attaches to it over a
// WebSocket, resizes it with the window, reattaches with replay after a
// reload and shows why it ended.
//
// Usage:
//
//	webterm [-addr 127.0.0.1:8080] [-idle 10m] [-warn 1m] [-shell bash]
//
// It serves on loopback only and answers only requests addressed to its
// loopback address: anyone who can reach it gets a shell as the user who
// runs it. See the README.
package main

import (
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/sessionkit/sessionkit/loopback"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/httpapi"
	"github.com/sessionkit/sessionkit/ptyterm"
)

//go:embed static
var static embed.FS

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run is the program; it returns the exit code.
func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("webterm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "loopback address to serve on")
	idle := fs.Duration("idle", 10*time.Minute, "close a terminal after this long without input or resize")
	warn := fs.Duration("warn", time.Minute, "warn this long before the idle close (0: no warning; capped at half of -idle)")
	shell := fs.String("shell", "", "program to run in each terminal (default: bash, or sh without bash)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *idle <= 0 {
		fmt.Fprintln(stderr, "webterm: -idle must be positive")
		return 2
	}
	if *warn < 0 {
		fmt.Fprintln(stderr, "webterm: -warn must not be negative")
		return 2
	}
	*warn = min(*warn, *idle/2)
	argv := []string{*shell}
	if *shell == "" {
		argv = defaultShell()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(stderr, "webterm:", err)
		if errors.Is(err, syscall.EADDRINUSE) {
			fmt.Fprintf(stderr, "webterm: another program listens on %s: stop it, or pick another address with -addr (127.0.0.1:0 for any free port)\n", *addr)
		}
		return 1
	}
	if ap, err := netip.ParseAddrPort(ln.Addr().String()); err != nil || !ap.Addr().IsLoopback() {
		ln.Close()
		fmt.Fprintln(stderr, "webterm: refusing to serve on", ln.Addr(), "(it gives a shell to any caller): use a loopback address")
		return 2
	}

	m := newManager(*idle, *warn)
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h := newHandler(m, config{
		Port:   ln.Addr().(*net.TCPAddr).Port,
		Argv:   argv,
		Idle:   *idle,
		Warn:   *warn,
		Logger: logger,
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stderr, "webterm: open http://%s/ (running %q, idle timeout %s)\n", ln.Addr(), argv, *idle)

	select {
	case <-ctx.Done():
	case err := <-served:
		fmt.Fprintln(stderr, "webterm: serve:", err)
		served <- err
	}

	// The Manager first: closing every session ends every attachment with
	// a closed message ("shut_down"), so that the server's Shutdown does
	// not wait for them.
	mctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Shutdown(mctx); err != nil {
		fmt.Fprintln(stderr, "webterm: manager shutdown:", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		fmt.Fprintln(stderr, "webterm: server shutdown:", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return 1
	}
	return 0
}

// newManager returns a Manager that sweeps idle terminals (Shutdown stops
// it) often enough for the idle close to come when the warning says: a
// tenth of the warning (or, without one, of the idle timeout), between one
// and five seconds. Manager.Run's default, a minute for an idle timeout of
// four minutes or more, would close a terminal warned "in 60 s" up to two
// minutes later.
func newManager(idle, warn time.Duration, opts ...processes.Option) *processes.Manager {
	d := idle
	if warn > 0 {
		d = min(d, warn)
	}
	interval := min(max(d/10, time.Second), 5*time.Second)
	m := processes.NewManager(idle, append([]processes.Option{processes.WithSweepInterval(interval)}, opts...)...)
	m.Run()
	return m
}

// defaultShell is bash if there is one, else sh.
func defaultShell() []string {
	if _, err := exec.LookPath("bash"); err == nil {
		return []string{"bash"}
	}
	return []string{"sh"}
}

// apiPrefix is where the API of package httpapi is served.
const apiPrefix = "/api/terminals"

// config is what newHandler needs.
type config struct {
	// Port is the loopback port the server listens on, for the Host check.
	Port int
	// Argv is the program each terminal runs.
	Argv []string
	// Idle is each terminal's idle timeout.
	Idle time.Duration
	// Warn is how long before the idle close a terminal warns its
	// viewers; zero means no warning.
	Warn time.Duration
	// Logger receives the API's failures; nil discards.
	Logger *slog.Logger
}

// newHandler serves the page, its scripts and the terminal API for m, on a
// server listening on loopback port cfg.Port. It answers only requests
// whose Host is that loopback address (a guard against DNS rebinding); the
// API refuses cross-origin browser requests that change state and
// WebSocket upgrades from other origins.
func newHandler(m *processes.Manager, cfg config) http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree always has static/
	}
	mux := http.NewServeMux()
	mux.Handle(apiPrefix+"/", httpapi.NewHandler(m, httpapi.Options{
		Prefix: apiPrefix,
		Start:  startTerminal(cfg.Argv, cfg.Idle, cfg.Warn),
		Logger: cfg.Logger,
	}))
	mux.Handle("/", http.FileServerFS(sub))

	return loopback.HostGuard("webterm", cfg.Port, mux)
}

// startRequest is the body of POST {apiPrefix}/ from the page.
type startRequest struct {
	Rows int `json:"rows"`
	Cols int `json:"cols"`
}

// startTerminal returns the Options.Start of this example: whatever the
// request asks, it runs argv (the embedder decides what runs, never the
// page) under a pseudo-terminal of the requested size, with the idle
// timeout idle and an idle warning warn ahead of it. A size outside
// 1..httpapi.MaxTerminalSize answers 400, as a resize beyond it does.
func startTerminal(argv []string, idle, warn time.Duration) func(*http.Request, *processes.Manager) (*processes.Session, error) {
	return func(r *http.Request, m *processes.Manager) (*processes.Session, error) {
		var req startRequest
		if err := httpapi.DecodeJSON(r, 4<<10, &req); err != nil {
			return nil, err
		}
		if req.Rows < 1 || req.Rows > httpapi.MaxTerminalSize || req.Cols < 1 || req.Cols > httpapi.MaxTerminalSize {
			return nil, &httpapi.APIError{Status: http.StatusBadRequest, Code: httpapi.CodeBadRequest,
				Message: `webterm: want {"rows": 1..1000, "cols": 1..1000}`}
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), "TERM=xterm-256color")
		t, err := ptyterm.Start(m, cmd, ptyterm.Options{
			ID:          httpapi.SessionID(r, ""),
			WorkspaceID: httpapi.Workspace(r.Context()),
			Rows:        uint16(req.Rows),
			Cols:        uint16(req.Cols),
			IdleTimeout: idle,
			WarnBefore:  warn,
		})
		if err != nil {
			return nil, err
		}
		return t.Session(), nil
	}
}
