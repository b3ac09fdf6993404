//go:build linux

// Command cli shows how a command-line tool embeds sessionkit: it runs a
// program (by default the user's $SHELL) under a ptyterm.Terminal attached
// to the user's own terminal, the way ssh or tmux attach one, or on pipes
// when its standard input is not a terminal, the way ssh without a terminal
// and docker exec -i without -t do.
//
// Usage:
//
//	cli [-idle 5m] [-warn 30s] [command [arg ...]]
//
// # Terminal mode
//
// When standard input is a terminal, the user's terminal is in raw mode
// while attached, so that every key goes to the program as is; it is
// restored on every way out, signals and panics included (SIGQUIT and
// SIGABRT too, before the Go runtime's stack dump), and while cli is
// stopped by a SIGTSTP from outside (raw again once continued). Keystrokes are
// copied to [ptyterm.Terminal.Write], the program's output is followed with
// [processes.Session.WaitOutput] and [processes.Session.Output] by sequence
// number, a resize of the user's terminal (SIGWINCH) becomes
// [ptyterm.Terminal.Resize], and SIGINT, SIGTERM or SIGHUP sent to cli
// close the terminal, as a real one going away does.
//
// Idleness is the user's, not the program's: after -idle without a key
// press or a resize the Manager's sweep closes the terminal, even if the
// program keeps printing. -warn before that, cli warns without writing into
// the program's screen: it sets the terminal's title to the warning (saving
// the title first, and restoring it at the next key press, resize or exit)
// and rings the bell, unless its standard error is not the terminal the
// program draws on, in which case it writes the warning line there.
//
// # Pipe mode
//
// When standard input is not a terminal, the program runs on pipes with
// [processes.Manager.Start]: its standard output and standard error reach
// cli's, apart; standard input is copied to it, and the end of the input
// is the end of its standard input, so that a shell or an interpreter
// reading a script from it ends. There is no raw mode, no terminal size
// and no warning (nobody types); the program is idle after -idle without
// input or output, and SIGINT, SIGTERM or SIGHUP sent to cli terminate it
// (SIGTERM to its process group, SIGKILL after a grace).
//
// In both modes cli exits with the program's exit code (128+N for a program
// killed by signal N, such as 129 for the SIGHUP of an idle close of a
// terminal, 143 for the SIGTERM of pipe mode).
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

// shutdownTimeout bounds Manager.Shutdown at exit.
const shutdownTimeout = 10 * time.Second

// defaultWarn is -warn when not given, unless -idle is not longer: then
// the warning comes halfway through the idle timeout.
const defaultWarn = 30 * time.Second

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
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
	fs.DurationVar(&c.warn, "warn", defaultWarn, "warn this long before the idle close (0: no warning; by default half of an -idle under a minute)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	warnSet := false
	fs.Visit(func(f *flag.Flag) { warnSet = warnSet || f.Name == "warn" })
	if !warnSet && c.idle > 0 && c.warn >= c.idle {
		c.warn = c.idle / 2 // -idle 20s alone warns 10s ahead
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
// other failures, such as ctx ending first, which stops the program. stdin
// is the user's terminal, which selects terminal mode, or anything else,
// which selects pipe mode.
func run(ctx context.Context, args []string, stdin *os.File, stdout, stderr io.Writer) int {
	c, err := parseArgs(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		return 2
	}

	// Signals first, so that no resize between reading the size and
	// subscribing is lost. SIGPIPE is caught so that writing to a closed
	// stdout fails with EPIPE instead of killing cli in raw mode.
	sigc := make(chan os.Signal, 8)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	defer signal.Stop(sigc)

	if isTerminal(stdin) {
		signal.Notify(sigc, syscall.SIGWINCH, syscall.SIGTSTP, syscall.SIGCONT, syscall.SIGQUIT, syscall.SIGABRT)
		return runTerminal(ctx, c, sigc, stdin, stdout, stderr)
	}
	return runPipes(ctx, c, sigc, stdin, stdout, &lockedWriter{w: stderr})
}

// newManager returns a running Manager that closes sessions idle for
// longer than idle (never if idle <= 0).
func newManager(idle time.Duration) *processes.Manager {
	m := processes.NewManager(idle, processes.WithSweepInterval(sweepInterval(idle)))
	m.Run()
	return m
}

// shutdown shuts m down within shutdownTimeout, and reports an error on
// stderr, nl ending the line.
func shutdown(m *processes.Manager, stderr io.Writer, nl string) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := m.Shutdown(ctx); err != nil {
		fmt.Fprintf(stderr, "cli: shutdown: %v%s", err, nl)
	}
}

// startFailed reports a program that could not be started and returns
// cli's exit code: 127 when it was not found, 1 otherwise.
func startFailed(err error, stderr io.Writer, nl string) int {
	fmt.Fprintf(stderr, "cli: %v%s", err, nl) // it names the program
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
		return 127
	}
	return 1
}

