//go:build linux

package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

// procEnv serves m with a Start that runs {"argv": [...]} in the caller's
// workspace. After the test it checks that every process it started is gone
// and reaped: the Manager's Shutdown in newEnv's cleanup ran first.
func procEnv(t *testing.T, m *processes.Manager, opts httpapi.Options) *env {
	t.Helper()
	var mu sync.Mutex
	var pids []int
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, pid := range pids {
			assert.False(t, proctest.Alive(pid), "process %d alive or unreaped after Shutdown", pid)
		}
	})
	opts.Start = func(r *http.Request, m *processes.Manager) (*processes.Session, error) {
		var req struct {
			Argv []string `json:"argv"`
		}
		if err := httpapi.DecodeJSON(r, 1<<20, &req); err != nil {
			return nil, err
		}
		if len(req.Argv) == 0 {
			return nil, &httpapi.APIError{Status: 400, Code: httpapi.CodeBadRequest, Message: "want {\"argv\": [...]}"}
		}
		s, err := m.Start(exec.Command(req.Argv[0], req.Argv[1:]...), processes.StartOptions{
			ID:          httpapi.SessionID(r, ""),
			WorkspaceID: httpapi.Workspace(r.Context()),
		})
		if err == nil {
			mu.Lock()
			pids = append(pids, s.Pid())
			mu.Unlock()
		}
		return s, err
	}
	return newEnv(t, m, opts)
}

// start starts argv through the handler and returns the session's ID.
func start(t *testing.T, e *env, argv ...string) string {
	t.Helper()
	st, err := e.c.Start(t.Context(), map[string][]string{"argv": argv})
	require.NoError(t, err)
	require.NotEmpty(t, st.ID)
	return st.ID
}

// follow follows sid to its exit and returns its output per stream.
func follow(t *testing.T, e *env, sid string) (exit int, out map[string]string) {
	t.Helper()
	out = map[string]string{}
	exit, err := e.c.Follow(t.Context(), sid, 0, func(o processes.Output) error {
		assert.Zero(t, o.Missed, "missed bytes")
		for _, c := range o.Chunks {
			out[c.Stream] += string(c.Data)
		}
		return nil
	})
	require.NoError(t, err)
	return exit, out
}

func TestProcessStdin(t *testing.T) {
	e := procEnv(t, nil, httpapi.Options{MaxStdinBytes: 16})
	sid := start(t, e, "cat")
	ctx := t.Context()

	require.NoError(t, e.c.Stdin(ctx, sid, []byte("hello\n")))
	err := e.c.Stdin(ctx, sid, []byte("this is far too long for the limit\n"))
	var ae *httpapi.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusRequestEntityTooLarge, ae.Status)
	assert.Equal(t, httpapi.CodeTooLarge, ae.Code)
	require.NoError(t, e.c.Stdin(ctx, sid, []byte("world\n")))
	require.NoError(t, e.c.CloseStdin(ctx, sid))

	exit, out := follow(t, e, sid)
	assert.Equal(t, 0, exit)
	assert.Equal(t, "hello\nworld\n", out["stdout"], "stdout: the oversize body must not reach cat")
	assert.ErrorIs(t, e.c.Stdin(ctx, sid, []byte("late\n")), processes.ErrExited)
}

// Stdin after close=1, while the process runs, is 409 "stdin_closed", not
// "exited", on the stdin route and on an attachment; the status still says
// alive.
func TestProcessStdinAfterClose(t *testing.T) {
	e := procEnv(t, nil, httpapi.Options{})
	sid := start(t, e, "sleep", "1000")
	ctx := t.Context()
	require.NoError(t, e.c.CloseStdin(ctx, sid))
	err := e.c.Stdin(ctx, sid, []byte("more\n"))
	assert.ErrorIs(t, err, processes.ErrStdinClosed)
	var ae *httpapi.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusConflict, ae.Status)
	assert.Equal(t, httpapi.CodeStdinClosed, ae.Code)
	st, err := e.c.Status(ctx, sid)
	require.NoError(t, err)
	assert.True(t, st.Alive)

	c := dial(t, e, "/"+sid+"/attach", nil)
	readUntil(t, c, kindIs(httpapi.AttachHello))
	require.NoError(t, c.Write(ctx, websocket.MessageBinary, []byte("more\n")))
	_, ctls := readUntil(t, c, kindIs(httpapi.AttachError))
	assert.Equal(t, httpapi.CodeStdinClosed, ctls[len(ctls)-1].ctl["code"])
}

