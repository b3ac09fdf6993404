package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

// twoWorkspaces serves sessions "mine" of workspace a and "theirs" of b,
// neither with a process, with X-Workspace authorization, and "misfiled":
// a session of workspace b registered under workspace a's ID, as an
// embedder that ignores ScopedID might.
func twoWorkspaces(t *testing.T, opts httpapi.Options) *env {
	t.Helper()
	opts.Authorize = byHeader
	e := newEnv(t, nil, opts)
	mine := &processes.Session{ID: httpapi.ScopedID("a", "mine"), WorkspaceID: "a"}
	mine.Append("stdout", []byte("hello\n"))
	e.m.Register(mine)
	e.m.Register(&processes.Session{ID: httpapi.ScopedID("b", "theirs"), WorkspaceID: "b"})
	e.m.Register(&processes.Session{ID: httpapi.ScopedID("a", "misfiled"), WorkspaceID: "b"})
	return e
}

func TestErrorStatuses(t *testing.T) {
	e := twoWorkspaces(t, httpapi.Options{MaxStdinBytes: 8})
	tests := []struct {
		name         string
		method, path string
		ws, body     string
		wantStatus   int
		wantCode     string
	}{
		{"no credentials", "GET", "/mine/output", "-", "", 401, "unauthorized"},
		{"missing session", "GET", "/nope/output", "a", "", 404, "not_found"},
		{"other workspace", "GET", "/theirs/output", "a", "", 404, "not_found"},
		{"misfiled session of another workspace", "GET", "/misfiled/output", "a", "", 404, "not_found"},
		{"unknown route", "GET", "/mine/nonsense", "a", "", 404, "not_found"},
		{"too deep", "GET", "/mine/output/more", "a", "", 404, "not_found"},
		{"wrong method", "PUT", "/mine/output", "a", "", 405, "method_not_allowed"},
		{"put on start", "PUT", "/", "a", "", 405, "method_not_allowed"},
		{"start disabled", "POST", "/", "a", "{}", 405, "start_disabled"},
		{"since not a number", "GET", "/mine/output?since=x", "a", "", 400, "bad_request"},
		{"negative since", "GET", "/mine/output?since=-1", "a", "", 400, "bad_request"},
		{"since out of range", "GET", "/mine/output?since=99999999999999999999", "a", "", 400, "bad_request"},
		{"bad wait", "GET", "/mine/output?wait=soon", "a", "", 400, "bad_request"},
		{"negative wait", "GET", "/mine/output?wait=-1s", "a", "", 400, "bad_request"},
		{"wait out of range", "GET", "/mine/output?wait=9223372037", "a", "", 400, "bad_request"},
		{"bad merge", "GET", "/mine/output?merge=maybe", "a", "", 400, "bad_request"},
		{"events bad since", "GET", "/mine/events?since=1.5", "a", "", 400, "bad_request"},
		{"events bad merge", "GET", "/mine/events?merge=2", "a", "", 400, "bad_request"},
		{"stdin bad close", "POST", "/mine/stdin?close=maybe", "a", "", 400, "bad_request"},
		{"stdin too large", "POST", "/mine/stdin", "a", "123456789", 413, "too_large"},
		{"stdin without process", "POST", "/mine/stdin", "a", "12345678", 409, "no_process"},
		{"close stdin without process", "POST", "/mine/stdin?close=1", "a", "", 409, "no_process"},
		{"unknown signal", "POST", "/mine/signal?name=BOGUS", "a", "", 400, "bad_request"},
		{"missing signal", "POST", "/mine/signal", "a", "", 400, "bad_request"},
		{"signal without process", "POST", "/mine/signal?name=INT", "a", "", 409, "no_process"},
		{"terminate without process", "POST", "/mine/terminate", "a", "", 409, "no_process"},
		{"resize bad JSON", "POST", "/mine/resize", "a", "{rows", 400, "bad_request"},
		{"resize too big a number", "POST", "/mine/resize", "a", `{"rows":70000,"cols":80}`, 400, "bad_request"},
		{"resize zero", "POST", "/mine/resize", "a", `{"rows":0,"cols":80}`, 400, "bad_request"},
		{"resize past MaxTerminalSize", "POST", "/mine/resize", "a", `{"rows":65535,"cols":65535}`, 400, "bad_request"},
		{"resize without process", "POST", "/mine/resize", "a", `{"rows":24,"cols":80}`, 409, "no_process"},
		{"resize body too large", "POST", "/mine/resize", "a", `{"rows":24,"cols":80,"x":"` + strings.Repeat("x", 5000) + `"}`, 413, "too_large"},
		{"delete other workspace", "DELETE", "/theirs", "a", "", 404, "not_found"},
		{"delete misfiled", "DELETE", "/misfiled", "a", "", 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, tt.method, tt.path, tt.ws, tt.body)
			assert.Equal(t, tt.wantStatus, r.status, "got status %d, want %d; body %s", r.status, tt.wantStatus, r.body)
			assert.Equal(t, "application/json", r.header.Get("Content-Type"))
			code, msg := errBody(t, r)
			assert.Equal(t, tt.wantCode, code, "got code %q, want %q", code, tt.wantCode)
			assert.NotEmpty(t, msg, "error message")
		})
	}
	for _, id := range []string{httpapi.ScopedID("b", "theirs"), httpapi.ScopedID("a", "misfiled")} {
		_, ok := e.m.Get(id)
		assert.True(t, ok, "DELETE from another workspace removed %q", id)
	}
}