// sweepInterval is how often the Manager looks for idle sessions: a tenth
// of the idle timeout, between one and five seconds, so that the idle close
// comes at most that late.
func sweepInterval(idle time.Duration) time.Duration {
	return min(max(idle/10, time.Second), 5*time.Second)
}

// stopper ends the program once, for a signal to cli or a failed write,
// and remembers that cli did it, so that it is not reported as an idle
// close.
type stopper struct {
	end     func() // stops the program and waits until it is gone
	closing atomic.Bool
}

// stop marks the close as cli's own and ends the program.
func (s *stopper) stop() {
	s.closing.Store(true)
	s.end()
}

// follow copies the session's output as it comes, "stderr" chunks to
// stderr and the others to stdout, tracking the cursor by Seq, until the
// program exited and all of its output is in. It returns the program's exit
// code, and whether the session was closed while the program still ran
// (idle eviction, or cli's own close). A write that fails stops the
// program, and the rest of the output is dropped. When ctx ends first it
// returns 1, leaving the program to Manager.Shutdown. nl ends cli's own
// lines.
func follow(ctx context.Context, s *processes.Session, stdout, stderr io.Writer, nl string, st *stopper) (code int, closed bool) {
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
			fmt.Fprintf(stderr, "cli: wait for output: %v%s", err, nl)
			return 1, closed
		}
		out := s.Output(since)
		if out.Missed > 0 && werr == nil {
			fmt.Fprintf(stderr, "%s[cli: %d bytes of output dropped]%s", nl, out.Missed, nl)
		}
		for _, ch := range out.Chunks {
			since = ch.Seq
			if werr != nil {
				continue
			}
			w := stdout
			if ch.Stream == "stderr" {
				w = stderr
			}
			if _, werr = w.Write(ch.Data); werr != nil {
				fmt.Fprintf(stderr, "cli: write output: %v%s", werr, nl)
				st.stop()
			}
		}
		if out.Exit != nil {
			return *out.Exit, closed
		}
	}
}

// ttyActions are terminal mode's answers to the signals that concern the
// user's terminal.
type ttyActions struct {
	resize  func() // SIGWINCH: the user's terminal was resized
	suspend func() // SIGTSTP: give the terminal its mode back, and stop
	resume  func() // SIGCONT: continued, raw mode again
	// SIGQUIT, SIGABRT: give the terminal its mode back, then the signal's
	// default, the Go runtime's exit with a stack dump
	crash func(sig os.Signal)
}

// forwardSignals acts on cli's signals until done is closed: SIGWINCH,
// SIGTSTP, SIGCONT, SIGQUIT and SIGABRT call tty's actions (if tty is not
// nil), and SIGINT,
// SIGTERM and SIGHUP stop the program. SIGPIPE is ignored.
func forwardSignals(sigc <-chan os.Signal, done <-chan struct{}, tty *ttyActions, st *stopper) {
	for {
		select {
		case <-done:
			return
		case sig := <-sigc:
			switch sig {
			case syscall.SIGWINCH:
				if tty != nil {
					tty.resize()
				}
			case syscall.SIGTSTP:
				if tty != nil {
					tty.suspend()
				}
			case syscall.SIGCONT:
				if tty != nil {
					tty.resume()
				}
			case syscall.SIGQUIT, syscall.SIGABRT:
				if tty != nil {
					tty.crash(sig)
				}
			case syscall.SIGPIPE:
			default:
				st.stop()
			}
		}
	}
}

// reportClosed tells the user, when the session was closed while its
// program ran and not by cli itself, that it was for idleness.
func reportClosed(closed bool, st *stopper, idle time.Duration, stderr io.Writer, nl string) {
	if closed && !st.closing.Load() {
		fmt.Fprintf(stderr, "%s[cli: session closed after %s idle]%s", nl, shortDuration(idle), nl)
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
