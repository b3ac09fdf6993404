package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// build compiles this program into a temporary directory.
func build(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool in PATH")
	}
	bin := filepath.Join(t.TempDir(), "sdkpoll")
	out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// The built program, end to end: the default command through the API.
func TestProgram(t *testing.T) {
	bin := build(t)
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr []string
	}{
		{
			name:       "default command",
			wantStdout: "tick 1\ntick 2\ntick 3\ntick 4\ntick 5\n",
			wantStderr: []string{"sdkpoll: serving http://127.0.0.1:", "done\n", "sdkpoll: exit 0"},
		},
		{
			name:       "exit code passed on",
			args:       []string{"sh", "-c", "echo out; echo err >&2; exit 3"},
			wantCode:   3,
			wantStdout: "out\n",
			wantStderr: []string{"err\n", "sdkpoll: exit 3"},
		},
		{
			name:       "program that cannot start",
			args:       []string{"/nonexistent/program"},
			wantCode:   1,
			wantStderr: []string{`sdkpoll: start: httpapi: 422 start_failed: httpapi: program could not be started: "program": no such file or directory`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := exec.CommandContext(t.Context(), bin, tt.args...)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
				code = ee.ExitCode()
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.wantCode, code, "got exit %d, want %d; stderr:\n%s", code, tt.wantCode, &stderr)
			assert.Equal(t, tt.wantStdout, stdout.String())
			for _, want := range tt.wantStderr {
				assert.Contains(t, stderr.String(), want)
			}
		})
	}
}

// run in this process, so that goleak sees its goroutines end.
func TestRun(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"sh", "-c", "printf 'a\\nb\\n'; exit 4"}, &stdout, &stderr)
	assert.Equal(t, 4, code, "stderr:\n%s", &stderr)
	assert.Equal(t, "a\nb\n", stdout.String())

	stderr.Reset()
	assert.Equal(t, 2, run([]string{"-no-such-flag"}, &stdout, &stderr))
	assert.Equal(t, 1, run([]string{"-addr", "256.0.0.1:99999"}, &stdout, &stderr))
	stderr.Reset()
	assert.Equal(t, 2, run([]string{"-addr", "0.0.0.0:0"}, &stdout, &stderr), "a non-loopback address")
	assert.Contains(t, stderr.String(), "use a loopback address")
}

// serve runs the example's handler on a loopback httptest server.
func serve(t *testing.T) (*processes.Manager, *httptest.Server) {
	t.Helper()
	m := processes.NewManager(0)
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.Handler = newHandler(m, srv.Listener.Addr().(*net.TCPAddr).Port, nil)
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(func() { require.NoError(t, m.Shutdown(context.Background())) })
	return m, srv
}

func TestStartArgvRefuses(t *testing.T) {
	m, srv := serve(t)
	tests := []struct {
		name, body string
		wantStatus int
		wantMsg    string
	}{
		{"not JSON", "argv", 400, "httpapi: the body is not valid JSON (at byte 1)"},
		{"wrong type", `{"argv":"ls"}`, 400, `httpapi: field "argv" must be an array`},
		{"unknown field", `{"args":["ls"]}`, 400, `httpapi: the body has an unknown field "args"`},
		{"no argv", `{}`, 400, `want {"argv": ["program", "arg", ...]}`},
		{"empty argv", `{"argv":[]}`, 400, `want {"argv": ["program", "arg", ...]}`},
		{"program not found", `{"argv":["no-such-program-anywhere"]}`, 422,
			`httpapi: program could not be started: "no-such-program-anywhere": executable file not found in PATH`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := srv.Client().Post(srv.URL+httpapi.DefaultPrefix+"/", "application/json", strings.NewReader(tt.body))
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, tt.wantStatus, resp.StatusCode)
			var body struct{ Error, Code string }
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
			assert.Equal(t, tt.wantMsg, body.Error)
			assert.NotContains(t, body.Error, "main.", "a Go type leaked")
		})
	}
	assert.Zero(t, m.Len(), "sessions started")
}

// A page of another site cannot make the example run a command: not with
// a cross-origin request, and not by rebinding a name of its own to
// 127.0.0.1, which makes its requests same-origin.
func TestBrowsersCannotStartCommands(t *testing.T) {
	m, srv := serve(t)
	port := fmt.Sprint(srv.Listener.Addr().(*net.TCPAddr).Port)
	tests := []struct {
		name       string
		host       string
		hdr        map[string]string
		wantStatus int
		wantCode   string
	}{
		{"no-cors fetch from another site", "", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example", "Content-Type": "text/plain"}, 403, "cross_origin"},
		{"old browser from another site", "", map[string]string{"Origin": "https://evil.example"}, 403, "cross_origin"},
		{"DNS rebinding", "evil.example:" + port, map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://evil.example:" + port}, 403, "forbidden_host"},
		{"curl", "", nil, 201, ""},
		{"curl to localhost", "localhost:" + port, nil, 201, ""},
		{"curl to LOCALHOST", "LOCALHOST:" + port, nil, 201, ""},
		{"a look-alike of localhost", "loca\u029fhost:" + port, nil, 403, "forbidden_host"},
		{"a page of this server", "", map[string]string{"Sec-Fetch-Site": "same-origin"}, 201, ""},
	}
	started := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), "POST", srv.URL+httpapi.DefaultPrefix+"/",
				strings.NewReader(`{"argv":["true"]}`))
			require.NoError(t, err)
			if tt.host != "" {
				req.Host = tt.host
			}
			for k, v := range tt.hdr {
				req.Header.Set(k, v)
			}
			resp, err := srv.Client().Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, tt.wantStatus, resp.StatusCode)
			if tt.wantCode != "" {
				var body struct{ Code string }
				require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
				assert.Equal(t, tt.wantCode, body.Code)
			} else {
				started++
			}
			assert.Equal(t, started, m.Len(), "sessions started")
		})
	}
}
