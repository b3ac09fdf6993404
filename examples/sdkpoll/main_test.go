package main

import (
	"bytes"
	"errors"
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
			wantStderr: []string{"sdkpoll: start: httpapi: 500 internal"},
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
}

func TestStartArgvRefuses(t *testing.T) {
	m := processes.NewManager(0)
	srv := httptest.NewServer(httpapi.NewHandler(m, httpapi.Options{Start: startArgv}))
	t.Cleanup(srv.Close)
	tests := []struct{ name, body string }{
		{"not JSON", "argv"},
		{"no argv", `{}`},
		{"empty argv", `{"argv":[]}`},
		{"program not found", `{"argv":["no-such-program-anywhere"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := srv.Client().Post(srv.URL+httpapi.DefaultPrefix+"/", "application/json", strings.NewReader(tt.body))
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
		})
	}
	assert.Zero(t, m.Len(), "sessions started")
}
