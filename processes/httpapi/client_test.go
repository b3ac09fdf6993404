package httpapi_test

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

func TestAPIErrorUnwrap(t *testing.T) {
	tests := []struct {
		status int
		code   string
		want   error
	}{
		{404, "not_found", processes.ErrNotFound},
		{409, "exited", processes.ErrExited},
		{409, "no_process", processes.ErrNoProcess},
		{409, "not_terminal", processes.ErrNotTerminal},
		{409, "exists", processes.ErrExists},
		{409, "invocation_changed", httpapi.ErrInvocationChanged},
		{409, "cursor_ahead", httpapi.ErrCursorAhead},
		{410, "closed", processes.ErrClosed},
		{410, "idle_timeout", processes.ErrIdleTimeout},
		{410, "forgotten", processes.ErrForgotten},
		{410, "replaced", processes.ErrReplaced},
		{410, "reclaimed", processes.ErrReclaimed},
		{410, "shut_down", processes.ErrShutdown},
		{422, "start_failed", httpapi.ErrStartFailed},
		{429, "too_many_sessions", processes.ErrTooManySessions},
		{429, "too_many_writers", httpapi.ErrTooManyWriters},
		{400, "bad_request", processes.ErrInvalid},
		{413, "too_large", nil},
		{401, "unauthorized", nil},
		{403, "cross_origin", nil},
		{400, "too_large", nil}, // a known code wins over the status
		{400, "", nil},          // not the handler's answer: a proxy's, another application's
		{404, "", nil},
		{410, "", nil},
		{404, "no_such_job", processes.ErrNotFound},
		{410, "expired", processes.ErrClosed},
		{409, "", nil},
		{502, "", nil},
		{200, "", nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status, " ", tt.code), func(t *testing.T) {
			err := &httpapi.APIError{Status: tt.status, Code: tt.code}
			got := err.Unwrap()
			assert.Equal(t, tt.want, got, "got %v, want %v", got, tt.want)
			if tt.want != nil {
				assert.ErrorIs(t, err, tt.want)
			}
		})
	}
	// Every reason for closing is also ErrClosed.
	assert.ErrorIs(t, &httpapi.APIError{Status: 410, Code: "forgotten"}, processes.ErrClosed)
}