func TestProcessStdinAndCloseInOneRequest(t *testing.T) {
	e := procEnv(t, nil, httpapi.Options{})
	sid := start(t, e, "cat")
	r := e.do(t, "POST", "/"+sid+"/stdin?close=true", "-", "last words\n")
	require.Equal(t, http.StatusNoContent, r.status, r.body)
	exit, out := follow(t, e, sid)
	assert.Equal(t, 0, exit)
	assert.Equal(t, "last words\n", out["stdout"])
}

func TestProcessExitCodes(t *testing.T) {
	tests := []struct {
		name       string
		argv       []string
		act        func(t *testing.T, e *env, sid string)
		wantExit   int
		wantStdout string
		wantStderr string
	}{
		{
			name:       "exit 3",
			argv:       []string{"sh", "-c", "echo out; echo err >&2; exit 3"},
			wantExit:   3,
			wantStdout: "out\n",
			wantStderr: "err\n",
		},
		{
			name: "SIGINT",
			argv: []string{"sleep", "1000"},
			act: func(t *testing.T, e *env, sid string) {
				require.NoError(t, e.c.Signal(t.Context(), sid, "INT"))
			},
			wantExit: 130,
		},
		{
			name: "sigkill by full name in lower case",
			argv: []string{"sleep", "1000"},
			act: func(t *testing.T, e *env, sid string) {
				require.NoError(t, e.c.Signal(t.Context(), sid, "sigkill"))
			},
			wantExit: 137,
		},
		{
			name: "terminate",
			argv: []string{"sleep", "1000"},
			act: func(t *testing.T, e *env, sid string) {
				exit, err := e.c.Terminate(t.Context(), sid)
				require.NoError(t, err)
				assert.Equal(t, 143, exit, "terminate's exit")
			},
			wantExit: 143,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := procEnv(t, nil, httpapi.Options{})
			sid := start(t, e, tt.argv...)
			if tt.act != nil {
				tt.act(t, e, sid)
			}
			exit, out := follow(t, e, sid)
			assert.Equal(t, tt.wantExit, exit, "got exit %d, want %d", exit, tt.wantExit)
			assert.Equal(t, tt.wantStdout, out["stdout"])
			assert.Equal(t, tt.wantStderr, out["stderr"])

			// After the exit: signals refuse, terminate reports the exit.
			assert.ErrorIs(t, e.c.Signal(t.Context(), sid, "TERM"), processes.ErrExited)
			got, err := e.c.Terminate(t.Context(), sid)
			require.NoError(t, err)
			assert.Equal(t, tt.wantExit, got, "terminate after the exit")
		})
	}
}

func TestProcessResizePipe(t *testing.T) {
	e := procEnv(t, nil, httpapi.Options{})
	sid := start(t, e, "cat")
	err := e.c.Resize(t.Context(), sid, 24, 80)
	assert.ErrorIs(t, err, processes.ErrNotTerminal)
	var ae *httpapi.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusConflict, ae.Status)
}

func TestProcessDeleteKills(t *testing.T) {
	e := procEnv(t, nil, httpapi.Options{})
	sid := start(t, e, "sleep", "1000")
	s, ok := e.m.Get(sid)
	require.True(t, ok)
	pid := s.Pid()
	require.True(t, proctest.Alive(pid), "sleep is not running")

	require.NoError(t, e.c.Delete(t.Context(), sid))
	proctest.Recv(t, s.Done())
	require.Eventually(t, func() bool { return !proctest.Alive(pid) }, 10*time.Second, 5*time.Millisecond,
		"process %d alive or unreaped after DELETE", pid)
	_, err := e.c.Output(t.Context(), sid, 0, 0)
	assert.ErrorIs(t, err, processes.ErrNotFound)
}

