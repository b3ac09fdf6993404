package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
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
	// DefaultMaxWait is the longest long poll when Options.MaxWait is not
	// positive.
	DefaultMaxWait = 60 * time.Second
	// DefaultHeartbeat is how often an idle event stream gets a comment line
	// when Options.Heartbeat is zero.
	DefaultHeartbeat = 15 * time.Second
)

// maxResizeBytes bounds the body of a resize request.
const maxResizeBytes = 4 << 10

// Options configures [NewHandler]. The zero Options serves under
// [DefaultPrefix], treats every request as workspace "", refuses to start
// sessions, and uses the defaults for limits.
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
	Authorize func(r *http.Request) (workspaceID string, err error)

	// Start starts a session for POST {Prefix}/: it decides what may run,
	// typically from the request body, and must return a session that is
	// registered in m (as [processes.Manager.Start] does) and belongs to the
	// workspace [Workspace](r.Context()) returns. The handler answers 201
	// with the session's ID. A session of another workspace is forgotten
	// (which terminates its process) and, as one not registered in m,
	// answers 500. An error answers as the error mapping in the package
	// documentation says; an *APIError chooses its own status. Start reads
	// the body itself and should bound it (http.MaxBytesReader). Nil means
	// POST / answers 405 "start_disabled". It is called concurrently.
	Start func(r *http.Request, m *processes.Manager) (*processes.Session, error)

	// MaxStdinBytes is the largest body POST {sid}/stdin accepts; a larger
	// one answers 413 and writes nothing. Not positive means
	// DefaultMaxStdinBytes.
	MaxStdinBytes int64

	// MaxWait caps the wait parameter of GET {sid}/output. Not positive
	// means DefaultMaxWait. Keep it below the server's WriteTimeout.
	MaxWait time.Duration

	// Heartbeat is how often GET {sid}/events writes a comment line while
	// no event is due, so that proxies keep the stream open. Zero means
	// DefaultHeartbeat; negative means none.
	Heartbeat time.Duration

	// Logger receives failed requests answering 5xx at Error, started
	// sessions at Info, and refused authorizations at Debug. Nil discards.
	Logger *slog.Logger
}

type handler struct {
	m         *processes.Manager
	mux       *http.ServeMux
	authorize func(*http.Request) (string, error)
	start     func(*http.Request, *processes.Manager) (*processes.Session, error)
	maxStdin  int64
	maxWait   time.Duration
	heartbeat time.Duration
	log       *slog.Logger
}

// NewHandler returns the handler of the SDK routes for the sessions of m,
// served under opts.Prefix; the package documentation lists them. Mount it
// at the prefix with a trailing slash (or at "/"):
//
//	mux.Handle(httpapi.DefaultPrefix+"/", httpapi.NewHandler(m, httpapi.Options{}))
//
// The handler is safe for concurrent use and starts no goroutine of its own.
// NewHandler panics if m is nil or the prefix does not start with "/".
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
		m:         m,
		mux:       http.NewServeMux(),
		authorize: opts.Authorize,
		start:     opts.Start,
		maxStdin:  opts.MaxStdinBytes,
		maxWait:   opts.MaxWait,
		heartbeat: opts.Heartbeat,
		log:       opts.Logger,
	}
	if h.maxStdin <= 0 {
		h.maxStdin = DefaultMaxStdinBytes
	}
	if h.maxWait <= 0 {
		h.maxWait = DefaultMaxWait
	}
	if h.heartbeat == 0 {
		h.heartbeat = DefaultHeartbeat
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}

	if prefix != "" {
		h.route(http.MethodPost, prefix, h.serveStart)
	}
	h.route(http.MethodPost, prefix+"/{$}", h.serveStart)
	h.route(http.MethodDelete, prefix+"/{sid}", h.serveDelete)
	h.route(http.MethodGet, prefix+"/{sid}/output", h.serveOutput)
	h.route(http.MethodGet, prefix+"/{sid}/events", h.serveEvents)
	h.route(http.MethodPost, prefix+"/{sid}/stdin", h.serveStdin)
	h.route(http.MethodPost, prefix+"/{sid}/signal", h.serveSignal)
	h.route(http.MethodPost, prefix+"/{sid}/terminate", h.serveTerminate)
	h.route(http.MethodPost, prefix+"/{sid}/resize", h.serveResize)
	h.mux.HandleFunc(prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, CodeNotFound, processes.ErrNotFound.Error())
	})
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

// route serves pattern for one method and answers 405 in JSON for others.
func (h *handler) route(method, pattern string, fn http.HandlerFunc) {
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method {
			w.Header().Set("Allow", method)
			writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "httpapi: method not allowed")
			return
		}
		fn(w, r)
	})
}

type workspaceKey struct{}

