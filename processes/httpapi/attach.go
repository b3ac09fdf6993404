package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/sessionkit/sessionkit/processes"
)

// MaxAttachMessageBytes is the largest message a client may send over an
// attachment (GET {sid}/attach), in bytes: a larger one closes the socket
// with status 1009 (message too big). A client sends longer input in
// several messages.
const MaxAttachMessageBytes = 32 << 10

// Types of the JSON text messages of an attachment (the "type" field); the
// package documentation describes each.
const (
	AttachHello   = "hello"   // out, first: invocation_id, since, tty, and rows and cols of a terminal
	AttachMissed  = "missed"  // out: missed and lost_bytes, as a poll's
	AttachExit    = "exit"    // out, last: the exit code (null when unknown) and seq
	AttachClosed  = "closed"  // out, last: the session was closed; code says why
	AttachError   = "error"   // out: a control message or input failed; the socket stays open
	AttachWarning = "warning" // out: the session will be closed as idle in seconds_left unless there is activity
	AttachResize  = "resize"  // in: rows and cols of the terminal
	AttachInput   = "input"   // in: data, keystrokes as a UTF-8 string
)

// attachMsg is every JSON text message of an attachment, both ways; the
// fields a type does not use are left out.
type attachMsg struct {
	Type         string   `json:"type"`
	InvocationID string   `json:"invocation_id,omitempty"`
	TTY          *bool    `json:"tty,omitempty"`
	Since        *int64   `json:"since,omitempty"`
	Missed       int64    `json:"missed,omitempty"`
	LostBytes    int64    `json:"lost_bytes,omitempty"`
	Exit         *int     `json:"exit,omitempty"`
	Seq          *int64   `json:"seq,omitempty"`
	Code         string   `json:"code,omitempty"`
	Error        string   `json:"error,omitempty"`
	SecondsLeft  *float64 `json:"seconds_left,omitempty"`
	Rows         uint16   `json:"rows,omitempty"`
	Cols         uint16   `json:"cols,omitempty"`
	Data         *string  `json:"data,omitempty"`
}

// checkOrigin refuses a WebSocket upgrade from a page of another origin
// with 403 "cross_origin", as Options.CrossOrigin does for the routes that
// change state: an attachment writes to the session's stdin. The request's
// own host, and Options.TrustedOrigins, pass; so do requests without an
// Origin header (not browsers). When it returns false it has answered the
// request.
func (h *handler) checkOrigin(w http.ResponseWriter, r *http.Request) bool {
	if h.cop == nil {
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if u, err := url.Parse(origin); err == nil && u.Host != "" {
		if strings.EqualFold(u.Host, r.Host) {
			return true
		}
		target := strings.ToLower(u.Scheme + "://" + u.Host)
		for _, o := range h.origins {
			// Exact first: an IPv6 literal such as http://[::1]:3000 is a
			// character class to path.Match.
			o = strings.ToLower(o)
			if o == target {
				return true
			}
			if ok, _ := path.Match(o, target); ok {
				return true
			}
		}
	}
	h.log.Debug("httpapi: cross-origin attachment refused", "path", r.URL.Path, "origin", origin)
	writeError(w, http.StatusForbidden, CodeCrossOrigin, "httpapi: cross-origin request refused")
	return false
}

func (h *handler) serveAttach(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	since, err := parseSince(q.Get("since"))
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	if !h.checkOrigin(w, r) {
		return
	}
	s, ok := h.session(w, r)
	if !ok || !h.checkCursor(w, s, q.Get("invocation"), since) {
		return
	}

	// The server's read and write deadlines of the request must not cut
	// the socket: each write sets its own, and reads wait as long as the
	// client stays. net/http clears them as it hands the connection over,
	// but its Hijacker leaves that to the caller.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	// checkOrigin decided on the Origin already.
	ew := &acceptErrors{ResponseWriter: w}
	c, err := websocket.Accept(ew, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		ew.answer(h, r)
		return
	}
	defer c.CloseNow()
	// The attachment is a connected client for as long as it lasts.
	release := s.Hold()
	defer release()
	c.SetReadLimit(MaxAttachMessageBytes)

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	a := &attachment{h: h, c: c, s: s}
	var wg sync.WaitGroup
	wg.Go(func() {
		defer cancel() // the client left or broke the protocol
		a.readLoop(ctx)
	})
	code, reason := a.writeLoop(ctx, since)
	if code >= 0 {
		_ = c.Close(code, reason)
	}
	cancel()
	_ = c.CloseNow()
	wg.Wait()
}

// attachment is one open WebSocket of GET {sid}/attach.
type attachment struct {
	h *handler
	c *websocket.Conn
	s *processes.Session
}

// write sends one message within the handler's write timeout; an error
// means the socket is closed (a write past the deadline closes it).
func (a *attachment) write(ctx context.Context, typ websocket.MessageType, p []byte) error {
	if a.h.writeTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.h.writeTimeout)
		defer cancel()
	}
	return a.c.Write(ctx, typ, p)
}

