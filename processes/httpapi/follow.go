package httpapi

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/sessionkit/sessionkit/processes"
)

const (
	// firstBackoff is Follow's first delay after a transient error.
	firstBackoff = 100 * time.Millisecond
	// pollSlack is how much longer than its wait a poll may take before
	// Follow gives up on it as a transient error (a connection that hangs).
	pollSlack = 30 * time.Second
)

// Follow is the polling loop of an SDK: it long-polls the session's output
// from cursor since (0 for all of it), advancing the cursor to the last
// chunk's Seq, and calls fn with every poll that has chunks or missed bytes
// (Output.Missed > 0 means output was dropped before this client saw it; fn
// may warn). It returns the exit code once the process exited and all of its
// output was passed to fn (or -1 if the server reported no code).
//
// Transient errors (network errors, answers of status 5xx, 408 and 429, and
// a poll that takes PollWait plus 30 s) are retried with exponential
// backoff: 100 ms doubling up to MaxBackoff, each delay jittered to between
// half and all of it, without a limit on the number of retries. Other
// errors, such as the 404 of a session that is gone (errors.Is(err,
// processes.ErrNotFound)), are returned at once. Follow returns ctx.Err()
// when ctx ends and fn's error when fn fails; exit is -1 whenever err is not
// nil. fn is called from the goroutine that called Follow, one call at a
// time.
func (c *Client) Follow(ctx context.Context, sid string, since int, fn func(processes.Output) error) (exit int, err error) {
	wait := c.PollWait
	if wait <= 0 {
		wait = DefaultPollWait
	}
	maxBackoff := c.MaxBackoff
	if maxBackoff <= 0 {
		maxBackoff = DefaultMaxBackoff
	}
	backoff := min(firstBackoff, maxBackoff)
	for {
		pctx, cancel := context.WithTimeout(ctx, wait+pollSlack)
		out, err := c.Output(pctx, sid, since, wait)
		cancel()
		if ctx.Err() != nil {
			return -1, ctx.Err()
		}
		if err != nil {
			if !transient(err) {
				return -1, err
			}
			if err := sleep(ctx, jitter(backoff)); err != nil {
				return -1, err
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = min(firstBackoff, maxBackoff)

		if len(out.Chunks) > 0 || out.Missed > 0 {
			if err := fn(out); err != nil {
				return -1, err
			}
		}
		if n := len(out.Chunks); n > 0 {
			since = out.Chunks[n-1].Seq
		}
		if !out.Alive {
			if out.Exit == nil {
				return -1, nil
			}
			return *out.Exit, nil
		}
	}
}

// transient reports whether Follow retries after err.
func transient(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status >= 500 || ae.Status == http.StatusRequestTimeout || ae.Status == http.StatusTooManyRequests
	}
	return true // the network, or an answer cut short
}

// jitter returns a duration between d/2 and d.
func jitter(d time.Duration) time.Duration {
	half := d / 2
	return half + rand.N(d-half+1)
}

// sleep waits for d or until ctx ends, returning ctx.Err() then.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