func TestAllowHeader(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	r := e.do(t, "POST", "/x/output", "-", "")
	require.Equal(t, http.StatusMethodNotAllowed, r.status)
	assert.Equal(t, "GET", r.header.Get("Allow"))
}

// A session of another workspace must be indistinguishable from a missing
// one on every route, both when the caller names it by its own ID (which
// scoping maps elsewhere) and when it sits under the caller's scope.
func TestOtherWorkspaceLooksMissing(t *testing.T) {
	e := twoWorkspaces(t, httpapi.Options{})
	routes := []struct{ method, path, body string }{
		{"GET", "/%s/output?since=0", ""},
		{"GET", "/%s/output?wait=1s", ""},
		{"GET", "/%s/events", ""},
		{"POST", "/%s/stdin", "data"},
		{"POST", "/%s/signal?name=TERM", ""},
		{"POST", "/%s/terminate", ""},
		{"POST", "/%s/resize", `{"rows":24,"cols":80}`},
		{"DELETE", "/%s", ""},
	}
	for _, rt := range routes {
		for _, foreignID := range []string{"theirs", "misfiled"} {
			t.Run(rt.method+" "+rt.path+" "+foreignID, func(t *testing.T) {
				missing := e.do(t, rt.method, fmt.Sprintf(rt.path, "nope"), "a", rt.body)
				foreign := e.do(t, rt.method, fmt.Sprintf(rt.path, foreignID), "a", rt.body)
				missing.header.Del("Date")
				foreign.header.Del("Date")
				assert.Equal(t, http.StatusNotFound, foreign.status)
				assert.Equal(t, missing, foreign, "got a different answer for another workspace's session than for a missing one")
			})
		}
	}
	_, ok := e.m.Get(httpapi.ScopedID("b", "theirs"))
	assert.True(t, ok, "the other workspace's session was touched")
}

func TestAuthorizeAPIError(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{Authorize: func(*http.Request) (string, error) {
		return "", fmt.Errorf("checking token: %w", &httpapi.APIError{Status: 403, Code: "forbidden", Message: "token lacks scope"})
	}})
	r := e.do(t, "GET", "/x/output", "-", "")
	assert.Equal(t, http.StatusForbidden, r.status)
	code, msg := errBody(t, r)
	assert.Equal(t, "forbidden", code)
	assert.Equal(t, "token lacks scope", msg)
}

func TestDelete(t *testing.T) {
	e := twoWorkspaces(t, httpapi.Options{})
	s, _ := e.m.Get(httpapi.ScopedID("a", "mine"))
	r := e.do(t, "DELETE", "/mine", "a", "")
	assert.Equal(t, http.StatusNoContent, r.status, "body %s", r.body)
	_, ok := e.m.Get(s.ID)
	assert.False(t, ok, "session still registered")
	assert.ErrorIs(t, s.CloseReason(), processes.ErrForgotten)
	r = e.do(t, "DELETE", "/mine", "a", "")
	assert.Equal(t, http.StatusNotFound, r.status, "second DELETE")
}

