package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sessionkit/sessionkit/processes"
)

// Defaults of [Options].
const (
	// DefaultPrefix is where the handler serves when Options.Prefix is empty.
	DefaultPrefix = "/api/sdk/processes"
	// DefaultMaxStdinBytes is the largest stdin body when
	// Options.MaxStdinBytes is not positive: 1 MiB.
	DefaultMaxStdinBytes = 1 << 20
	// DefaultMaxStdinWriters is how many stdin requests one session may
	// have in progress when Options.MaxStdinWriters is not positive.
	DefaultMaxStdinWriters = 4
	// DefaultStdinTimeout is how long a stdin request waits for the
	// process to take more of its body when Options.StdinTimeout is zero.
	DefaultStdinTimeout = 30 * time.Second
	// DefaultMaxWait is the longest long poll when Options.MaxWait is not
	// positive.
	DefaultMaxWait = 60 * time.Second
	// DefaultMaxResponseBytes bounds the JSON of one poll when
	// Options.MaxResponseBytes is not positive: 4 MiB, so that a full ring
	// of chunks of a few KiB comes back in one poll.
	DefaultMaxResponseBytes = 4 << 20
	// MinResponseBytes is the least Options.MaxResponseBytes the handler
	// uses; a smaller positive value counts as this: 4 KiB.
	MinResponseBytes = 4 << 10
	// DefaultWriteTimeout is how long one write of a response may block
	// when Options.WriteTimeout is zero.
	DefaultWriteTimeout = 10 * time.Second
	// DefaultHeartbeat is how often an idle event stream gets a comment line
	// when Options.Heartbeat is zero.
	DefaultHeartbeat = 15 * time.Second
)

// maxResizeBytes bounds the body of a resize request.
const maxResizeBytes = 4 << 10

