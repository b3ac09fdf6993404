package httpapi_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

func TestAPIErrorUnwrap(t *testing.T) {
	tests := []struct {
		code string
		want error
	}{
		{"not_found", processes.ErrNotFound},
		{"exited", processes.ErrExited},
		{"no_process", processes.ErrNoProcess},
		{"not_terminal", processes.ErrNotTerminal},
		{"exists", processes.ErrExists},
		{"closed", processes.ErrClosed},
		{"too_many_sessions", processes.ErrTooManySessions},
		{"bad_request", processes.ErrInvalid},
		{"too_large", nil},
		{"unauthorized", nil},
		{"", nil},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			err := &httpapi.APIError{Status: 400, Code: tt.code}
			got := err.Unwrap()
			assert.Equal(t, tt.want, got, "got %v, want %v", got, tt.want)
			if tt.want != nil {
				assert.ErrorIs(t, err, tt.want)
			}
		})
	}
}

func TestAPIErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		err  *httpapi.APIError
		want string
	}{
		{"full", &httpapi.APIError{Status: 404, Code: "not_found", Message: "processes: session not found"}, "httpapi: 404 not_found: processes: session not found"},
		{"no code", &httpapi.APIError{Status: 502, Message: "bad gateway"}, "httpapi: 502 Bad Gateway: bad gateway"},
		{"no message", &httpapi.APIError{Status: 410, Code: "closed"}, "httpapi: 410 closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.err.Error())
		})
	}
}

// Every client method against sessions without a process: the errors come
// back as the sentinels of package processes.
func TestClientErrors(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{MaxStdinBytes: 4})
	e.m.Register(&processes.Session{ID: "s"})
	ctx := t.Context()
	tests := []struct {
		name       string
		call       func() error
		wantErr    error // nil: only the status is checked
		wantStatus int
	}{
		{"output of missing", func() error { _, err := e.c.Output(ctx, "nope", 0, 0); return err }, processes.ErrNotFound, 404},
		{"stdin", func() error { return e.c.Stdin(ctx, "s", []byte("hi")) }, processes.ErrNoProcess, 409},
		{"stdin too large", func() error { return e.c.Stdin(ctx, "s", []byte("hello")) }, nil, 413},
		{"close stdin", func() error { return e.c.CloseStdin(ctx, "s") }, processes.ErrNoProcess, 409},
		{"signal", func() error { return e.c.Signal(ctx, "s", "SIGINT") }, processes.ErrNoProcess, 409},
		{"unknown signal", func() error { return e.c.Signal(ctx, "s", "SIGNOPE") }, processes.ErrInvalid, 400},
		{"terminate", func() error { _, err := e.c.Terminate(ctx, "s"); return err }, processes.ErrNoProcess, 409},
		{"resize", func() error { return e.c.Resize(ctx, "s", 24, 80) }, processes.ErrNoProcess, 409},
		{"resize zero", func() error { return e.c.Resize(ctx, "s", 0, 80) }, processes.ErrInvalid, 400},
		{"delete missing", func() error { return e.c.Delete(ctx, "nope") }, processes.ErrNotFound, 404},
		{"start disabled", func() error { _, err := e.c.Start(ctx, nil); return err }, nil, 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var ae *httpapi.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.wantStatus, ae.Status, "got status %d, want %d", ae.Status, tt.wantStatus)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
			}
		})
	}
}

func TestClientNonJSONError(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	e.intercept(func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "upstream "+strings.Repeat("x", 300), http.StatusBadGateway)
		return true
	})
	_, err := e.c.Output(t.Context(), "s", 0, 0)
	var ae *httpapi.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusBadGateway, ae.Status)
	assert.Empty(t, ae.Code)
	assert.True(t, strings.HasPrefix(ae.Message, "upstream xxx"), "message %q", ae.Message)
	assert.Len(t, ae.Message, 200)
	assert.Nil(t, errors.Unwrap(err))
}

func TestClientStartAndHeader(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{
		Authorize: byHeader,
		Start: func(r *http.Request, m *processes.Manager) (*processes.Session, error) {
			var req struct{ Name string }
			if err := jsonDecode(r, &req); err != nil {
				return nil, &httpapi.APIError{Status: 400, Code: "bad_request", Message: err.Error()}
			}
			s := &processes.Session{ID: req.Name, WorkspaceID: httpapi.Workspace(r.Context())}
			m.Register(s)
			return s, nil
		},
	})
	_, err := e.c.Start(t.Context(), map[string]string{"name": "x"})
	var ae *httpapi.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusUnauthorized, ae.Status)

	e.c.Header = http.Header{"X-Workspace": {"ws1"}}
	st, err := e.c.Start(t.Context(), map[string]string{"name": "x"})
	require.NoError(t, err)
	assert.Equal(t, httpapi.Started{ID: "x", WorkspaceID: "ws1"}, st)

	_, err = e.c.Start(t.Context(), func() {})
	assert.ErrorContains(t, err, "encoding start request")
	_, err = e.c.Start(t.Context(), nil)
	assert.ErrorIs(t, err, processes.ErrInvalid, "an empty body is a bad request")

	s, _ := e.m.Get("x")
	s.Append("stdout", []byte("hi"))
	out, err := e.c.Output(t.Context(), "x", 0, 0)
	require.NoError(t, err)
	require.Len(t, out.Chunks, 1)
	assert.Equal(t, processes.Chunk{Stream: "stdout", Data: []byte("hi"), Seq: 1}, out.Chunks[0])

	require.NoError(t, e.c.Delete(t.Context(), "x"))
	_, ok := e.m.Get("x")
	assert.False(t, ok, "deleted session still registered")
}

// jsonDecode decodes a small JSON request body into v.
func jsonDecode(r *http.Request, v any) error {
	return json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<10)).Decode(v)
}

func TestClientEscapesIDs(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	s := &processes.Session{ID: "a b/c?d"}
	e.m.Register(s)
	s.Append("stdout", []byte("odd"))
	out, err := e.c.Output(t.Context(), s.ID, 0, 0)
	require.NoError(t, err)
	require.Len(t, out.Chunks, 1)
	assert.Equal(t, "odd", string(out.Chunks[0].Data))
}
