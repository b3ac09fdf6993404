package httpapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

// errBody decodes an error answer.
func errBody(t *testing.T, r reply) (code, msg string) {
	t.Helper()
	var b struct{ Error, Code string }
	require.NoError(t, json.Unmarshal([]byte(r.body), &b), "body %q", r.body)
	return b.Code, b.Error
}

// twoWorkspaces serves sessions "mine" of workspace a and "theirs" of b,
// neither with a process, with X-Workspace authorization.
func twoWorkspaces(t *testing.T, opts httpapi.Options) *env {
	t.Helper()
	opts.Authorize = byHeader
	e := newEnv(t, nil, opts)
	mine := &processes.Session{ID: "mine", WorkspaceID: "a"}
	mine.Append("stdout", []byte("hello\n"))
	e.m.Register(mine)
	e.m.Register(&processes.Session{ID: "theirs", WorkspaceID: "b"})
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
		{"unknown route", "GET", "/mine/nonsense", "a", "", 404, "not_found"},
		{"too deep", "GET", "/mine/output/more", "a", "", 404, "not_found"},
		{"wrong method", "PUT", "/mine/output", "a", "", 405, "method_not_allowed"},
		{"get on start", "GET", "/", "a", "", 405, "method_not_allowed"},
		{"start disabled", "POST", "/", "a", "{}", 405, "start_disabled"},
		{"since not a number", "GET", "/mine/output?since=x", "a", "", 400, "bad_request"},
		{"negative since", "GET", "/mine/output?since=-1", "a", "", 400, "bad_request"},
		{"bad wait", "GET", "/mine/output?wait=soon", "a", "", 400, "bad_request"},
		{"negative wait", "GET", "/mine/output?wait=-1s", "a", "", 400, "bad_request"},
		{"events bad since", "GET", "/mine/events?since=1.5", "a", "", 400, "bad_request"},
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
		{"resize without process", "POST", "/mine/resize", "a", `{"rows":24,"cols":80}`, 409, "no_process"},
		{"resize body too large", "POST", "/mine/resize", "a", `{"rows":24,"cols":80,"x":"` + strings.Repeat("x", 5000) + `"}`, 413, "too_large"},
		{"delete other workspace", "DELETE", "/theirs", "a", "", 404, "not_found"},
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
	_, ok := e.m.Get("theirs")
	assert.True(t, ok, "DELETE from another workspace removed the session")
}

func TestAllowHeader(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	r := e.do(t, "POST", "/x/output", "-", "")
	require.Equal(t, http.StatusMethodNotAllowed, r.status)
	assert.Equal(t, "GET", r.header.Get("Allow"))
}

// A session of another workspace must be indistinguishable from a missing
// one on every route.
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
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			missing := e.do(t, rt.method, fmt.Sprintf(rt.path, "nope"), "a", rt.body)
			foreign := e.do(t, rt.method, fmt.Sprintf(rt.path, "theirs"), "a", rt.body)
			missing.header.Del("Date")
			foreign.header.Del("Date")
			assert.Equal(t, http.StatusNotFound, foreign.status)
			assert.Equal(t, missing, foreign, "got a different answer for another workspace's session than for a missing one")
		})
	}
	_, ok := e.m.Get("theirs")
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
	s, _ := e.m.Get("mine")
	r := e.do(t, "DELETE", "/mine", "a", "")
	assert.Equal(t, http.StatusNoContent, r.status, "body %s", r.body)
	_, ok := e.m.Get("mine")
	assert.False(t, ok, "session still registered")
	assert.True(t, s.Closed(), "session not closed")
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
}

func TestStart(t *testing.T) {
	sessionIn := func(ws string) func(*http.Request, *processes.Manager) (*processes.Session, error) {
		return func(r *http.Request, m *processes.Manager) (*processes.Session, error) {
			s := &processes.Session{ID: "new", WorkspaceID: ws}
			m.Register(s)
			return s, nil
		}
	}
	failWith := func(err error) func(*http.Request, *processes.Manager) (*processes.Session, error) {
		return func(*http.Request, *processes.Manager) (*processes.Session, error) { return nil, err }
	}
	tests := []struct {
		name       string
		start      func(*http.Request, *processes.Manager) (*processes.Session, error)
		wantStatus int
		wantCode   string
		wantKept   bool // the session "new" stays registered
	}{
		{"in the caller's workspace", sessionIn("a"), 201, "", true},
		{"in the caller's workspace from the context", func(r *http.Request, m *processes.Manager) (*processes.Session, error) {
			return sessionIn(httpapi.Workspace(r.Context()))(r, m)
		}, 201, "", true},
		{"in another workspace", sessionIn("b"), 500, "internal", false},
		{"not registered", func(*http.Request, *processes.Manager) (*processes.Session, error) {
			return &processes.Session{ID: "new", WorkspaceID: "a"}, nil
		}, 500, "internal", false},
		{"nil session", failWith(nil), 500, "internal", false},
		{"too many", failWith(fmt.Errorf("limit: %w", processes.ErrTooManySessions)), 429, "too_many_sessions", false},
		{"exists", failWith(processes.ErrExists), 409, "exists", false},
		{"invalid", failWith(processes.ErrInvalid), 400, "bad_request", false},
		{"closed manager", failWith(processes.ErrClosed), 410, "closed", false},
		{"body too large", failWith(&http.MaxBytesError{Limit: 10}), 413, "too_large", false},
		{"api error", failWith(&httpapi.APIError{Status: 422, Code: "bad_argv", Message: "argv is empty"}), 422, "bad_argv", false},
		{"api error without code", failWith(&httpapi.APIError{Status: 400}), 400, "bad_request", false},
		{"api error with a silly status", failWith(&httpapi.APIError{Status: 200, Code: "x"}), 500, "x", false},
		{"other error", failWith(errors.New("secret internals")), 500, "internal", false},
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
			}
			if tt.wantStatus >= 500 {
				assert.Contains(t, logs.String(), "level=ERROR", "a 5xx was not logged")
			}
			_, kept := e.m.Get("new")
			assert.Equal(t, tt.wantKept, kept, "session registered after the answer")
		})
	}
}

func TestStartWithoutTrailingSlash(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{Start: func(r *http.Request, m *processes.Manager) (*processes.Session, error) {
		s := &processes.Session{ID: "s"}
		m.Register(s)
		return s, nil
	}})
	r := e.do(t, "POST", "", "-", "")
	assert.Equal(t, http.StatusCreated, r.status, "body %s", r.body)
}