func TestPrefix(t *testing.T) {
	tests := []struct {
		name, prefix, path string
	}{
		{"default", "", "/api/sdk/processes/s/output"},
		{"custom", "/v2/procs", "/v2/procs/s/output"},
		{"trailing slash", "/v2/procs/", "/v2/procs/s/output"},
		{"root", "/", "/s/output"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil, httpapi.Options{Prefix: tt.prefix})
			e.m.Register(&processes.Session{ID: "s"})
			resp, err := e.srv.Client().Get(e.srv.URL + tt.path)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode, "got %d for %s, want 200", resp.StatusCode, tt.path)
		})
	}
}

func TestNewHandlerPanics(t *testing.T) {
	assert.PanicsWithValue(t, "httpapi: NewHandler with a nil Manager", func() { httpapi.NewHandler(nil, httpapi.Options{}) })
	assert.Panics(t, func() { httpapi.NewHandler(processes.NewManager(0), httpapi.Options{Prefix: "api"}) })
	assert.Panics(t, func() {
		httpapi.NewHandler(processes.NewManager(0), httpapi.Options{TrustedOrigins: []string{"not an origin"}})
	})
}

// startFn is an Options.Start.
type startFn = func(*http.Request, *processes.Manager) (*processes.Session, error)

// registerAs is a Start that registers a session without a process under
// the ID SessionID gives for clientID, in the workspace ws returns.
func registerAs(clientID string, ws func(*http.Request) string) startFn {
	return func(r *http.Request, m *processes.Manager) (*processes.Session, error) {
		s := &processes.Session{ID: httpapi.SessionID(r, clientID), WorkspaceID: ws(r)}
		m.Register(s)
		return s, nil
	}
}

func callerWorkspace(r *http.Request) string { return httpapi.Workspace(r.Context()) }

func TestStart(t *testing.T) {
	failWith := func(err error) startFn {
		return func(*http.Request, *processes.Manager) (*processes.Session, error) { return nil, err }
	}
	tests := []struct {
		name       string
		start      startFn
		wantStatus int
		wantCode   string
		wantMsg    string // when not empty, the message
		wantKept   bool   // the session stays registered
	}{
		{"in the caller's workspace", registerAs("new", callerWorkspace), 201, "", "", true},
		{"in another workspace", registerAs("new", func(*http.Request) string { return "b" }), 500, "internal", "", false},
		{"not in the caller's scope", func(r *http.Request, m *processes.Manager) (*processes.Session, error) {
			s := &processes.Session{ID: "new", WorkspaceID: httpapi.Workspace(r.Context())}
			m.Register(s)
			return s, nil
		}, 500, "internal", "", false},
		{"not registered", func(r *http.Request, m *processes.Manager) (*processes.Session, error) {
			return &processes.Session{ID: httpapi.SessionID(r, "new"), WorkspaceID: "a"}, nil
		}, 500, "internal", "", false},
		{"nil session", failWith(nil), 500, "internal", "", false},
		{"too many", failWith(fmt.Errorf("limit: %w", processes.ErrTooManySessions)), 429, "too_many_sessions", "", false},
		{"exists", failWith(fmt.Errorf("%w: %q", processes.ErrExists, "a/secret")), 409, "exists", "processes: session ID in use", false},
		{"invalid", failWith(processes.ErrInvalid), 400, "bad_request", "", false},
		{"closed manager", failWith(processes.ErrClosed), 410, "closed", "", false},
		{"body too large", failWith(&http.MaxBytesError{Limit: 10}), 413, "too_large", "", false},
		{"api error", failWith(&httpapi.APIError{Status: 422, Code: "bad_argv", Message: "argv is empty"}), 422, "bad_argv", "argv is empty", false},
		{"other error", failWith(errors.New("secret internals")), 500, "internal", "httpapi: internal error", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			e := newEnv(t, nil, httpapi.Options{
				Authorize: byHeader,
				Start:     tt.start,
				Logger:    slog.New(slog.NewTextHandler(&logs, nil)),
			})
			r := e.do(t, "POST", "/", "a", "{}")
			assert.Equal(t, tt.wantStatus, r.status, "got status %d, want %d; body %s", r.status, tt.wantStatus, r.body)
			if tt.wantStatus == 201 {
				assert.JSONEq(t, `{"id":"new","workspace_id":"a"}`, r.body)
			} else {
				code, msg := errBody(t, r)
				assert.Equal(t, tt.wantCode, code)
				assert.NotContains(t, msg, "secret", "an internal error leaked")
				if tt.wantMsg != "" {
					assert.Equal(t, tt.wantMsg, msg)
				}
			}
			if tt.wantStatus >= 500 {
				assert.Contains(t, logs.String(), "level=ERROR", "a 5xx was not logged")
			}
			_, kept := e.m.Get(httpapi.ScopedID("a", "new"))
			_, keptRaw := e.m.Get("new")
			assert.Equal(t, tt.wantKept, kept || keptRaw, "session registered after the answer")
		})
	}
}

