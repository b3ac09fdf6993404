package httpapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/sessionkit/sessionkit/processes"
)

// maxSeq is a cursor past every chunk: Page(maxSeq, ...) copies no data.
const maxSeq = math.MaxInt

// wireChunk is a chunk as the client decodes it; Data is base64 in JSON.
// Numbers are 64-bit whatever the platform.
type wireChunk struct {
	Stream string `json:"stream"`
	Seq    int64  `json:"seq"`
	Data   []byte `json:"data"`
}

// wireOutput is the body of GET {sid}/output as the client decodes it. The
// handler writes it with [encoder.writePoll], in this field order.
type wireOutput struct {
	Chunks       []wireChunk `json:"chunks"`
	Exit         *int        `json:"exit"`
	Alive        bool        `json:"alive"`
	LostBytes    int64       `json:"lost_bytes"`
	Missed       int64       `json:"missed"`
	InvocationID string      `json:"invocation_id"`
	More         bool        `json:"more"`
}

// errSeqRange is returned by fromWire for a Seq that int cannot hold.
var errSeqRange = errors.New("httpapi: a chunk's seq does not fit in an int on this platform")

// fromWire converts a decoded poll, clamping byte counts to int as package
// processes does. It fails only for a Seq past math.MaxInt, which a 32-bit
// client may meet.
func fromWire(w wireOutput) (processes.Output, error) {
	out := processes.Output{
		Exit:         w.Exit,
		Alive:        w.Alive,
		LostBytes:    clampInt(w.LostBytes),
		Missed:       clampInt(w.Missed),
		InvocationID: w.InvocationID,
		More:         w.More,
	}
	if len(w.Chunks) > 0 {
		out.Chunks = make([]processes.Chunk, len(w.Chunks))
		for i, c := range w.Chunks {
			seq := int(c.Seq)
			if int64(seq) != c.Seq {
				return processes.Output{}, errSeqRange
			}
			out.Chunks[i] = processes.Chunk{Stream: c.Stream, Seq: seq, Data: c.Data}
		}
	}
	return out, nil
}

// clampInt converts a byte count to int, saturating at math.MaxInt and 0.
func clampInt(n int64) int {
	return int(max(0, min(n, math.MaxInt)))
}

// parseSince parses a cursor: empty is 0, otherwise a non-negative integer.
func parseSince(v string) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	switch {
	case errors.Is(err, strconv.ErrRange) && v[0] != '-':
		return 0, fmt.Errorf("since is out of range: %q", v)
	case err != nil || n < 0:
		return 0, fmt.Errorf("since is not a non-negative integer: %q", v)
	}
	return n, nil
}

// parseWait parses a wait: empty is 0, a bare integer counts seconds,
// anything else is a time.ParseDuration string such as "500ms"; negative is
// refused.
func parseWait(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err == nil || errors.Is(err, strconv.ErrRange) {
		if err != nil || n < 0 || n > int64(math.MaxInt64/time.Second) {
			return 0, fmt.Errorf("wait is out of range: %q", v)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("wait is not a non-negative duration such as 30s: %q", v)
	}
	return d, nil
}

// parseFlag parses a boolean parameter: empty is false, otherwise any
// value strconv.ParseBool takes.
func parseFlag(name, v string) (bool, error) {
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s is not a boolean: %q", name, v)
	}
	return b, nil
}

// exited reports whether the session's exit is recorded.
func exited(s *processes.Session) bool {
	_, ok := s.ExitStatus()
	return ok
}

// pollPage bounds the page of a poll so that its JSON fits in
// h.maxResponse (see the estimates in encode.go).
func (h *handler) pollPage(merge bool) processes.PageOptions {
	return processes.PageOptions{
		MaxBytes:      (h.maxResponse - len(pollHead) - pollTailReserve) / 4 * 3,
		ChunkOverhead: pollChunkOverhead,
		Merge:         merge,
	}
}

// checkCursor refuses a cursor that s cannot serve exactly: one whose
// invocation is not s's (409 invocation_changed), or one past s's newest
// Seq (409 cursor_ahead), which without an invocation comes from another
// session and with s's invocation was never handed out, and whose reader
// would skip the chunks up to it without being told. When it returns
// false it has answered the request.
func (h *handler) checkCursor(w http.ResponseWriter, s *processes.Session, inv string, since int) bool {
	cur := s.InvocationID()
	switch {
	case inv != "" && inv != cur:
		writeJSON(w, http.StatusConflict, errorBody{
			Error:        ErrInvocationChanged.Error() + ": the session was replaced since the cursor was taken; start over from since=0 with the invocation_id of this answer",
			Code:         CodeInvocationChanged,
			InvocationID: cur,
		})
		return false
	case since > s.LastSeq():
		hint := "; pass the invocation the cursor was taken in"
		if inv != "" {
			hint = " of this invocation"
		}
		writeJSON(w, http.StatusConflict, errorBody{
			Error:        ErrCursorAhead.Error() + ": since " + strconv.Itoa(since) + " is past the newest seq" + hint,
			Code:         CodeCursorAhead,
			InvocationID: cur,
		})
		return false
	}
	return true
}

func (h *handler) serveOutput(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	since, err := parseSince(q.Get("since"))
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	wait, err := parseWait(q.Get("wait"))
	if err != nil {
		badRequest(w, err.Error())
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
	if wait > 0 {
		// A client is connected until the answer is written: the sweep
		// does not evict the session meanwhile, and the release counts as
		// activity, so the gap until the next poll starts a fresh window.
		release := s.Hold()
		defer release()
		ctx, cancel := context.WithTimeout(r.Context(), min(wait, h.maxWait))
		err := s.WaitOutput(ctx, since)
		cancel()
		switch {
		case err == nil:
		case r.Context().Err() != nil:
			return // the client left: nobody to answer
		case errors.Is(err, context.DeadlineExceeded):
			// The wait is over with nothing new: answer the empty poll.
		case errors.Is(err, processes.ErrClosed) && exited(s):
			// Closed after its exit: its final output is still readable.
		default:
			h.fail(w, r, err)
			return
		}
	}
	out := s.Page(since, h.pollPage(merge))
	rc := http.NewResponseController(w)
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	e := getEncoder(w, rc, h.writeTimeout)
	l := e.layoutPoll(out, h.maxResponse)
	// A length rather than chunked encoding: the answer goes in one write,
	// with no terminating chunk written after it.
	hdr.Set("Content-Length", strconv.Itoa(l.size))
	w.WriteHeader(http.StatusOK)
	err = e.writePoll(out, l)
	e.release()
	if err == nil {
		h.clearDeadline(rc)
	}
}

// clearDeadline removes the write deadline the handler set, once its
// answer is flushed, so that the next request on the connection does not
// inherit it.
func (h *handler) clearDeadline(rc *http.ResponseController) {
	if h.writeTimeout > 0 {
		_ = rc.SetWriteDeadline(time.Time{})
	}
}
