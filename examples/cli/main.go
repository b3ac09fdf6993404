//go:build linux

// Command cli shows how a command-line tool embeds sessionkit: it runs a
// program (by default the user's $SHELL) under a ptyterm.Terminal attached
// to the user's own terminal, the way ssh or tmux attach one.
//
// Usage:
//
//	cli [-idle 5m] [-warn 30s] [command [arg ...]]
//
// While attached, the user's terminal is in raw mode, so that every key goes
// to the program as is; it is restored on every way out, signals and panics
// included. Keystrokes are copied to [ptyterm.Terminal.Write], the program's
// output is followed with [processes.Session.WaitOutput] and
// [processes.Session.Output] by sequence number, a resize of the user's
// terminal (SIGWINCH) becomes [ptyterm.Terminal.Resize], and SIGINT, SIGTERM
// or SIGHUP sent to cli close the terminal, as a real one going away does.
//
// Idleness is the user's, not the program's: after -idle without a key
// press or a resize the Manager's sweep closes the terminal, even if the
// program keeps printing. -warn before that, cli prints a warning line.
// cli exits with the program's exit code (128+N for a program killed by
// signal N, such as 129 for the SIGHUP of an idle close).
//
// Standard input need not be a terminal: with a pipe there is no raw mode
// and no resizing, the program runs at 24 × 80, and the end of the input is
// passed on as Ctrl-D.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/ptyterm"
)

// The size of the terminal when standard input is not one.
const (
	defaultRows = 24
	defaultCols = 80
)

// shutdownTimeout bounds Manager.Shutdown at exit.
const shutdownTimeout = 10 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// config is what the command line asks for.
type config struct {
	idle, warn time.Duration
	argv       []string
}

// parseArgs parses the flags and the command. It returns flag.ErrHelp for
// -h, and an error for bad flags or values, after printing the usage to
// stderr.
func parseArgs(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("cli", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: cli [-idle 5m] [-warn 30s] [command [arg ...]]")
		fs.PrintDefaults()
	}
	var c config
	fs.DurationVar(&c.idle, "idle", ptyterm.DefaultIdleTimeout, "close the terminal after this long without input or resize (<= 0: never)")
	fs.DurationVar(&c.warn, "warn", 30*time.Second, "warn this long before the idle close (0: no warning)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	switch {
	case c.warn < 0:
		err := fmt.Errorf("cli: -warn %v is negative", c.warn)
		fmt.Fprintln(stderr, err)
		fs.Usage()
		return config{}, err
	case c.idle > 0 && c.warn >= c.idle:
		err := fmt.Errorf("cli: -warn %s must be shorter than -idle %s", shortDuration(c.warn), shortDuration(c.idle))
		fmt.Fprintln(stderr, err)
		fs.Usage()
		return config{}, err
	}
	c.argv = fs.Args()
	if len(c.argv) == 0 {
		sh := os.Getenv("SHELL")
		if sh == "" {
			sh = "/bin/sh"
		}
		c.argv = []string{sh}
	}
	return c, nil
}

// run is the program: it returns the exit code, the program's own once it
// ran, 2 for bad usage, 127 for a program that was not found and 1 for
// other failures. stdin is the user's terminal or a pipe.
func run(args []string, stdin *os.File, stdout, stderr io.Writer) int {
	c, err := parseArgs(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		return 2
	}
	stderr = &lockedWriter{w: stderr} // the idle warning comes from another goroutine

	// Signals first, so that no resize between reading the size and
	// subscribing is lost. SIGPIPE is caught so that writing to a closed
	// stdout fails with EPIPE instead of killing cli in raw mode.
	sigc := make(chan os.Signal, 8)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	defer signal.Stop(sigc)

	rows, cols := uint16(defaultRows), uint16(defaultCols)
	tty := isTerminal(stdin)
	if tty {
		signal.Notify(sigc, syscall.SIGWINCH)
		if r, k, err := terminalSize(stdin); err == nil && r > 0 && k > 0 {
			rows, cols = r, k
		}
		restore, err := makeRaw(stdin)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		// Deferred first, so it runs last: after Shutdown, and while a
		// panic in this goroutine unwinds.
		defer func() {
			if err := restore(); err != nil {
				fmt.Fprintln(stderr, err)
			}
		}()
	}

	m := processes.NewManager(c.idle, processes.WithSweepInterval(sweepInterval(c.idle)))
	m.Run()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			fmt.Fprintf(stderr, "cli: shutdown: %v\r\n", err)
		}
	}()

	idle := c.idle
	if idle <= 0 {
		idle = -1 // ptyterm: never idles out
	}
	term, err := ptyterm.Start(m, exec.Command(c.argv[0], c.argv[1:]...), ptyterm.Options{
		Rows:        rows,
		Cols:        cols,
		IdleTimeout: idle,
		WarnBefore:  c.warn,
		OnIdleWarning: func(*ptyterm.Terminal) {
			fmt.Fprintf(stderr, "\r\n[cli: idle — closing in %s unless you type]\r\n", shortDuration(c.warn))
		},
	})
	if err != nil {
		fmt.Fprintf(stderr, "cli: %v\r\n", err) // it names the program
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return 127
		}
		return 1
	}

	var closing atomic.Bool // cli closed the terminal itself
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { forwardSignals(sigc, stop, term, stdin, &closing) })
	// Not waited for: it may stay blocked in a Read of stdin that nothing
	// can interrupt, which is harmless in a program about to exit.
	go copyInput(stdin, term)

	code, closed := follow(context.Background(), term, stdout, stderr, &closing)
	close(stop)
	wg.Wait()
	if closed && !closing.Load() {
		fmt.Fprintf(stderr, "\r\n[cli: session closed after %s idle]\r\n", shortDuration(c.idle))
	}
	return code
}

