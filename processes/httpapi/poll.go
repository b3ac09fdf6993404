package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/sessionkit/sessionkit/processes"
)

// maxSeq is a cursor past every chunk: Output(maxSeq) copies no data.
const maxSeq = math.MaxInt

// wireChunk is a chunk on the wire; Data is base64 in JSON.
type wireChunk struct {
	Stream string `json:"stream"`
	Seq    int    `json:"seq"`
	Data   []byte `json:"data"`
}

// wireOutput is the body of GET {sid}/output.
type wireOutput struct {
	Chunks    []wireChunk `json:"chunks"`
	Exit      *int        `json:"exit"`
	Alive     bool        `json:"alive"`
	LostBytes int         `json:"lost_bytes"`
	Missed    int         `json:"missed"`
}

func toWire(out processes.Output) wireOutput {
	w := wireOutput{
		Chunks:    make([]wireChunk, len(out.Chunks)),
		Exit:      out.Exit,
		Alive:     out.Alive,
		LostBytes: out.LostBytes,
		Missed:    out.Missed,
	}
	for i, c := range out.Chunks {
		w.Chunks[i] = wireChunk{Stream: c.Stream, Seq: c.Seq, Data: c.Data}
	}
	return w
}

func fromWire(w wireOutput) processes.Output {
	out := processes.Output{
		Exit:      w.Exit,
		Alive:     w.Alive,
		LostBytes: w.LostBytes,
		Missed:    w.Missed,
	}
	if len(w.Chunks) > 0 {
		out.Chunks = make([]processes.Chunk, len(w.Chunks))
		for i, c := range w.Chunks {
			out.Chunks[i] = processes.Chunk{Stream: c.Stream, Seq: c.Seq, Data: c.Data}
		}
	}
	return out
}

// parseSince parses a cursor: empty is 0, otherwise a non-negative integer.
func parseSince(v string) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
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
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 || n > int(math.MaxInt64/time.Second) {
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
	s, ok := h.session(w, r)
	if !ok {
		return
	}
	if wait > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), min(wait, h.maxWait))
		err := s.WaitOutput(ctx, since)
		cancel()
		switch {
		case err == nil:
		case r.Context().Err() != nil:
			return // the client left: nobody to answer
		case errors.Is(err, context.DeadlineExceeded):
			// The wait is over with nothing new: answer the empty poll.
		case errors.Is(err, processes.ErrClosed) && !s.Output(maxSeq).Alive:
			// Forgotten after its exit: its final output is still readable.
		default:
			h.fail(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, toWire(s.Output(since)))
}

// missedBody is the data of a missed event.
type missedBody struct {
	Missed    int `json:"missed"`
	LostBytes int `json:"lost_bytes"`
}

func (h *handler) serveEvents(w http.ResponseWriter, r *http.Request) {
	v, from := r.Header.Get("Last-Event-ID"), "Last-Event-ID"
	if v == "" {
		v, from = r.URL.Query().Get("since"), "since"
	}
	since, err := parseSince(v)
	if err != nil {
		badRequest(w, from+": "+err.Error())
		return
	}
	s, ok := h.session(w, r)
	if !ok {
		return
	}

	rc := http.NewResponseController(w)
	// The stream lasts as long as the session: no write deadline of the
	// server's may cut it. Not every ResponseWriter supports deadlines.
	_ = rc.SetWriteDeadline(time.Time{})
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if rc.Flush() != nil {
		return
	}

	var buf []byte
	for {
		out := s.Output(since)
		buf = buf[:0]
		if out.Missed > 0 {
			buf = appendEvent(buf, -1, "missed", missedBody{Missed: out.Missed, LostBytes: out.LostBytes})
		}
		for _, c := range out.Chunks {
			buf = appendEvent(buf, c.Seq, "output", wireChunk{Stream: c.Stream, Seq: c.Seq, Data: c.Data})
			since = c.Seq
		}
		if !out.Alive {
			buf = appendEvent(buf, since, "exit", exitBody{Exit: out.Exit})
		}
		if len(buf) > 0 {
			if _, err := w.Write(buf); err != nil || rc.Flush() != nil {
				return
			}
		}
		if !out.Alive {
			return
		}

		if !h.await(w, r, rc, s, since) {
			return
		}
	}
}

// await waits for output after since or the exit, writing heartbeats
// meanwhile. It returns false when the stream must end: the client left, or
// the session was closed (an event says so).
func (h *handler) await(w http.ResponseWriter, r *http.Request, rc *http.ResponseController, s *processes.Session, since int) bool {
	for {
		ctx, cancel := r.Context(), context.CancelFunc(func() {})
		if h.heartbeat > 0 {
			ctx, cancel = context.WithTimeout(ctx, h.heartbeat)
		}
		err := s.WaitOutput(ctx, since)
		cancel()
		switch {
		case err == nil:
			return true
		case r.Context().Err() != nil:
			return false // the client left
		case errors.Is(err, context.DeadlineExceeded):
			if _, err := w.Write([]byte(": keepalive\n\n")); err != nil || rc.Flush() != nil {
				return false
			}
		case errors.Is(err, processes.ErrClosed) && !s.Output(maxSeq).Alive:
			return true // forgotten after its exit: send the rest and the exit
		default:
			_, code, msg := classify(err)
			_, _ = w.Write(appendEvent(nil, -1, code, errorBody{Error: msg, Code: code}))
			_ = rc.Flush()
			return false
		}
	}
}

// appendEvent appends one Server-Sent Event, with an id line when id >= 0.
func appendEvent(buf []byte, id int, event string, data any) []byte {
	b, err := json.Marshal(data)
	if err != nil {
		panic("httpapi: encoding event: " + err.Error())
	}
	if id >= 0 {
		buf = append(buf, "id: "...)
		buf = strconv.AppendInt(buf, int64(id), 10)
		buf = append(buf, '\n')
	}
	buf = append(buf, "event: "...)
	buf = append(buf, event...)
	buf = append(buf, "\ndata: "...)
	buf = append(buf, b...)
	return append(buf, '\n', '\n')
}
