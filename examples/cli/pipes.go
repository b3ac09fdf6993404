//go:build linux

package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"sync"

	"github.com/sessionkit/sessionkit/processes"
)

// runPipes is pipe mode, for a standard input that is not a terminal: the
// program runs on pipes, as ssh without a terminal and docker exec -i
// without -t run it, so that the end of the input is the end of its
// standard input, and its standard error stays apart from its output.
// Nobody types, so there is no warning, and both input and output count as
// activity: a program that is fed or prints is in use.
func runPipes(ctx context.Context, c config, sigc <-chan os.Signal, stdin io.Reader, stdout, stderr io.Writer) int {
	const nl = "\n"
	m := newManager(c.idle)
	defer shutdown(m, stderr, nl)

	s, err := m.Start(exec.Command(c.argv[0], c.argv[1:]...), processes.StartOptions{
		Activity: processes.ActivityInput | processes.ActivityOutput,
	})
	if err != nil {
		return startFailed(err, stderr, nl)
	}

	// Terminate waits until the program and its descendants are gone.
	st := &stopper{end: func() { _ = s.Terminate(context.Background()) }}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { forwardSignals(sigc, done, nil, st) })
	// Not waited for: it may stay blocked in a Read of stdin that nothing
	// can interrupt, which is harmless in a program about to exit.
	go copyStdin(stdin, s)

	code, closed := follow(ctx, s, stdout, stderr, nl, st)
	close(done)
	wg.Wait()
	reportClosed(closed, st, c.idle, stderr, nl)
	return code
}

// copyStdin copies stdin to the program's standard input, and closes it
// at the end of stdin (or a read error), so that the program reads end of
// file. It returns early if the program exits first.
func copyStdin(stdin io.Reader, s *processes.Session) {
	buf := make([]byte, 32<<10)
	for {
		n, err := stdin.Read(buf)
		if n > 0 {
			if _, werr := s.Write(buf[:n]); werr != nil {
				return // the program exited or closed its stdin
			}
		}
		if err != nil {
			_ = s.CloseStdin()
			return
		}
	}
}
