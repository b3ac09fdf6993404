//go:build linux

package httpapi_test

import (
	"errors"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

// TestStarter: the ready start function starts what Allow lets through,
// on pipes or a terminal, and refuses the rest with clear answers.
func TestStarter(t *testing.T) {
	st := &httpapi.Starter{
		Allow: func(r *http.Request, req *httpapi.StartRequest) error {
			switch {
			case len(req.Argv) > 0 && req.Argv[0] == "rm":
				return errors.New("rm is not allowed here")
			case len(req.Argv) > 0 && req.Argv[0] == "shell":
				req.Argv = []string{"sh", "-c", "echo rewritten"} // the embedder decides what runs
			case len(req.Argv) > 0 && req.Argv[0] == "quota":
				return &httpapi.APIError{Status: http.StatusTooManyRequests, Code: "quota", Message: "no more today"}
			}
			return nil
		},
		WarnBefore: time.Second,
	}
	e := newEnv(t, nil, httpapi.Options{Start: st.Start})

	t.Run("pipes", func(t *testing.T) {
		s, err := e.c.Start(t.Context(), httpapi.StartRequest{Argv: []string{"shell"}, ID: "p"})
		require.NoError(t, err)
		assert.Equal(t, "p", s.ID)
		code, err := e.c.Follow(t.Context(), "p", 0, func(processes.Output) error { return nil })
		require.NoError(t, err)
		assert.Equal(t, 0, code)
		status, err := e.c.Status(t.Context(), "p")
		require.NoError(t, err)
		assert.False(t, status.TTY)
	})
	t.Run("terminal", func(t *testing.T) {
		_, err := e.c.Start(t.Context(), httpapi.StartRequest{Argv: []string{"sh"}, TTY: true, Rows: 30, Cols: 120, ID: "t"})
		require.NoError(t, err)
		status, err := e.c.Status(t.Context(), "t")
		require.NoError(t, err)
		assert.True(t, status.TTY)
		assert.Equal(t, [2]uint16{30, 120}, [2]uint16{status.Rows, status.Cols})
		require.NoError(t, e.c.Delete(t.Context(), "t"))
	})
	refusals := []struct {
		name   string
		req    any
		status int
		code   string
	}{
		{"refused by Allow", httpapi.StartRequest{Argv: []string{"rm", "-rf", "/"}}, http.StatusForbidden, "forbidden"},
		{"Allow's own answer", httpapi.StartRequest{Argv: []string{"quota"}}, http.StatusTooManyRequests, "quota"},
		{"no argv", httpapi.StartRequest{}, http.StatusBadRequest, httpapi.CodeBadRequest},
		{"id .", httpapi.StartRequest{Argv: []string{"true"}, ID: "."}, http.StatusBadRequest, httpapi.CodeBadRequest},
		{"id ..", httpapi.StartRequest{Argv: []string{"true"}, ID: ".."}, http.StatusBadRequest, httpapi.CodeBadRequest},
		{"id with a NUL byte", httpapi.StartRequest{Argv: []string{"true"}, ID: "a\x00b"}, http.StatusBadRequest, httpapi.CodeBadRequest},
		{"id with a newline", httpapi.StartRequest{Argv: []string{"true"}, ID: "a\nb"}, http.StatusBadRequest, httpapi.CodeBadRequest},
		{"id too long", httpapi.StartRequest{Argv: []string{"true"}, ID: strings.Repeat("x", httpapi.MaxClientIDBytes+1)}, http.StatusBadRequest, httpapi.CodeBadRequest},
		{"terminal too large", httpapi.StartRequest{Argv: []string{"sh"}, TTY: true, Rows: 5000, Cols: 80}, http.StatusBadRequest, httpapi.CodeBadRequest},
		{"missing program", httpapi.StartRequest{Argv: []string{"no-such-program-here"}}, http.StatusUnprocessableEntity, httpapi.CodeStartFailed},
		{"not a start request", map[string]any{"argv": "sh"}, http.StatusBadRequest, httpapi.CodeBadRequest},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.c.Start(t.Context(), tt.req)
			ae := (*httpapi.APIError)(nil)
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.status, ae.Status)
			assert.Equal(t, tt.code, ae.Code)
		})
	}
	t.Run("zero Starter", func(t *testing.T) {
		z := newEnv(t, nil, httpapi.Options{Start: (&httpapi.Starter{}).Start})
		_, err := z.c.Start(t.Context(), httpapi.StartRequest{Argv: []string{"true"}})
		ae := (*httpapi.APIError)(nil)
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, http.StatusForbidden, ae.Status)
	})
}

// A start that Manager.Start or ptyterm.Start refuses as invalid, after
// the request passed every check, refuses the Starter's own command or
// options: it answers 500, not a 400 that blames the client.
func TestStarterMisconfiguredIsNotTheClients(t *testing.T) {
	allow := func(*http.Request, *httpapi.StartRequest) error { return nil }
	tests := []struct {
		name string
		st   httpapi.Starter
		req  httpapi.StartRequest
	}{
		{"warning not shorter than the idle timeout", httpapi.Starter{Allow: allow, IdleTimeout: time.Minute, WarnBefore: time.Hour},
			httpapi.StartRequest{Argv: []string{"sh"}, TTY: true}},
		{"a command whose stdout is set", httpapi.Starter{Allow: allow, Command: func(_ *http.Request, req *httpapi.StartRequest) (*exec.Cmd, error) {
			cmd := exec.Command(req.Argv[0])
			cmd.Stdout = io.Discard
			return cmd, nil
		}}, httpapi.StartRequest{Argv: []string{"true"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil, httpapi.Options{Start: tt.st.Start})
			_, err := e.c.Start(t.Context(), tt.req)
			var ae *httpapi.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, http.StatusInternalServerError, ae.Status, "%v", err)
			assert.Equal(t, httpapi.CodeInternal, ae.Code)
			assert.Zero(t, e.m.Len(), "a refused start left a session")
		})
	}
}