// Options configures [NewHandler]. The zero Options serves under
// [DefaultPrefix], treats every request as workspace "", refuses to start
// sessions, refuses cross-origin browser requests that change state, and
// uses the defaults for limits. Options is read once, by NewHandler.
type Options struct {
	// Prefix is the literal path the routes are served under. Empty means
	// DefaultPrefix; a trailing slash is trimmed, so "/" serves at the
	// root. A non-empty Prefix must start with "/".
	Prefix string

	// Authorize returns the workspace the request acts for, typically from
	// its credentials. Every route calls it, and a session of another
	// workspace answers 404 exactly as a missing one does. An error answers
	// 401 "unauthorized" (its text is logged at Debug, never sent), unless
	// it is or wraps an *APIError, which is answered as it says (a 403, for
	// instance). Nil means every request is workspace "", so that only
	// sessions with an empty WorkspaceID are served. It is called
	// concurrently.
	//
	// With Authorize, session IDs are scoped to workspaces: the session a
	// caller calls "build" is the Manager's [ScopedID](workspace, "build"),
	// on every route. Options.Start names sessions with [SessionID].
	Authorize func(r *http.Request) (workspaceID string, err error)

	// Start starts a session for POST {Prefix}/: it decides what may run,
	// typically from the request body (see [DecodeJSON]), and must return
	// a session that is registered in m (as [processes.Manager.Start]
	// does), belongs to the workspace [Workspace](r.Context()) returns, and
	// is named with [SessionID](r, id), id being the caller's choice or ""
	// for a random one. The handler answers 201 with the caller's ID. A
	// session of another workspace or another scope is forgotten (which
	// terminates its process) and answers 500, as one not registered in m
	// does.
	//
	// r's context carries the request's values but is never canceled and
	// has no deadline, so that a command made with
	// exec.CommandContext(r.Context(), ...) lives as long as its session,
	// not as long as the request: bound slow work yourself.
	//
	// An error answers as the error mapping in the package documentation
	// says; an *APIError chooses its own status. An error of os/exec that
	// says the program could not be started (not found, not executable,
	// not a program) answers 422 "start_failed" naming the program by its
	// base name only. Start should bound the body it reads. Nil means POST
	// / answers 405 "start_disabled". It is called concurrently.
	Start func(r *http.Request, m *processes.Manager) (*processes.Session, error)

	// MaxStdinBytes is the largest body POST {sid}/stdin accepts. A body
	// whose Content-Length is larger answers 413 and writes nothing; a
	// chunked body is written as it arrives and answers 413 once it passes
	// the limit, saying how many of its bytes were written. Not positive
	// means DefaultMaxStdinBytes.
	MaxStdinBytes int64

	// MaxStdinWriters is how many POST {sid}/stdin requests one session
	// may have in progress, writing or waiting for their turn; past it a
	// request answers 429 "too_many_writers" at once. Not positive means
	// DefaultMaxStdinWriters.
	MaxStdinWriters int

	// StdinTimeout is how long POST {sid}/stdin waits for the process to
	// take the next piece of its body (or for its turn behind another
	// stdin request) before it answers 504 "timeout", saying how many
	// bytes were written; an attachment waits as long for the process to
	// take one input message, then sends an error message "timeout" and
	// reads the socket again. Zero means DefaultStdinTimeout; negative
	// means no limit, so that only the process, the session or the client
	// ends the wait (an attachment's client then only when the process
	// takes its input, exits or the session is closed).
	StdinTimeout time.Duration

	// MaxWait caps the wait parameter of GET {sid}/output. Not positive
	// means DefaultMaxWait.
	MaxWait time.Duration

	// MaxResponseBytes bounds the JSON body of GET {sid}/output, in bytes:
	// a poll whose chunks do not all fit answers the ones that do with
	// "more": true. The first chunk is always sent, so a poll is at most
	// max(MaxResponseBytes, the encoding of one chunk of up to
	// processes.MaxBufferBytes). It also bounds each batch of an event
	// stream, with at most 256 KiB. Not positive means
	// DefaultMaxResponseBytes; less than MinResponseBytes counts as that.
	MaxResponseBytes int

	// WriteTimeout is how long one write of a poll, an event stream or an
	// attachment to the client may block: the handler sets the
	// connection's write deadline before each one, so that a client that
	// stops reading is cut off and its request ends, and clears it once the
	// answer is flushed. It replaces the server's WriteTimeout for these
	// routes, so that a long poll, a stream or an attachment outlives it. Zero means DefaultWriteTimeout;
	// negative means none (the server's deadline, if any, stays).
	WriteTimeout time.Duration

	// Heartbeat is how often GET {sid}/events writes a comment line while
	// no event is due, so that proxies keep the stream open. Zero means
	// DefaultHeartbeat; negative means none.
	Heartbeat time.Duration

	// CrossOrigin refuses cross-origin browser requests to the routes that
	// change state (every POST and DELETE) with 403 "cross_origin", by
	// its Check method; its deny handler is not used. Nil means
	// http.NewCrossOriginProtection(). The protection keeps a page of
	// another site from running commands through a browser that can reach
	// the server, with or without cookies; requests without Origin and
	// Sec-Fetch-Site headers (curl, the Client) are not browser requests
	// and pass.
	CrossOrigin *http.CrossOriginProtection

	// TrustedOrigins are origins, such as "https://app.example.com", whose
	// pages may call the routes that change state: they are added to
	// CrossOrigin, or to the default one. NewHandler panics on one that
	// AddTrustedOrigin refuses.
	TrustedOrigins []string

	// AllowCrossOrigin turns the cross-origin protection off, CrossOrigin
	// and TrustedOrigins included. Only do so when every request must
	// carry a credential that a browser never attaches by itself, such as
	// an Authorization header checked by Authorize: then a cross-site page
	// cannot forge one.
	AllowCrossOrigin bool

	// Logger receives failed requests answering 5xx at Error, started
	// sessions at Info, and refused authorizations and cross-origin
	// requests at Debug. Nil discards.
	Logger *slog.Logger
}

type handler struct {
	m            *processes.Manager
	mux          *http.ServeMux
	authorize    func(*http.Request) (string, error)
	start        func(*http.Request, *processes.Manager) (*processes.Session, error)
	cop          *http.CrossOriginProtection // nil: cross-origin requests pass
	origins      []string                    // Options.TrustedOrigins, for attachments
	maxStdin     int64
	maxWriters   int
	stdinTimeout time.Duration
	maxWait      time.Duration
	maxResponse  int
	writeTimeout time.Duration
	heartbeat    time.Duration
	log          *slog.Logger

	stdinMu sync.Mutex
	stdin   map[*processes.Session]*stdinQueue
}

