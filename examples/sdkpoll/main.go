// Command sdkpoll shows the SDK polling loop end to end: it serves a
// processes.Manager over HTTP with package httpapi on a loopback port,
// starts a command through the API, follows its output with Client.Follow
// and exits with the command's exit code.
//
// Usage:
//
//	sdkpoll [-addr 127.0.0.1:0] [command [arg ...]]
//	sdkpoll -serve [-addr 127.0.0.1:8080]
//
// Without a command it runs a shell loop that ticks five times. With -serve
// it starts nothing and serves until interrupted, for curl. It serves on
// loopback only, and answers only requests addressed to its loopback
// address (see the README on what that does and does not protect).
package main

import (
	"context"
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
	"syscall"
	"time"

	"github.com/sessionkit/sessionkit/loopback"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

// defaultArgv is what runs when no command is given.
var defaultArgv = []string{"sh", "-c", "for i in 1 2 3 4 5; do echo tick $i; sleep 0.5; done; echo done >&2"}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the program; it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sdkpoll", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "address to serve on")
	serve := fs.Bool("serve", false, "only serve the API until interrupted, for curl")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	argv := fs.Args()
	if len(argv) == 0 {
		argv = defaultArgv
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(stderr, "sdkpoll:", err)
		if errors.Is(err, syscall.EADDRINUSE) {
			fmt.Fprintf(stderr, "sdkpoll: another program listens on %s: stop it, or pick another address with -addr (127.0.0.1:0 for any free port)\n", *addr)
		}
		return 1
	}
	if ap, err := netip.ParseAddrPort(ln.Addr().String()); err != nil || !ap.Addr().IsLoopback() {
		ln.Close()
		fmt.Fprintln(stderr, "sdkpoll: refusing to serve on", ln.Addr(), "(it runs any command for any caller): use a loopback address")
		return 2
	}

	m := processes.NewManager(5 * time.Minute)
	m.Run() // sweep idle sessions; Shutdown stops it
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv := &http.Server{Handler: newHandler(m, ln.Addr().(*net.TCPAddr).Port, logger), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	base := "http://" + ln.Addr().String() + httpapi.DefaultPrefix
	fmt.Fprintln(stderr, "sdkpoll: serving", base)

	code := 0
	if *serve {
		<-ctx.Done()
	} else {
		hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		defer hc.CloseIdleConnections()
		code = startAndFollow(ctx, httpapi.NewClient(base, hc), argv, stdout, stderr)
	}

	// The Manager first: it terminates what runs, which ends every long
	// poll and event stream, so that the server's Shutdown does not wait
	// for them. A stream whose client stopped reading ends at its write
	// timeout; the server waits two seconds at most, then cuts what is left.
	mctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Shutdown(mctx); err != nil {
		fmt.Fprintln(stderr, "sdkpoll: manager shutdown:", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		fmt.Fprintln(stderr, "sdkpoll: server shutdown:", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(stderr, "sdkpoll: serve:", err)
	}
	return code
}

// startAndFollow starts argv through the API, copies its output as it comes
// and returns its exit code, or 1 on errors and 130 when interrupted.
func startAndFollow(ctx context.Context, c *httpapi.Client, argv []string, stdout, stderr io.Writer) int {
	st, err := c.Start(ctx, startRequest{Argv: argv})
	if err != nil {
		fmt.Fprintln(stderr, "sdkpoll: start:", err)
		return 1
	}
	fmt.Fprintln(stderr, "sdkpoll: started session", st.ID)
	exit, err := c.Follow(ctx, st.ID, 0, func(out processes.Output) error {
		if out.Missed > 0 {
			fmt.Fprintf(stderr, "sdkpoll: output outran the buffer: %d bytes missed\n", out.Missed)
		}
		for _, ch := range out.Chunks {
			w := stdout
			if ch.Stream == "stderr" {
				w = stderr
			}
			if _, err := w.Write(ch.Data); err != nil {
				return err
			}
		}
		return nil
	})
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "sdkpoll: interrupted")
		return 130
	case err != nil:
		fmt.Fprintln(stderr, "sdkpoll: follow:", err)
		return 1
	}
	fmt.Fprintln(stderr, "sdkpoll: exit", exit)
	return exit
}

// newHandler serves m's sessions for a server on loopback port port: the
// handler of package httpapi, which refuses cross-origin browser requests
// that change state, behind a check of the Host header, which refuses
// requests addressed to any other name (DNS rebinding).
func newHandler(m *processes.Manager, port int, logger *slog.Logger) http.Handler {
	h := httpapi.NewHandler(m, httpapi.Options{Start: startArgv, Logger: logger})
	return loopback.HostGuard("sdkpoll", port, h)
}

// startRequest is the body of POST / in this example.
type startRequest struct {
	Argv []string `json:"argv"`
	// ID is the session's ID; empty means a random one.
	ID string `json:"id,omitempty"`
}

// startArgv is Options.Start for this example: it runs whatever argv the
// request names. A real server must decide what may run, for whom, with
// which environment and limits; this one trusts every caller that can
// reach its loopback address, which is every local user and process.
// Errors of the body, and programs that cannot start, answer 400 and 422
// with messages of package httpapi.
func startArgv(r *http.Request, m *processes.Manager) (*processes.Session, error) {
	var req startRequest
	if err := httpapi.DecodeJSON(r, 64<<10, &req); err != nil {
		return nil, err
	}
	if len(req.Argv) == 0 {
		return nil, &httpapi.APIError{Status: http.StatusBadRequest, Code: httpapi.CodeBadRequest, Message: `want {"argv": ["program", "arg", ...]}`}
	}
	return m.Start(exec.Command(req.Argv[0], req.Argv[1:]...), processes.StartOptions{
		ID:          httpapi.SessionID(r, req.ID),
		WorkspaceID: httpapi.Workspace(r.Context()),
	})
}