// An APIError chooses its answer within rules: a status outside 4xx and
// 5xx is a bug answered as a generic 500 (its text only logged), and an
// empty code gets the code of its status, so that the client's errors.Is
// works.
func TestAPIErrorAnswers(t *testing.T) {
	tests := []struct {
		name       string
		err        *httpapi.APIError
		wantStatus int
		wantCode   string
		wantMsg    string
		wantIs     error // nil: no sentinel
	}{
		{"redirect status", &httpapi.APIError{Status: 302, Code: "moved", Message: "secret location"}, 500, "internal", "httpapi: internal error", nil},
		{"success status", &httpapi.APIError{Status: 200, Code: "x", Message: "secret"}, 500, "internal", "httpapi: internal error", nil},
		{"no status", &httpapi.APIError{Message: "secret"}, 500, "internal", "httpapi: internal error", nil},
		{"status past 5xx", &httpapi.APIError{Status: 600, Message: "secret"}, 500, "internal", "httpapi: internal error", nil},
		{"404 without code", &httpapi.APIError{Status: 404, Message: "no such job"}, 404, "not_found", "no such job", processes.ErrNotFound},
		{"400 without code", &httpapi.APIError{Status: 400}, 400, "bad_request", "httpapi: bad request", processes.ErrInvalid},
		{"409 without code", &httpapi.APIError{Status: 409}, 409, "conflict", "httpapi: conflict", nil},
		{"410 without code", &httpapi.APIError{Status: 410}, 410, "closed", "httpapi: gone", processes.ErrClosed},
		{"403 without code", &httpapi.APIError{Status: 403}, 403, "forbidden", "httpapi: forbidden", nil},
		{"413 without code", &httpapi.APIError{Status: 413}, 413, "too_large", "httpapi: request entity too large", nil},
		{"418 without code", &httpapi.APIError{Status: 418}, 418, "i_m_a_teapot", "httpapi: i'm a teapot", nil},
		{"460 without code or text", &httpapi.APIError{Status: 460}, 460, "client_error", "httpapi: error 460", nil},
		{"503 with message", &httpapi.APIError{Status: 503, Message: "down for maintenance"}, 503, "service_unavailable", "down for maintenance", nil},
		{"404 with a code of its own", &httpapi.APIError{Status: 404, Code: "no_job"}, 404, "no_job", "httpapi: not found", processes.ErrNotFound},
		{"429 with a known code", &httpapi.APIError{Status: 429, Code: "too_many_sessions"}, 429, "too_many_sessions", "httpapi: too many requests", processes.ErrTooManySessions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			e := newEnv(t, nil, httpapi.Options{
				Start: func(*http.Request, *processes.Manager) (*processes.Session, error) {
					return nil, fmt.Errorf("wrapped: %w", tt.err)
				},
				Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			})
			r := e.do(t, "POST", "/", "-", "")
			assert.Equal(t, tt.wantStatus, r.status, "body %s", r.body)
			code, msg := errBody(t, r)
			assert.Equal(t, tt.wantCode, code)
			assert.Equal(t, tt.wantMsg, msg)
			if tt.wantStatus == 500 {
				assert.Contains(t, logs.String(), "secret", "the APIError of a bad status was not logged")
			}

			_, err := e.c.Start(t.Context(), nil)
			var ae *httpapi.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.wantStatus, ae.Status)
			if tt.wantIs != nil {
				assert.ErrorIs(t, err, tt.wantIs)
			} else {
				assert.NoError(t, ae.Unwrap(), "got a sentinel for %v", err)
			}
		})
	}
}

