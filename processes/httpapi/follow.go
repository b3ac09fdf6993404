package httpapi

import (
	"context"
	"errors"
	"fmt"
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

// Cursor is a position in the output of one incarnation of a session: the
// Seq of the last chunk received, and the invocation those Seqs count in
// ([processes.Output].InvocationID). The zero Cursor is the start of
// whatever session answers.
type Cursor struct {
	// InvocationID is the invocation the cursor was taken in; empty means
	// any (see [Client.Poll]).
	InvocationID string
	// Seq is the Seq of the last chunk received, 0 for none.
	Seq int
}

// Follow is the polling loop of an SDK: it is FollowCursor from
// Cursor{Seq: since}, adopting the invocation of the first poll's answer,
// so that a session replaced by another of the same ID while it follows is
// reported (an error matching [ErrInvocationChanged], or the 410 of the
// replacement, matching processes.ErrReplaced), never mixed in, and a since
// past the answering session's output returns an error matching
// [ErrCursorAhead] rather than waiting for output it would then skip.
func (c *Client) Follow(ctx context.Context, sid string, since int, fn func(processes.Output) error) (exit int, err error) {
	return c.FollowCursor(ctx, sid, Cursor{Seq: since}, fn)
}

// FollowCursor long-polls the session's output from cur with
// [Client.PollWait], asking for merged chunks (a run of chunks of one
// stream arrives as one chunk with the Seq of the last), advancing the
// cursor to the last chunk's Seq, and calls fn with every poll that has
// chunks or missed bytes (Output.Missed > 0 means output was dropped before
// this client saw it; fn may warn). A poll cut short by the server's bound
// (Output.More) is followed at once by the next, without waiting. It
// returns the exit code once the process exited and all of its output was
// passed to fn (or -1 if the server reported no code).
//
// An empty cur.InvocationID is taken from the first answer; from then on
// every poll names it, and a session that is another invocation returns
// an error matching [ErrInvocationChanged] whose [APIError].InvocationID
// is the new one. fn sees each Output's InvocationID.
//
// Transient errors (network errors, answers of status 5xx, 408 and 429, and
// a poll that takes its wait plus 30 s) are retried with exponential
// backoff: 100 ms doubling up to MaxBackoff, each delay jittered to between
// half and all of it, without a limit on the number of retries. Other
// errors, such as the 404 of a session that is gone (errors.Is(err,
// processes.ErrNotFound)) or the 410 of one closed while it was followed
// (processes.ErrClosed, and the reason: processes.ErrIdleTimeout,
// ErrForgotten, ErrReplaced, ErrShutdown), are returned at once, as are a
// base URL that no request can use (processes.ErrInvalid, see [NewClient])
// and a 2xx answer that is not the handler's JSON (another server at the
// base URL). Follow gives up only when ctx ends: give it a deadline to
// bound the retries. It returns an error matching ctx.Err() when ctx ends,
// which also wraps the error being retried then, if any (such as a refused
// connection), and fn's error when fn fails; exit is -1 whenever err is
// not nil. fn is called from the goroutine that called FollowCursor, one
// call at a time.
//
// Sessions live in the server's Manager, so a Follow does not survive a
// restart of the server: a Manager's Shutdown ends it with the 410
// "shut_down" (processes.ErrShutdown); a server that died without one and
// came back answers the 404 of a missing session once it serves again, or
// ErrInvocationChanged if a session was started again under the ID.
func (c *Client) FollowCursor(ctx context.Context, sid string, cur Cursor, fn func(processes.Output) error) (exit int, err error) {
	wait := c.PollWait
	if wait <= 0 {
		wait = DefaultPollWait
	}
	maxBackoff := c.MaxBackoff
	if maxBackoff <= 0 {
		maxBackoff = DefaultMaxBackoff
	}
	backoff := min(firstBackoff, maxBackoff)
	more := false
	var retried error // the transient error being retried, if any
	// ended returns ctx's error, with the error being retried if any,
	// so that a Follow that gave up says why it could not reach the
	// server.
	ended := func() error {
		if retried != nil {
			return fmt.Errorf("%w (while retrying after: %w)", ctx.Err(), retried)
		}
		return ctx.Err()
	}
	for {
		opts := PollOptions{Wait: wait, Merge: true}
		if more {
			opts.Wait = 0 // the rest of the output is there already
		}
		pctx, cancel := context.WithTimeout(ctx, wait+pollSlack)
		out, err := c.Poll(pctx, sid, cur, opts)
		cancel()
		if ctx.Err() != nil {
			return -1, ended()
		}
		if err != nil {
			if !transient(err) {
				return -1, err
			}
			retried = err
			if sleep(ctx, jitter(backoff)) != nil {
				return -1, ended()
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff, retried = min(firstBackoff, maxBackoff), nil

		switch {
		case cur.InvocationID == "":
			cur.InvocationID = out.InvocationID
		case out.InvocationID != "" && out.InvocationID != cur.InvocationID:
			// A server that did not check the invocation itself.
			return -1, &APIError{Status: http.StatusConflict, Code: CodeInvocationChanged,
				Message: ErrInvocationChanged.Error(), InvocationID: out.InvocationID}
		}
		if len(out.Chunks) > 0 || out.Missed > 0 {
			if err := fn(out); err != nil {
				return -1, err
			}
		}
		if n := len(out.Chunks); n > 0 {
			cur.Seq = out.Chunks[n-1].Seq
		}
		// A page says more only when it carries chunks; one that says
		// more with none (not this package's handler) is waited on like an
		// empty poll, not asked again at once, which would spin.
		more = out.More && len(out.Chunks) > 0
		if !out.Alive && !out.More {
			if out.Exit == nil {
				return -1, nil
			}
			return *out.Exit, nil
		}
	}
}

// transient reports whether Follow retries after err.
func transient(err error) bool {
	if errors.Is(err, errSeqRange) || errors.Is(err, errNotAPI) {
		return false // the same answer again
	}
	if errors.Is(err, processes.ErrInvalid) {
		return false // a bad base URL or session ID: no request was sent
	}
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