func TestStatusCode(t *testing.T) {
	tests := []struct {
		status int
		want   string
	}{
		{400, "bad_request"}, {401, "unauthorized"}, {403, "forbidden"}, {404, "not_found"},
		{405, "method_not_allowed"}, {408, "timeout"}, {409, "conflict"}, {410, "closed"},
		{413, "too_large"}, {418, "i_m_a_teapot"}, {422, "unprocessable_entity"},
		{429, "too_many_requests"}, {460, "client_error"}, {499, "canceled"}, {500, "internal"},
		{502, "bad_gateway"}, {503, "service_unavailable"}, {504, "timeout"}, {599, "server_error"},
		{200, ""}, {302, ""}, {0, ""}, {600, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			assert.Equal(t, tt.want, httpapi.StatusCode(tt.status))
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
			if err := httpapi.DecodeJSON(r, 1<<10, &req); err != nil {
				return nil, err
			}
			s := &processes.Session{ID: httpapi.SessionID(r, req.Name), WorkspaceID: httpapi.Workspace(r.Context())}
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

	s, ok := e.m.Get(httpapi.ScopedID("ws1", "x"))
	require.True(t, ok, "the session under its scoped ID")
	s.Append("stdout", []byte("hi"))
	out, err := e.c.Output(t.Context(), "x", 0, 0)
	require.NoError(t, err)
	require.Len(t, out.Chunks, 1)
	assert.Equal(t, processes.Chunk{Stream: "stdout", Data: []byte("hi"), Seq: 1}, out.Chunks[0])
	assert.Equal(t, s.InvocationID(), out.InvocationID)

	require.NoError(t, e.c.Delete(t.Context(), "x"))
	_, ok = e.m.Get(s.ID)
	assert.False(t, ok, "deleted session still registered")
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

// Byte counts are JSON numbers of up to 63 bits from any server; the client
// decodes them whatever the width of its int, saturating at math.MaxInt.
func TestClientByteCountsAre64Bit(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	e.intercept(func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"chunks":[],"exit":null,"alive":true,"lost_bytes":9223372036854775807,"missed":5000000000,"invocation_id":"i","more":false}`))
		return true
	})
	out, err := e.c.Output(t.Context(), "s", 0, 0)
	require.NoError(t, err)
	assert.Equal(t, int(min(int64(9223372036854775807), math.MaxInt)), out.LostBytes)
	assert.Equal(t, int(min(int64(5000000000), math.MaxInt)), out.Missed)
}

// The Client refuses, without a request, a session ID that no URL names:
// "/." would be cleaned into the list route and answer an empty status.
func TestClientRefusesIDsNoURLNames(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	arrived, _ := e.watch()
	for _, sid := range []string{"", ".", ".."} {
		_, err := e.c.Status(t.Context(), sid)
		assert.ErrorIs(t, err, processes.ErrInvalid, "Status(%q)", sid)
		assert.ErrorIs(t, e.c.Delete(t.Context(), sid), processes.ErrInvalid, "Delete(%q)", sid)
		_, err = e.c.Poll(t.Context(), sid, httpapi.Cursor{}, httpapi.PollOptions{})
		assert.ErrorIs(t, err, processes.ErrInvalid, "Poll(%q)", sid)
	}
	select {
	case r := <-arrived:
		t.Errorf("a request was sent: %s %s", r.Method, r.URL)
	default:
	}

	// An ID that a client may not choose, but the embedder registered, is
	// reached.
	e.m.Register(&processes.Session{ID: "a\nb"})
	st, err := e.c.Status(t.Context(), "a\nb")
	require.NoError(t, err)
	assert.Equal(t, "a\nb", st.ID)
}

// CloseStdin of a process that exited returns nil, as closing a closed
// stdin does, while Stdin and Signal say that it exited; a session
// without a process answers ErrNoProcess to all three, as their
// documentation says.
func TestClientStdinAndSignalAfterExit(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("processes run on Linux only")
	}
	e := newEnv(t, nil, httpapi.Options{})
	s, err := e.m.Start(exec.Command("true"), processes.StartOptions{ID: "p"})
	require.NoError(t, err)
	proctest.Recv(t, s.Done())
	ctx := t.Context()
	assert.NoError(t, e.c.CloseStdin(ctx, "p"))
	assert.ErrorIs(t, e.c.Stdin(ctx, "p", []byte("x")), processes.ErrExited)
	assert.ErrorIs(t, e.c.Signal(ctx, "p", "INT"), processes.ErrExited)
	assert.ErrorIs(t, e.c.Resize(ctx, "p", 24, 80), processes.ErrNotTerminal)
	assert.ErrorIs(t, e.c.Resize(ctx, "p", httpapi.MaxTerminalSize+1, 80), processes.ErrInvalid)
	exit, err := e.c.Terminate(ctx, "p")
	require.NoError(t, err)
	assert.Equal(t, 0, exit)

	e.m.Register(&processes.Session{ID: "none"})
	assert.ErrorIs(t, e.c.CloseStdin(ctx, "none"), processes.ErrNoProcess)
	assert.ErrorIs(t, e.c.Signal(ctx, "none", "INT"), processes.ErrNoProcess)
	assert.ErrorIs(t, e.c.Resize(ctx, "none", 24, 80), processes.ErrNoProcess)
}

// A base URL without the handler's prefix reaches the server's 404 for
// unknown paths, not the handler: that is not a session that does not
// exist, and the Client does not say it is.
func TestClientAtAWrongBaseURLIsNotNotFound(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	e.m.Register(&processes.Session{ID: "s"})
	c := httpapi.NewClient(e.srv.URL+"/wrong/prefix", e.srv.Client())
	_, err := c.Status(t.Context(), "s")
	var ae *httpapi.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusNotFound, ae.Status)
	assert.Empty(t, ae.Code)
	assert.NotErrorIs(t, err, processes.ErrNotFound, "a 404 that is not the handler's taken for a missing session")
}
