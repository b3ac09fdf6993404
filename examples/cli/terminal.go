//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"

	"github.com/sessionkit/sessionkit/ptyterm"
)

// The size of the program's terminal when the user's does not tell its own.
const (
	defaultRows = 24
	defaultCols = 80
)

// runTerminal is terminal mode: the program under a ptyterm.Terminal
// attached to the user's terminal stdin, in raw mode while attached.
func runTerminal(ctx context.Context, c config, sigc <-chan os.Signal, stdin *os.File, stdout, stderr io.Writer) int {
	const nl = "\r\n" // raw mode: no output processing
	// Decided before stderr is wrapped: is stderr the terminal the program
	// draws on?
	titleWarning := sameTerminal(stdout, stderr)
	stderr = &lockedWriter{w: stderr} // the idle warning comes from another goroutine
	scr := &screen{w: stdout}

	rows, cols := uint16(defaultRows), uint16(defaultCols)
	if r, k, err := terminalSize(stdin); err == nil && r > 0 && k > 0 {
		rows, cols = r, k
	}
	mode, err := makeRaw(stdin)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	// Deferred first, so it runs last: after Shutdown, and while a panic in
	// this goroutine unwinds.
	defer func() {
		if err := mode.restore(); err != nil {
			fmt.Fprintln(stderr, err)
		}
	}()

	m := newManager(c.idle)
	defer shutdown(m, stderr, nl)

	warn := &idleWarning{
		screen: scr,
		title:  titleWarning,
		line:   stderr,
		text:   fmt.Sprintf("cli: idle — closing in %s unless you type", shortDuration(c.warn)),
	}
	idle := c.idle
	if idle <= 0 {
		idle = -1 // ptyterm: never idles out
	}
	term, err := ptyterm.Start(m, exec.Command(c.argv[0], c.argv[1:]...), ptyterm.Options{
		Rows:          rows,
		Cols:          cols,
		IdleTimeout:   idle,
		WarnBefore:    c.warn,
		OnIdleWarning: func(*ptyterm.Terminal) { warn.show() },
	})
	if err != nil {
		return startFailed(err, stderr, nl)
	}

	st := &stopper{end: func() { _ = term.Close() }} // Close waits until the program is gone
	resize := func() {
		if rows, cols, err := terminalSize(stdin); err == nil && rows > 0 && cols > 0 {
			if term.Resize(rows, cols) == nil { // fails only once the program exited
				warn.clear()
			}
		}
	}
	tty := &ttyActions{
		resize: resize,
		// Stopped from outside (kill -TSTP: Ctrl-Z goes to the program),
		// cli does what a full-screen program does: it gives the terminal
		// its mode back, so that the shell the user returns to works, and
		// stops, unless no shell could continue it (an orphaned process
		// group, where the kernel ignores SIGTSTP). The program runs on.
		suspend: func() {
			if !canStop() {
				return
			}
			warn.clear() // the title is the shell's while cli is stopped
			_ = mode.restore()
			// SIGSTOP, since SIGTSTP is caught; SIGCONT comes to sigc once
			// continued, which is when raw mode comes back: the stop may
			// come after Kill returns.
			_ = syscall.Kill(os.Getpid(), syscall.SIGSTOP)
		},
		// The signals whose default is the Go runtime's exit with a stack
		// dump (kill -QUIT, since Ctrl-\ goes to the program) would leave the
		// terminal raw, the dump a staircase: the terminal first, then the
		// default. The program dies of its terminal's hangup.
		crash: func(sig os.Signal) {
			warn.clear()
			_ = mode.restore()
			signal.Reset(sig)
			_ = syscall.Kill(os.Getpid(), sig.(syscall.Signal))
		},
		// Continued, after a stop of either kind: raw mode again, and the
		// size, which may have changed meanwhile.
		resume: func() {
			if err := mode.enter(); err != nil {
				fmt.Fprintf(stderr, "%v%s", err, nl)
			}
			resize()
		},
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { forwardSignals(sigc, done, tty, st) })
	// Not waited for: it may stay blocked in a Read of stdin that nothing
	// can interrupt, which is harmless in a program about to exit.
	go copyKeys(stdin, term, warn)

	code, closed := follow(ctx, term.Session(), scr, stderr, nl, st)
	close(done)
	wg.Wait()
	warn.end()
	reportClosed(closed, st, c.idle, stderr, nl)
	return code
}

// copyKeys copies the user's keystrokes to the terminal until either ends.
// A key press clears the idle warning.
func copyKeys(stdin io.Reader, term *ptyterm.Terminal, warn *idleWarning) {
	buf := make([]byte, 32<<10)
	for {
		n, err := stdin.Read(buf)
		if n > 0 {
			if _, werr := term.Write(buf[:n]); werr != nil {
				return // the program exited or the terminal closed
			}
			warn.clear()
		}
		if err != nil {
			return
		}
	}
}

// Escape sequences of the idle warning in the title (xterm's window
// operations, which most terminal emulators follow).
const (
	pushTitle = "\x1b[22;2t" // save the window title on the title stack
	popTitle  = "\x1b[23;2t" // restore it
	bell      = "\a"
)

// setTitle returns the sequence (OSC 2) that sets the window title to s.
func setTitle(s string) string { return "\x1b]2;" + s + "\a" }

// idleWarning shows the idle warning without writing into the program's
// screen: in the terminal's title, with the bell, when cli's stderr is the
// terminal the program draws on (the title is saved first and restored at
// the next key press, resize or exit), or else as a line on stderr, which is
// then elsewhere. It is safe for concurrent use.
type idleWarning struct {
	screen *screen   // the program's output, where the title sequences go
	title  bool      // warn in the title, not with a line on line
	line   io.Writer // stderr
	text   string

	mu     sync.Mutex
	shown  bool // the title holds the warning
	closed bool // end was called
}

// show warns, once per idle stretch (ptyterm calls it so).
func (w *idleWarning) show() {
	if !w.title {
		fmt.Fprintf(w.line, "\r\n[%s]\r\n", w.text)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.shown || w.closed {
		return
	}
	w.shown = true
	_ = w.screen.Insert([]byte(pushTitle + setTitle(w.text) + bell))
}

// clear restores the title if it holds the warning: the user is back.
func (w *idleWarning) clear() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.clearLocked()
}

func (w *idleWarning) clearLocked() {
	if w.shown {
		w.shown = false
		_ = w.screen.Insert([]byte(popTitle))
	}
}

// end restores the title for good, once the program is gone, and writes
// what is still pending, so that nothing of cli's is left in the title.
func (w *idleWarning) end() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.clearLocked()
	w.closed = true
	_ = w.screen.Flush()
}