// sweepInterval is how often the Manager looks for idle sessions: a tenth
// of the idle timeout, between one and five seconds, so that the idle close
// comes at most that late.
func sweepInterval(idle time.Duration) time.Duration {
	return min(max(idle/10, time.Second), 5*time.Second)
}

// follow copies the terminal's output to stdout as it comes, tracking the
// cursor by Seq, until the program exited and all of its output is in. It
// returns the program's exit code, and whether the session was closed while
// the program still ran (idle eviction, or cli's own Close). A write to
// stdout that fails closes the terminal, and the rest of the output is
// dropped.
func follow(ctx context.Context, term *ptyterm.Terminal, stdout, stderr io.Writer, closing *atomic.Bool) (code int, closed bool) {
	s := term.Session()
	since := 0
	var werr error
	for {
		err := s.WaitOutput(ctx, since)
		switch {
		case errors.Is(err, processes.ErrClosed):
			// The program is being stopped; what it prints meanwhile
			// still comes, and the exit once all of it is in.
			closed = true
			<-s.Done()
		case err != nil:
			fmt.Fprintf(stderr, "cli: wait for output: %v\r\n", err)
			return 1, closed
		}
		out := s.Output(since)
		if out.Missed > 0 && werr == nil {
			fmt.Fprintf(stderr, "\r\n[cli: %d bytes of output dropped]\r\n", out.Missed)
		}
		for _, ch := range out.Chunks {
			since = ch.Seq
			if werr != nil {
				continue
			}
			if _, werr = stdout.Write(ch.Data); werr != nil {
				fmt.Fprintf(stderr, "cli: write output: %v\r\n", werr)
				closing.Store(true)
				_ = term.Close() // waits until the program is gone
			}
		}
		if out.Exit != nil {
			return *out.Exit, closed
		}
	}
}

// copyInput copies stdin to the terminal as keystrokes until either ends.
// The end of stdin is passed on as Ctrl-D, the terminal's end of file (twice
// after a partial line: once to send the line, once for the end).
func copyInput(stdin io.Reader, term *ptyterm.Terminal) {
	buf := make([]byte, 32<<10)
	last := byte('\n')
	for {
		n, err := stdin.Read(buf)
		if n > 0 {
			if _, werr := term.Write(buf[:n]); werr != nil {
				return // the program exited or the terminal closed
			}
			last = buf[n-1]
		}
		if err != nil {
			if err == io.EOF {
				eof := []byte{4}
				if last != '\n' {
					eof = []byte{4, 4}
				}
				_, _ = term.Write(eof)
			}
			return
		}
	}
}

// forwardSignals acts on cli's signals until stop is closed: SIGWINCH
// resizes the terminal to the size of the user's (stdin), and SIGINT,
// SIGTERM and SIGHUP close it, which ends the program. SIGPIPE is ignored.
func forwardSignals(sigc <-chan os.Signal, stop <-chan struct{}, term *ptyterm.Terminal, stdin *os.File, closing *atomic.Bool) {
	for {
		select {
		case <-stop:
			return
		case sig := <-sigc:
			switch sig {
			case syscall.SIGWINCH:
				if rows, cols, err := terminalSize(stdin); err == nil && rows > 0 && cols > 0 {
					_ = term.Resize(rows, cols) // fails only once the program exited
				}
			case syscall.SIGPIPE:
			default:
				closing.Store(true)
				_ = term.Close() // waits until the program is gone
			}
		}
	}
}

// shortDuration formats d without trailing zero units: 5m, 1h, 1m30s, 20s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// lockedWriter serializes writes to w, which cli's goroutines share.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// Write writes p to the underlying writer under the lock.
func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