// NewHandler returns the handler of the SDK routes for the sessions of m,
// served under opts.Prefix; the package documentation lists them. Mount it
// at the prefix with a trailing slash (or at "/"):
//
//	mux.Handle(httpapi.DefaultPrefix+"/", httpapi.NewHandler(m, httpapi.Options{}))
//
// The handler is safe for concurrent use and starts no goroutine of its own
// (an attachment reads its socket in a goroutine its request waits for).
// NewHandler panics if m is nil, the prefix does not start with "/", or a
// trusted origin is malformed.
func NewHandler(m *processes.Manager, opts Options) http.Handler {
	if m == nil {
		panic("httpapi: NewHandler with a nil Manager")
	}
	prefix := opts.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	prefix = strings.TrimRight(prefix, "/")
	if prefix != "" && prefix[0] != '/' {
		panic("httpapi: Options.Prefix does not start with /: " + strconv.Quote(opts.Prefix))
	}
	h := &handler{
		m:            m,
		mux:          http.NewServeMux(),
		authorize:    opts.Authorize,
		start:        opts.Start,
		maxStdin:     opts.MaxStdinBytes,
		maxWriters:   opts.MaxStdinWriters,
		stdinTimeout: opts.StdinTimeout,
		maxWait:      opts.MaxWait,
		maxResponse:  opts.MaxResponseBytes,
		writeTimeout: opts.WriteTimeout,
		heartbeat:    opts.Heartbeat,
		log:          opts.Logger,
		stdin:        make(map[*processes.Session]*stdinQueue),
	}
	if h.maxStdin <= 0 {
		h.maxStdin = DefaultMaxStdinBytes
	}
	if h.maxWriters <= 0 {
		h.maxWriters = DefaultMaxStdinWriters
	}
	if h.stdinTimeout == 0 {
		h.stdinTimeout = DefaultStdinTimeout
	}
	if h.maxWait <= 0 {
		h.maxWait = DefaultMaxWait
	}
	if h.maxResponse <= 0 {
		h.maxResponse = DefaultMaxResponseBytes
	}
	h.maxResponse = max(h.maxResponse, MinResponseBytes)
	if h.writeTimeout == 0 {
		h.writeTimeout = DefaultWriteTimeout
	}
	if h.heartbeat == 0 {
		h.heartbeat = DefaultHeartbeat
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if !opts.AllowCrossOrigin {
		h.cop = opts.CrossOrigin
		if h.cop == nil {
			h.cop = http.NewCrossOriginProtection()
		}
		h.origins = append([]string(nil), opts.TrustedOrigins...)
		for _, o := range opts.TrustedOrigins {
			if err := h.cop.AddTrustedOrigin(o); err != nil {
				panic("httpapi: Options.TrustedOrigins: " + err.Error())
			}
		}
	}

	if prefix != "" {
		h.route(prefix, routes{http.MethodGet: h.serveList, http.MethodPost: h.serveStart})
	}
	h.route(prefix+"/{$}", routes{http.MethodGet: h.serveList, http.MethodPost: h.serveStart})
	h.route(prefix+"/{sid}", routes{http.MethodGet: h.serveStatus, http.MethodDelete: h.serveDelete})
	h.route(prefix+"/{sid}/output", routes{http.MethodGet: h.serveOutput})
	h.route(prefix+"/{sid}/events", routes{http.MethodGet: h.serveEvents})
	h.route(prefix+"/{sid}/attach", routes{http.MethodGet: h.serveAttach})
	h.route(prefix+"/{sid}/stdin", routes{http.MethodPost: h.serveStdin})
	h.route(prefix+"/{sid}/signal", routes{http.MethodPost: h.serveSignal})
	h.route(prefix+"/{sid}/terminate", routes{http.MethodPost: h.serveTerminate})
	h.route(prefix+"/{sid}/resize", routes{http.MethodPost: h.serveResize})
	h.mux.HandleFunc(prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, CodeNotFound, processes.ErrNotFound.Error())
	})
	return h
}

// ServeHTTP refuses cross-origin requests with unsafe methods (every route
// that changes state), then routes.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.cop != nil {
		if err := h.cop.Check(r); err != nil {
			h.log.Debug("httpapi: cross-origin request refused", "method", r.Method, "path", r.URL.Path,
				"origin", r.Header.Get("Origin"), "sec-fetch-site", r.Header.Get("Sec-Fetch-Site"))
			writeError(w, http.StatusForbidden, CodeCrossOrigin, "httpapi: cross-origin request refused")
			return
		}
	}
	h.mux.ServeHTTP(w, r)
}

// routes maps the methods of one pattern to their functions.
type routes map[string]http.HandlerFunc

// route serves pattern for the methods of fns and answers 405 in JSON,
// with an Allow header naming them, for others.
func (h *handler) route(pattern string, fns routes) {
	allow := slices.Sorted(maps.Keys(fns))
	allowed := strings.Join(allow, ", ")
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		fn, ok := fns[r.Method]
		if !ok {
			w.Header().Set("Allow", allowed)
			writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "httpapi: method not allowed")
			return
		}
		fn(w, r)
	})
}