// Start's request carries the caller's workspace but a context that never
// ends, so that nothing started with it dies with the request.
func TestStartContextOutlivesTheRequest(t *testing.T) {
	ctxs := make(chan context.Context, 1)
	e := newEnv(t, nil, httpapi.Options{Authorize: byHeader, Start: func(r *http.Request, m *processes.Manager) (*processes.Session, error) {
		ctxs <- r.Context()
		return registerAs("x", callerWorkspace)(r, m)
	}})
	_, finished := e.watch()
	r := e.do(t, "POST", "/", "a", "")
	require.Equal(t, http.StatusCreated, r.status, r.body)
	proctest.Recv(t, finished)
	ctx := proctest.Recv(t, ctxs)
	assert.Nil(t, ctx.Done(), "Start's context can end")
	assert.NoError(t, ctx.Err())
	_, hasDeadline := ctx.Deadline()
	assert.False(t, hasDeadline)
	assert.Equal(t, "a", httpapi.Workspace(ctx))
}

func TestStartWithoutTrailingSlash(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{Start: registerAs("s", callerWorkspace)})
	r := e.do(t, "POST", "", "-", "")
	assert.Equal(t, http.StatusCreated, r.status, "body %s", r.body)
}

// The IDs a client chooses are its workspace's own: the answer to starting
// an ID that another workspace uses is the answer for a free ID, and each
// workspace reaches its own session under the same name.
func TestClientChosenIDsAreScoped(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{
		Authorize: byHeader,
		Start: func(r *http.Request, m *processes.Manager) (*processes.Session, error) {
			var req struct {
				ID string `json:"id"`
			}
			if err := httpapi.DecodeJSON(r, 0, &req); err != nil {
				return nil, err
			}
			s := &processes.Session{ID: httpapi.SessionID(r, req.ID), WorkspaceID: httpapi.Workspace(r.Context())}
			if _, ok := m.Get(s.ID); ok {
				return nil, fmt.Errorf("%w: %q", processes.ErrExists, s.ID)
			}
			m.Register(s)
			s.Append("stdout", []byte("I am "+s.WorkspaceID))
			return s, nil
		},
	})
	tests := []struct {
		name, ws, body string
		wantStatus     int
		wantID         string // "" for a random one
	}{
		{"a starts build", "a", `{"id":"build"}`, 201, "build"},
		{"b starts build, taken in a", "b", `{"id":"build"}`, 201, "build"},
		{"c starts deploy, free everywhere", "c", `{"id":"deploy"}`, 201, "deploy"},
		{"a starts build again", "a", `{"id":"build"}`, 409, ""},
		{"a starts a random one", "a", `{}`, 201, ""},
		{"x starts y/z", "x", `{"id":"y/z"}`, 201, "y/z"},
		{"x/y starts z, the same string joined", "x/y", `{"id":"z"}`, 201, "z"},
		{"an empty workspace starts build", "", `{"id":"build"}`, 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := tt.ws
			if ws == "" {
				ws = "-"
			}
			r := e.do(t, "POST", "/", ws, tt.body)
			require.Equal(t, tt.wantStatus, r.status, "body %s", r.body)
			if r.status == 409 {
				code, msg := errBody(t, r)
				assert.Equal(t, "exists", code)
				assert.Equal(t, "processes: session ID in use", msg, "the message must not show the scoped ID")
			}
			if r.status != 201 {
				return
			}
			var st httpapi.Started
			require.NoError(t, json.Unmarshal([]byte(r.body), &st))
			if tt.wantID != "" {
				assert.Equal(t, tt.wantID, st.ID)
			} else {
				assert.Len(t, st.ID, 22, "a random ID")
			}
			assert.Equal(t, tt.ws, st.WorkspaceID)
			c := httpapi.NewClient(e.base, e.srv.Client())
			c.Header = http.Header{"X-Workspace": {tt.ws}}
			out, err := c.Output(t.Context(), st.ID, 0, 0)
			require.NoError(t, err)
			require.Len(t, out.Chunks, 1)
			assert.Equal(t, "I am "+tt.ws, string(out.Chunks[0].Data), "the session served to %q", tt.ws)
		})
	}
	assert.Equal(t, 6, e.m.Len(), "sessions")
}

