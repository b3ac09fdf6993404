package processes

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"
)

// closeStdin closes the child's stdin, once. It takes no lock: closing the
// file interrupts a Write blocked on a child that does not read.
func (p *process) closeStdin() error {
	if !p.stdinClosed.CompareAndSwap(false, true) {
		return nil
	}
	if p.tty != nil {
		return nil // the terminal stays open for output
	}
	return p.stdin.Close()
}

// longAgo is a deadline in the past, which interrupts a pending write.
var longAgo = time.Unix(1, 0)

// write writes to the child's stdin, one writer at a time, until ctx ends.
// It holds no lock of the session, so a child that does not read blocks
// only its writers, until it exits, stdin is closed or their ctx ends.
func (p *process) write(ctx context.Context, b []byte) (int, error) {
	if p.stdinClosed.Load() {
		return 0, p.closedErr()
	}
	select {
	case p.writing <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	defer func() { <-p.writing }()
	if ctx.Done() != nil {
		if dl, ok := ctx.Deadline(); ok {
			_ = p.stdin.SetWriteDeadline(dl)
		}
		interrupted := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			_ = p.stdin.SetWriteDeadline(longAgo)
			close(interrupted)
		})
		defer func() {
			if !stop() {
				<-interrupted // the next writer must not inherit its deadline
			}
			_ = p.stdin.SetWriteDeadline(time.Time{})
		}()
	}
	n, err := p.stdin.Write(b)
	switch {
	case err == nil:
	case errors.Is(err, os.ErrDeadlineExceeded) && ctx.Done() != nil:
		// Only ctx sets deadlines; its own timer may fire a moment later.
		<-ctx.Done()
		err = ctx.Err()
	case p.stdinClosed.Load() || errors.Is(err, syscall.EPIPE) || errors.Is(err, os.ErrClosed) || errors.Is(err, syscall.EIO):
		err = p.closedErr()
	}
	return n, err
}

// closedErr is the error of a write to a stdin that is closed:
// ErrExited once the process was reaped, else ErrStdinClosed.
func (p *process) closedErr() error {
	if p.reaped.Load() {
		return ErrExited
	}
	return ErrStdinClosed
}