// Workspace returns the workspace that Options.Authorize returned for the
// request whose context ctx is, for Options.Start to give to the session it
// starts. It returns "" without Authorize and for contexts that do not come
// from the handler.
func Workspace(ctx context.Context) string {
	ws, _ := ctx.Value(workspaceKey{}).(string)
	return ws
}

// workspace authorizes r. When it returns false it has answered the request.
func (h *handler) workspace(w http.ResponseWriter, r *http.Request) (string, bool) {
	if h.authorize == nil {
		return "", true
	}
	ws, err := h.authorize(r)
	if err != nil {
		if ae := (*APIError)(nil); errors.As(err, &ae) {
			h.fail(w, r, ae)
			return "", false
		}
		h.log.Debug("httpapi: unauthorized", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusUnauthorized, CodeUnauthorized, "httpapi: unauthorized")
		return "", false
	}
	return ws, true
}

// session authorizes r and looks up its session. A session of another
// workspace answers exactly as a missing one. When it returns false it has
// answered the request.
func (h *handler) session(w http.ResponseWriter, r *http.Request) (*processes.Session, bool) {
	ws, ok := h.workspace(w, r)
	if !ok {
		return nil, false
	}
	s, ok := h.m.Get(r.PathValue("sid"))
	if !ok || s.WorkspaceID != ws {
		writeError(w, http.StatusNotFound, CodeNotFound, processes.ErrNotFound.Error())
		return nil, false
	}
	return s, true
}

// fail answers r with the status and code of err, logging server errors.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := classify(err)
	if status >= 500 {
		h.log.Error("httpapi: request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
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
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// started is the body of a 201 answer to POST /.
type started struct {
	ID          string `json:"id"`
	WorkspaceID string `json:"workspace_id"`
}

func (h *handler) serveStart(w http.ResponseWriter, r *http.Request) {
	if h.start == nil {
		w.Header().Set("Allow", "")
		writeError(w, http.StatusMethodNotAllowed, CodeStartDisabled, "httpapi: starting sessions is disabled")
		return
	}
	ws, ok := h.workspace(w, r)
	if !ok {
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), workspaceKey{}, ws))
	s, err := h.start(r, h.m)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if s == nil {
		h.fail(w, r, errors.New("httpapi: Options.Start returned neither a session nor an error"))
		return
	}
	if cur, ok := h.m.Get(s.ID); !ok || cur != s {
		h.fail(w, r, errors.New("httpapi: Options.Start returned a session not registered in the Manager: "+strconv.Quote(s.ID)))
		return
	}
	if s.WorkspaceID != ws {
		h.m.Forget(s.ID)
		h.fail(w, r, errors.New("httpapi: Options.Start returned a session of workspace "+
			strconv.Quote(s.WorkspaceID)+" for workspace "+strconv.Quote(ws)+"; forgot it"))
		return
	}
	h.log.Info("httpapi: session started", "id", s.ID, "workspace", ws)
	writeJSON(w, http.StatusCreated, started{ID: s.ID, WorkspaceID: s.WorkspaceID})
}

func (h *handler) serveDelete(w http.ResponseWriter, r *http.Request) {
	s, ok := h.session(w, r)
	if !ok {
		return
	}
	h.m.Forget(s.ID)
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) serveStdin(w http.ResponseWriter, r *http.Request) {
	closeAfter := false
	if v := r.URL.Query().Get("close"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			badRequest(w, "close is not a boolean: "+strconv.Quote(v))
			return
		}
		closeAfter = b
	}
	s, ok := h.session(w, r)
	if !ok {
		return
	}
	// Read the whole body first, so that an oversize one writes nothing.
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxStdin))
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			h.fail(w, r, err)
			return
		}
		badRequest(w, "reading body: "+err.Error())
		return
	}
	if len(data) > 0 {
		if _, err := s.Write(data); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	if closeAfter {
		if err := s.CloseStdin(); err != nil {
			h.fail(w, r, err)
			return
		}
	}
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

// exitBody is the body of the exit event and of a 200 answer to terminate.
type exitBody struct {
	Exit *int `json:"exit"`
}

func (h *handler) serveTerminate(w http.ResponseWriter, r *http.Request) {
	s, ok := h.session(w, r)
	if !ok {
		return
	}
	if err := s.Terminate(r.Context()); err != nil && !errors.Is(err, processes.ErrExited) {
		h.fail(w, r, err)
		return
	}
	// The process is done: the exit is recorded. Reading it past the
	// newest Seq copies no output.
	writeJSON(w, http.StatusOK, exitBody{Exit: s.Output(maxSeq).Exit})
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
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxResizeBytes))
	if err := dec.Decode(&body); err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			h.fail(w, r, err)
			return
		}
		badRequest(w, "resize body: "+err.Error())
		return
	}
	if body.Rows == 0 || body.Cols == 0 {
		badRequest(w, "resize needs positive rows and cols")
		return
	}
	if err := s.Resize(body.Rows, body.Cols); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