// A page of another origin cannot make the server act; GETs, same-origin
// requests and requests without browser headers (curl, the Client) pass.
func TestCrossOrigin(t *testing.T) {
	cross := http.Header{"Sec-Fetch-Site": {"cross-site"}}
	sameSite := http.Header{"Sec-Fetch-Site": {"same-site"}}
	otherHost := http.Header{"Origin": {"http://evil.example"}}
	sameOrigin := http.Header{"Sec-Fetch-Site": {"same-origin"}}
	trusted := http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://app.example"}}
	tests := []struct {
		name       string
		opts       httpapi.Options
		method     string
		path, body string
		hdr        http.Header
		wantStatus int
	}{
		{"start cross-site", httpapi.Options{}, "POST", "/", `{}`, cross, 403},
		{"start same-site is cross-origin", httpapi.Options{}, "POST", "/", `{}`, sameSite, 403},
		{"start with the Origin of another host", httpapi.Options{}, "POST", "/", `{}`, otherHost, 403},
		{"stdin cross-site", httpapi.Options{}, "POST", "/s/stdin", "rm -rf ~\n", cross, 403},
		{"signal cross-site", httpapi.Options{}, "POST", "/s/signal?name=KILL", "", cross, 403},
		{"terminate cross-site", httpapi.Options{}, "POST", "/s/terminate", "", cross, 403},
		{"resize cross-site", httpapi.Options{}, "POST", "/s/resize", `{"rows":1,"cols":1}`, cross, 403},
		{"delete cross-site", httpapi.Options{}, "DELETE", "/s", "", cross, 403},
		{"start same-origin", httpapi.Options{}, "POST", "/", `{}`, sameOrigin, 201},
		{"start without browser headers", httpapi.Options{}, "POST", "/", `{}`, nil, 201},
		{"poll cross-site is a safe method", httpapi.Options{}, "GET", "/s/output", "", cross, 200},
		{"start from a trusted origin", httpapi.Options{TrustedOrigins: []string{"https://app.example"}}, "POST", "/", `{}`, trusted, 201},
		{"trusted origin added to a given protection", httpapi.Options{
			CrossOrigin: http.NewCrossOriginProtection(), TrustedOrigins: []string{"https://app.example"},
		}, "POST", "/", `{}`, trusted, 201},
		{"a given protection without that origin", httpapi.Options{CrossOrigin: http.NewCrossOriginProtection()}, "POST", "/", `{}`, trusted, 403},
		{"protection off for token-only deployments", httpapi.Options{AllowCrossOrigin: true}, "POST", "/", `{}`, cross, 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var started atomic.Int32
			tt.opts.Start = func(r *http.Request, m *processes.Manager) (*processes.Session, error) {
				started.Add(1)
				return registerAs("new", callerWorkspace)(r, m)
			}
			e := newEnv(t, nil, tt.opts)
			s := &processes.Session{ID: "s"}
			e.m.Register(s)

			r := e.doHeader(t, tt.method, tt.path, "-", tt.body, tt.hdr)
			assert.Equal(t, tt.wantStatus, r.status, "body %s", r.body)
			if tt.wantStatus == 403 {
				code, _ := errBody(t, r)
				assert.Equal(t, httpapi.CodeCrossOrigin, code)
				assert.Zero(t, started.Load(), "Start ran")
				cur, ok := e.m.Get("s")
				assert.True(t, ok && cur == s && !s.Closed(), "the session was touched")
			}
		})
	}
}
