package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/sessionkit/sessionkit/processes"
)

// maxEventBatch bounds one batch of an event stream, in bytes of events,
// whatever Options.MaxResponseBytes: a stream copies and writes at most
// this much output at a time.
const maxEventBatch = 256 << 10

// eventPage bounds one batch of an event stream.
func (h *handler) eventPage(merge bool) processes.PageOptions {
	return processes.PageOptions{
		MaxBytes:      min(h.maxResponse, maxEventBatch) / 4 * 3,
		ChunkOverhead: eventChunkOverhead,
		Merge:         merge,
	}
}

// closedBody is the data of a closed event.
type closedBody struct {
	Error  string `json:"error"`
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

func (h *handler) serveEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	v, from := r.Header.Get("Last-Event-ID"), "Last-Event-ID"
	if v == "" {
		v, from = q.Get("since"), "since"
	}
	since, err := parseSince(v)
	if err != nil {
		badRequest(w, from+": "+err.Error())
		return
	}
	merge, err := parseFlag("merge", q.Get("merge"))
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	s, ok := h.session(w, r)
	if !ok || !h.checkCursor(w, s, q.Get("invocation"), since) {
		return
	}
	// The stream is a connected client for as long as it lasts.
	release := s.Hold()
	defer release()

	rc := http.NewResponseController(w)
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	e := getEncoder(w, rc, h.writeTimeout)
	e.bw.WriteString("event: hello\ndata: {\"invocation_id\":")
	e.bw.Write(appendJSONString(e.scratch[:0], s.InvocationID()))
	e.bw.WriteString(`,"since":`)
	e.int(int64(since))
	e.bw.WriteString("}\n\n")
	err = e.flush()
	e.release()
	if err != nil {
		return
	}

	var warned uint64 // the number of the last idle warning seen
	for {
		if left, n, ok := h.idleWarning(s); n > warned {
			warned = n
			if ok && !h.warningEvent(w, rc, left) {
				return
			}
		}
		out := s.Page(since, h.eventPage(merge))
		done := !out.Alive && !out.More
		if len(out.Chunks) > 0 || out.Missed > 0 || done {
			// The buffer and the page live for this batch only.
			e := getEncoder(w, rc, h.writeTimeout)
			if out.Missed > 0 {
				e.bw.WriteString("event: missed\ndata: {\"missed\":")
				e.int(int64(out.Missed))
				e.bw.WriteString(`,"lost_bytes":`)
				e.int(int64(out.LostBytes))
				e.bw.WriteString("}\n\n")
			}
			for _, c := range out.Chunks {
				e.outputEvent(c)
				since = c.Seq
			}
			if done {
				e.bw.WriteString("id: ")
				e.int(int64(since))
				e.bw.WriteString("\nevent: exit\ndata: {\"exit\":")
				if out.Exit == nil {
					e.bw.WriteString("null")
				} else {
					e.int(int64(*out.Exit))
				}
				e.bw.WriteString("}\n\n")
				if reason := s.CloseReason(); reason != nil {
					// Closing ended the process: say why after its exit.
					closedEvent(e, reason)
				}
			}
			err := e.flush()
			e.release()
			if err != nil {
				return
			}
		}
		if done {
			h.clearDeadline(rc)
			return
		}
		if out.More {
			continue
		}
		if !h.await(w, r, rc, s, since, warned) {
			return
		}
	}
}

// await waits for output after since or the exit, writing heartbeats
// meanwhile. It returns false when the stream must end: the client left or
// stopped reading, or the session was closed (an event says why).
func (h *handler) await(w http.ResponseWriter, r *http.Request, rc *http.ResponseController, s *processes.Session, since int, warned uint64) bool {
	for {
		ctx, cancel := r.Context(), context.CancelFunc(func() {})
		if h.heartbeat > 0 {
			ctx, cancel = context.WithTimeout(ctx, h.heartbeat)
		}
		err := s.WaitUpdate(ctx, since, warned)
		cancel()
		switch {
		case err == nil:
			return true
		case r.Context().Err() != nil:
			return false // the client left
		case errors.Is(err, context.DeadlineExceeded):
			e := getEncoder(w, rc, h.writeTimeout)
			e.bw.WriteString(": keepalive\n\n")
			err := e.flush()
			e.release()
			if err != nil {
				return false
			}
		case errors.Is(err, processes.ErrClosed) && exited(s):
			return true // closed after its exit: send the rest and the exit
		default:
			e := getEncoder(w, rc, h.writeTimeout)
			closedEvent(e, err)
			if e.flush() == nil {
				h.clearDeadline(rc)
			}
			e.release()
			return false
		}
	}
}

// closedEvent buffers the event "closed" for the close reason err.
func closedEvent(e *encoder, err error) {
	_, code, msg := classify(err)
	data, _ := json.Marshal(closedBody{Error: msg, Code: code, Reason: code})
	e.bw.WriteString("event: closed\ndata: ")
	e.bw.Write(data)
	e.bw.WriteString("\n\n")
}

// warningEvent writes an event "warning" with the seconds left, and
// reports whether it could.
func (h *handler) warningEvent(w http.ResponseWriter, rc *http.ResponseController, left float64) bool {
	e := getEncoder(w, rc, h.writeTimeout)
	defer e.release()
	e.bw.WriteString("event: warning\ndata: {\"seconds_left\":")
	e.bw.WriteString(strconv.FormatFloat(left, 'f', -1, 64))
	e.bw.WriteString("}\n\n")
	return e.flush() == nil
}

// idleWarning returns the seconds left until the idle close that the
// session's standing warning announces (processes.Session.IdleWarning), on
// the Manager's clock and never negative, and the number of warnings
// posted so far, which it returns whether one stands (ok) or not.
func (h *handler) idleWarning(s *processes.Session) (secondsLeft float64, n uint64, ok bool) {
	at, n, ok := s.IdleWarning()
	if !ok {
		return 0, n, false
	}
	return max(0, at.Sub(h.m.Clock().Now()).Seconds()), n, true
}