// control sends a JSON text message.
func (a *attachment) control(ctx context.Context, m attachMsg) error {
	b, err := json.Marshal(m)
	if err != nil {
		panic("httpapi: encoding an attach message: " + err.Error())
	}
	return a.write(ctx, websocket.MessageText, b)
}

// writeLoop sends the hello, the output from since, then live output,
// until the exit, the close of the session or the end of ctx. It returns
// the close status and reason to end the socket with, or -1 when the
// socket is already unusable.
func (a *attachment) writeLoop(ctx context.Context, since int) (websocket.StatusCode, string) {
	s := a.s
	sn := int64(since)
	hello := attachMsg{Type: AttachHello, InvocationID: s.InvocationID(), Since: &sn}
	tty := s.TTY()
	hello.TTY = &tty
	if tty {
		hello.Rows, hello.Cols, _ = s.TerminalSize()
	}
	if a.control(ctx, hello) != nil {
		return -1, ""
	}
	var warned uint64 // the number of the last idle warning seen
	for {
		if left, n, ok := a.h.idleWarning(s); n > warned {
			warned = n
			if ok && a.control(ctx, attachMsg{Type: AttachWarning, SecondsLeft: &left}) != nil {
				return -1, ""
			}
		}
		out := s.Page(since, a.h.eventPage(true))
		if out.Missed > 0 {
			m := attachMsg{Type: AttachMissed, Missed: int64(out.Missed), LostBytes: int64(out.LostBytes)}
			if a.control(ctx, m) != nil {
				return -1, ""
			}
		}
		for _, ch := range out.Chunks {
			if a.write(ctx, websocket.MessageBinary, ch.Data) != nil {
				return -1, ""
			}
			since = ch.Seq
		}
		if !out.Alive && !out.More {
			seq := int64(since)
			if a.control(ctx, attachMsg{Type: AttachExit, Exit: out.Exit, Seq: &seq}) != nil {
				return -1, ""
			}
			if reason := s.CloseReason(); reason != nil {
				// Closing ended the process: say why after its exit.
				return a.closed(ctx, reason)
			}
			return websocket.StatusNormalClosure, "exited"
		}
		if out.More {
			continue
		}
		err := s.WaitUpdate(ctx, since, warned)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return -1, "" // the client left
		case errors.Is(err, processes.ErrClosed) && exited(s):
			// Closed after its exit: send the rest and the exit.
		default:
			return a.closed(ctx, err)
		}
	}
}

// closed sends the closed message for the close reason err and returns the
// close status and reason to end the socket with, as writeLoop does.
func (a *attachment) closed(ctx context.Context, err error) (websocket.StatusCode, string) {
	_, code, msg := classify(err)
	if a.control(ctx, attachMsg{Type: AttachClosed, Code: code, Error: msg}) != nil {
		return -1, ""
	}
	return websocket.StatusNormalClosure, code
}