func TestProcessStartErrors(t *testing.T) {
	e := procEnv(t, processes.NewManager(0, processes.WithMaxSessions(1)), httpapi.Options{Authorize: byHeader})
	e.c.Header = http.Header{"X-Workspace": {"w"}}
	sid := start(t, e, "sleep", "1000")
	s, ok := e.m.Get(httpapi.ScopedID("w", sid))
	require.True(t, ok)
	assert.Equal(t, "w", s.WorkspaceID, "the session's workspace")

	tests := []struct {
		name       string
		req        any
		wantStatus int
		wantErr    error
	}{
		{"past the limit", map[string][]string{"argv": {"true"}}, 429, processes.ErrTooManySessions},
		{"no argv", map[string]string{}, 400, processes.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.c.Start(t.Context(), tt.req)
			var ae *httpapi.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.wantStatus, ae.Status)
			assert.ErrorIs(t, err, tt.wantErr)
		})
	}
	require.NoError(t, e.c.Delete(t.Context(), sid))
	proctest.Recv(t, s.Done())
}

// A program that cannot be started is the caller's input: 422
// start_failed, naming the program by its base name, without the server's
// directories or Go's words.
func TestProcessStartFailed(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "data.txt")
	require.NoError(t, os.WriteFile(notExec, []byte("hello\n"), 0o644))
	noMagic := filepath.Join(dir, "nomagic")
	require.NoError(t, os.WriteFile(noMagic, []byte{0, 1, 2, 3}, 0o755))
	loop := filepath.Join(dir, "loop")
	require.NoError(t, os.Symlink(filepath.Join(dir, "pool"), loop))
	require.NoError(t, os.Symlink(loop, filepath.Join(dir, "pool")))
	long := strings.Repeat("n", 300)
	tests := []struct {
		name     string
		argv     []string
		wantName string
		wantWhy  string
	}{
		{"absolute path missing", []string{"/nonexistent/dir/program"}, "program", "no such file or directory"},
		{"not in PATH", []string{"no-such-program-anywhere"}, "no-such-program-anywhere", "executable file not found in PATH"},
		{"not executable", []string{notExec}, "data.txt", "permission denied"},
		{"a directory", []string{dir}, filepath.Base(dir), "permission denied"},
		{"not a program", []string{noMagic}, "nomagic", "not an executable program"},
		{"a file as a directory", []string{notExec + "/x"}, "x", "a component of its path is not a directory"},
		{"no program", []string{""}, "", "no program named"},
		{"a name too long", []string{"/" + long}, long[:128] + "...", "file name too long"},
		{"a symbolic link loop", []string{loop}, "loop", "too many levels of symbolic links"},
		{"an argument too long", []string{"/bin/echo", strings.Repeat("x", 200<<10)}, "echo", "argument list too long"},
	}
	e := procEnv(t, nil, httpapi.Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.c.Start(t.Context(), map[string][]string{"argv": tt.argv})
			var ae *httpapi.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, http.StatusUnprocessableEntity, ae.Status, "%v", err)
			assert.Equal(t, httpapi.CodeStartFailed, ae.Code)
			assert.ErrorIs(t, err, httpapi.ErrStartFailed)
			assert.Equal(t, fmt.Sprintf("httpapi: program could not be started: %q: %s", tt.wantName, tt.wantWhy), ae.Message)
			assert.NotContains(t, ae.Message, dir, "a server directory leaked")
			assert.NotContains(t, ae.Message, "fork/exec")
		})
	}
	assert.Zero(t, e.m.Len(), "sessions registered")
}

// A Start function whose working directory is missing is the server's
// fault, not the caller's: 500, not a 422 that blames the program.
func TestProcessStartInAMissingDirectory(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{Start: func(r *http.Request, m *processes.Manager) (*processes.Session, error) {
		cmd := exec.Command("true")
		cmd.Dir = "/nonexistent/dir"
		return m.Start(cmd, processes.StartOptions{ID: httpapi.SessionID(r, "")})
	}})
	_, err := e.c.Start(t.Context(), map[string][]string{"argv": {"true"}})
	var ae *httpapi.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusInternalServerError, ae.Status, "%v", err)
	assert.Equal(t, httpapi.CodeInternal, ae.Code)
}