// workspace authorizes r. When it returns false it has answered the request.
func (h *handler) workspace(w http.ResponseWriter, r *http.Request) (scope, bool) {
	if h.authorize == nil {
		return scope{}, true
	}
	ws, err := h.authorize(r)
	if err != nil {
		if ae := (*APIError)(nil); errors.As(err, &ae) {
			h.fail(w, r, ae)
			return scope{}, false
		}
		h.log.Debug("httpapi: unauthorized", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusUnauthorized, CodeUnauthorized, "httpapi: unauthorized")
		return scope{}, false
	}
	return scope{ws: ws, scoped: true}, true
}

// session authorizes r and looks up its session, mapping {sid} into the
// caller's scope. A session of another workspace answers exactly as a
// missing one. When it returns false it has answered the request.
func (h *handler) session(w http.ResponseWriter, r *http.Request) (*processes.Session, bool) {
	sc, ok := h.workspace(w, r)
	if !ok {
		return nil, false
	}
	s, ok := h.m.Get(sc.managerID(r.PathValue("sid")))
	if !ok || s.WorkspaceID != sc.ws {
		writeError(w, http.StatusNotFound, CodeNotFound, processes.ErrNotFound.Error())
		return nil, false
	}
	return s, true
}

// fail answers r with the status and code of err, logging server errors.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := classify(err)
	logFailure(h.log, r, status, err)
	writeError(w, status, code, msg)
}

func badRequest(w http.ResponseWriter, msg string) {
	writeError(w, http.StatusBadRequest, CodeBadRequest, "httpapi: "+msg)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody{Error: msg, Code: code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only the handler's own wire types are encoded; they always are.
		panic("httpapi: encoding response: " + err.Error())
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func (h *handler) serveDelete(w http.ResponseWriter, r *http.Request) {
	s, ok := h.session(w, r)
	if !ok {
		return
	}
	// Remove, not Forget: a newer session registered under the ID since
	// the lookup is not this request's to forget.
	h.m.Remove(s)
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) serveSignal(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	sig, ok := signalByName(name)
	if !ok {
		badRequest(w, "unknown signal: "+strconv.Quote(name))
		return
	}
	s, ok := h.session(w, r)
	if !ok {
		return
	}
	if err := s.Signal(sig); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// exitBody is the body of a 200 answer to terminate.
type exitBody struct {
	Exit *int `json:"exit"`
}

func (h *handler) serveTerminate(w http.ResponseWriter, r *http.Request) {
	s, ok := h.session(w, r)
	if !ok {
		return
	}
	// The grace belongs to the session, not to the request: a client that
	// leaves or times out must not turn a graceful stop into SIGKILL. The
	// request waits for the process to be gone, at most the Manager's kill
	// grace and the reaping after it.
	if err := s.Terminate(context.WithoutCancel(r.Context())); err != nil && !errors.Is(err, processes.ErrExited) {
		h.fail(w, r, err)
		return
	}
	if r.Context().Err() != nil {
		return // the client left: nobody to answer
	}
	// The process is done: the exit is recorded. Reading it past the
	// newest Seq copies no output.
	rc := http.NewResponseController(w)
	if h.writeTimeout > 0 {
		// The server's own deadline may have passed during the grace.
		_ = rc.SetWriteDeadline(time.Now().Add(h.writeTimeout))
		defer h.clearDeadline(rc)
	}
	writeJSON(w, http.StatusOK, exitBody{Exit: s.Page(maxSeq, processes.PageOptions{}).Exit})
	_ = rc.Flush()
}

// MaxTerminalSize is the most rows, and the most columns, that a client
// may give a terminal over HTTP: in a start by [Starter], in POST
// {sid}/resize and in an attachment's resize message. A larger size is
// refused with 400 "bad_request" (an error message on an attachment), as is
// zero. The embedder's own calls (processes.Session.Resize, ptyterm) are
// not bounded.
const MaxTerminalSize = 1000

// errTermSize refuses a terminal size out of bounds.
var errTermSize = &APIError{Status: http.StatusBadRequest, Code: CodeBadRequest,
	Message: "httpapi: rows and cols must be integers from 1 to 1000"}

// checkTerminalSize refuses a size a client may not give a terminal.
func checkTerminalSize(rows, cols uint16) error {
	if rows == 0 || cols == 0 || rows > MaxTerminalSize || cols > MaxTerminalSize {
		return errTermSize
	}
	return nil
}

// resizeBody is the body of POST {sid}/resize.
type resizeBody struct {
	Rows uint16 `json:"rows"`
	Cols uint16 `json:"cols"`
}

func (h *handler) serveResize(w http.ResponseWriter, r *http.Request) {
	s, ok := h.session(w, r)
	if !ok {
		return
	}
	var body resizeBody
	if err := DecodeJSON(r, maxResizeBytes, &body); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := checkTerminalSize(body.Rows, body.Cols); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := s.Resize(body.Rows, body.Cols); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