// readLoop takes the client's messages until the socket fails or closes:
// binary messages are input, text messages JSON control messages. A failed
// input or control message answers an error message and goes on.
func (a *attachment) readLoop(ctx context.Context) {
	for {
		typ, p, err := a.c.Read(ctx)
		if err != nil {
			return
		}
		if typ == websocket.MessageBinary {
			err = a.input(ctx, p)
		} else {
			err = a.controlIn(ctx, p)
		}
		if err != nil {
			_, code, msg := classify(err)
			if a.control(ctx, attachMsg{Type: AttachError, Code: code, Error: msg}) != nil {
				return
			}
		}
	}
}

// input writes p to the session's stdin, which counts as input activity,
// giving up after Options.StdinTimeout without progress, as POST stdin
// does: until then the socket is not read, so a client that left is only
// noticed then. An error says how much of p was written.
func (a *attachment) input(ctx context.Context, p []byte) error {
	if len(p) == 0 {
		return nil
	}
	n, err := a.h.write(ctx, a.s, p)
	if err == nil {
		return nil
	}
	if errors.Is(err, errStall) {
		err = &APIError{Status: http.StatusGatewayTimeout, Code: CodeTimeout,
			Message: fmt.Sprintf("httpapi: the process took no input for %v", a.h.stdinTimeout)}
	}
	status, code, msg := classify(err)
	return &APIError{Status: status, Code: code,
		Message: fmt.Sprintf("%s; %d of %d bytes of the message were written to stdin", msg, n, len(p))}
}

// controlIn carries out one control message of the client.
func (a *attachment) controlIn(ctx context.Context, p []byte) error {
	var m attachMsg
	if err := json.Unmarshal(p, &m); err != nil {
		return &APIError{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: "httpapi: a text message is not a JSON control message"}
	}
	switch m.Type {
	case AttachResize:
		if err := checkTerminalSize(m.Rows, m.Cols); err != nil {
			return err
		}
		return a.s.Resize(m.Rows, m.Cols)
	case AttachInput:
		if m.Data == nil {
			return &APIError{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: "httpapi: an input message needs data"}
		}
		return a.input(ctx, []byte(*m.Data))
	}
	return &APIError{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: "httpapi: unknown control message type"}
}

// acceptErrors keeps the error answer that websocket.Accept writes (text,
// by http.Error) from the client, so that the handler answers it in JSON as
// every other error: 426 "upgrade_required" for a request that is not a
// WebSocket handshake, 400 for a malformed one. The 101 of an upgrade and
// the Hijack go through.
type acceptErrors struct {
	http.ResponseWriter
	status int
	msg    []byte
}

func (w *acceptErrors) WriteHeader(status int) {
	if status < 400 {
		w.ResponseWriter.WriteHeader(status)
		return
	}
	w.status = status
}

func (w *acceptErrors) Write(p []byte) (int, error) {
	if w.status == 0 {
		return w.ResponseWriter.Write(p)
	}
	if len(w.msg) < 512 {
		w.msg = append(w.msg, p[:min(len(p), 512-len(w.msg))]...)
	}
	return len(p), nil
}

// Unwrap lets Accept find the connection's http.Hijacker.
func (w *acceptErrors) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// answer writes the refusal Accept wrote, in JSON.
func (w *acceptErrors) answer(h *handler, r *http.Request) {
	if w.status == 0 {
		return // Accept wrote nothing we held back
	}
	code := StatusCode(w.status)
	if w.status == http.StatusUpgradeRequired {
		code = CodeUpgradeRequired
	}
	msg := "httpapi: attach needs a WebSocket handshake: " + strings.TrimSpace(string(w.msg))
	if w.status >= 500 {
		h.log.Error("httpapi: accepting a WebSocket failed", "path", r.URL.Path, "status", w.status, "err", strings.TrimSpace(string(w.msg)))
		msg = msgInternal
	}
	writeError(w.ResponseWriter, w.status, code, msg)
}