// A Start function that makes its command with the request's context does
// not tie the process to the request: the session's grace still applies
// once the request was answered.
func TestProcessStartWithRequestContext(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{Start: func(r *http.Request, m *processes.Manager) (*processes.Session, error) {
		cmd := exec.CommandContext(r.Context(), "sh", "-c", `trap 'exit 7' TERM; echo ready; while :; do sleep 0.05; done`)
		return m.Start(cmd, processes.StartOptions{ID: httpapi.SessionID(r, "")})
	}})
	_, finished := e.watch()
	sid := start(t, e)
	proctest.Recv(t, finished)
	s, ok := e.m.Get(sid)
	require.True(t, ok)
	require.NoError(t, s.WaitOutput(t.Context(), 0))
	exit, err := e.c.Terminate(t.Context(), sid)
	require.NoError(t, err)
	assert.Equal(t, 7, exit, "the process was killed with the request's context")
}

// A client that asks for termination and leaves at once does not turn the
// graceful stop into SIGKILL: the child's SIGTERM handler runs to its end.
func TestProcessTerminateOutlivesItsClient(t *testing.T) {
	e := procEnv(t, nil, httpapi.Options{})
	sid := start(t, e, "sh", "-c", `trap 'sleep 0.2; exit 7' TERM; echo ready; while :; do sleep 0.05; done`)
	s, ok := e.m.Get(sid)
	require.True(t, ok)
	// The trap is set once ready is printed.
	require.NoError(t, s.WaitOutput(t.Context(), 0))
	arrived, finished := e.watch()

	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := e.c.Terminate(ctx, sid)
		errc <- err
	}()
	for r := proctest.Recv(t, arrived); !strings.HasSuffix(r.URL.Path, "/terminate"); r = proctest.Recv(t, arrived) {
	}
	cancel()
	assert.ErrorIs(t, proctest.Recv(t, errc), context.Canceled)

	proctest.Recv(t, s.Done())
	st, ok := s.ExitStatus()
	require.True(t, ok)
	assert.Equal(t, 7, st.Code, "got %v, want exit status 7: the client's leaving escalated the stop", st)
	assert.Zero(t, st.Signal)
	proctest.Recv(t, finished) // the handler returned once the process was gone
}

func TestProcessEvents(t *testing.T) {
	e := procEnv(t, nil, httpapi.Options{})
	sid := start(t, e, "sh", "-c", "for i in 1 2 3; do echo line $i; done; exit 2")
	req, err := http.NewRequestWithContext(t.Context(), "GET", e.base+"/"+sid+"/events", nil)
	require.NoError(t, err)
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	evs, err := readEvents(resp.Body, nil)
	require.NoError(t, err)
	require.NotEmpty(t, evs)

	assert.Equal(t, "hello", evs[0].name)
	evs = content(t, evs)
	var stdout strings.Builder
	for _, ev := range evs[:len(evs)-1] {
		require.Equal(t, "output", ev.name)
		var c struct {
			Stream string
			Seq    int
			Data   []byte
		}
		require.NoError(t, json.Unmarshal([]byte(ev.data), &c))
		assert.Equal(t, fmt.Sprint(c.Seq), ev.id)
		stdout.Write(c.Data)
	}
	assert.Equal(t, "line 1\nline 2\nline 3\n", stdout.String())
	assert.Equal(t, event{id: evs[len(evs)-1].id, hasID: true, name: "exit", data: `{"exit":2}`}, evs[len(evs)-1])
}

// A long poll of a running process ends when the Manager shuts down: with
// 410 closed, with the exit if the process was reaped before the handler
// looked, or with 404 if Shutdown removed the session before the handler,
// which the request had only reached, looked it up.
func TestProcessShutdownEndsLongPoll(t *testing.T) {
	e := procEnv(t, nil, httpapi.Options{})
	sid := start(t, e, "sleep", "1000")
	arrived, _ := e.watch()
	type result struct {
		out processes.Output
		err error
	}
	res := make(chan result, 1)
	go func() {
		out, err := e.c.Output(context.Background(), sid, 0, time.Hour)
		res <- result{out, err}
	}()
	proctest.Recv(t, arrived)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, e.m.Shutdown(ctx))
	got := proctest.Recv(t, res)
	if got.err != nil {
		if !errors.Is(got.err, processes.ErrNotFound) {
			assert.ErrorIs(t, got.err, processes.ErrClosed)
		}
	} else {
		assert.False(t, got.out.Alive, "got a live process after Shutdown")
	}
}
