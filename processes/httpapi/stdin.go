package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/sessionkit/sessionkit/processes"
)

// stdinBufSize is the piece of a stdin body read and written at a time, in
// a pooled buffer: the memory a stdin request holds.
const stdinBufSize = 32 << 10

var stdinBufs = sync.Pool{New: func() any { return new([stdinBufSize]byte) }}

// stdinQueue is the stdin requests of one session: how many are in the
// route, and the turn that one at a time holds while it writes its body,
// so that two bodies never interleave.
type stdinQueue struct {
	n    int           // requests in the route; guarded by handler.stdinMu
	turn chan struct{} // a token while a request writes
}

// errStall marks a stdin request that made no progress for StdinTimeout.
var errStall = errors.New("httpapi: stdin stalled")

// enterStdin counts a stdin request of s, refusing it past MaxStdinWriters.
func (h *handler) enterStdin(s *processes.Session) (*stdinQueue, bool) {
	h.stdinMu.Lock()
	defer h.stdinMu.Unlock()
	q := h.stdin[s]
	if q == nil {
		q = &stdinQueue{turn: make(chan struct{}, 1)}
		h.stdin[s] = q
	}
	if q.n >= h.maxWriters {
		return nil, false
	}
	q.n++
	return q, true
}

// leaveStdin uncounts a stdin request of s.
func (h *handler) leaveStdin(s *processes.Session, q *stdinQueue) {
	h.stdinMu.Lock()
	defer h.stdinMu.Unlock()
	if q.n--; q.n == 0 {
		delete(h.stdin, s)
	}
}

// stall returns a context that ends with ctx or after StdinTimeout.
func (h *handler) stall(ctx context.Context) (context.Context, context.CancelFunc) {
	if h.stdinTimeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeoutCause(ctx, h.stdinTimeout, errStall)
}

// takeTurn waits until q's turn is free and takes it.
func (h *handler) takeTurn(ctx context.Context, q *stdinQueue) error {
	sctx, cancel := h.stall(ctx)
	defer cancel()
	select {
	case q.turn <- struct{}{}:
		return nil
	case <-sctx.Done():
		return context.Cause(sctx)
	}
}

// write writes p to s's stdin, giving up after StdinTimeout without
// progress.
func (h *handler) write(ctx context.Context, s *processes.Session, p []byte) (int, error) {
	sctx, cancel := h.stall(ctx)
	defer cancel()
	n, err := s.WriteContext(sctx, p)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(sctx), errStall) {
		err = errStall
	}
	return n, err
}

func (h *handler) serveStdin(w http.ResponseWriter, r *http.Request) {
	closeAfter, err := parseFlag("close", r.URL.Query().Get("close"))
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	s, ok := h.session(w, r)
	if !ok {
		return
	}
	if r.ContentLength > h.maxStdin {
		// Refused before anything is read or written.
		h.fail(w, r, &APIError{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge,
			Message: fmt.Sprintf("httpapi: request body larger than %d bytes; nothing was written", h.maxStdin)})
		return
	}
	q, ok := h.enterStdin(s)
	if !ok {
		h.fail(w, r, &APIError{Status: http.StatusTooManyRequests, Code: CodeTooManyWriters,
			Message: fmt.Sprintf("%s: %d stdin requests are in progress; retry once one has ended", ErrTooManyWriters, h.maxWriters)})
		return
	}
	defer h.leaveStdin(s, q)
	// A client writing is a connected client: the sweep does not evict
	// the session while its request waits for the process.
	release := s.Hold()
	defer release()

	turn := false
	defer func() {
		if turn {
			<-q.turn
		}
	}()
	buf := stdinBufs.Get().(*[stdinBufSize]byte)
	defer stdinBufs.Put(buf)
	body := http.MaxBytesReader(w, r.Body, h.maxStdin)
	var written int64
	for {
		// A whole piece is read before it is written: a body that fits
		// in one is read to its end before the request waits for its
		// turn or for the process, so that net/http notices a client
		// that leaves meanwhile and cancels r.Context().
		n, rerr := io.ReadFull(body, buf[:])
		if rerr == io.ErrUnexpectedEOF {
			rerr = io.EOF
		}
		if rerr != nil && rerr != io.EOF {
			var mbe *http.MaxBytesError
			if !errors.As(rerr, &mbe) && r.Context().Err() == nil {
				// The client sent a broken body.
				h.log.Debug("httpapi: reading a stdin body", "path", r.URL.Path, "err", rerr)
				rerr = badRequestError("reading the body failed")
			}
			h.stdinFail(w, r, rerr, written)
			return
		}
		if n > 0 {
			if !turn {
				if err := h.takeTurn(r.Context(), q); err != nil {
					h.stdinFail(w, r, err, written)
					return
				}
				turn = true
			}
			m, err := h.write(r.Context(), s, buf[:n])
			written += int64(m)
			if err != nil {
				h.stdinFail(w, r, err, written)
				return
			}
		}
		if rerr == io.EOF {
			break
		}
	}
	if closeAfter {
		if !turn {
			if err := h.takeTurn(r.Context(), q); err != nil {
				h.stdinFail(w, r, err, written)
				return
			}
			turn = true
		}
		if err := s.CloseStdin(); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// stdinFail answers a stdin request that failed after written bytes of its
// body reached the process, saying how many did.
func (h *handler) stdinFail(w http.ResponseWriter, r *http.Request, err error, written int64) {
	switch {
	case r.Context().Err() != nil:
		h.fail(w, r, r.Context().Err()) // nobody reads it: recorded as 499
		return
	case errors.Is(err, errStall):
		err = &APIError{Status: http.StatusGatewayTimeout, Code: CodeTimeout,
			Message: fmt.Sprintf("httpapi: the process took no input for %v", h.stdinTimeout)}
	}
	status, code, msg := classify(err)
	logFailure(h.log, r, status, err)
	msg += "; " + strconv.FormatInt(written, 10) + " bytes of the body were written to stdin"
	writeError(w, status, code, msg)
}
