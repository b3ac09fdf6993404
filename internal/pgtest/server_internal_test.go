//go:build linux

package pgtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
)

// startServer starts a server of the test's own, or skips as New does.
func startServer(t *testing.T) *server {
	t.Helper()
	s, err := start()
	if err != nil {
		giveUp(t, err)
	}
	t.Logf("started in %v", s.took)
	return s
}

// TestStartAndStop: a server answers on its socket only, and stop leaves
// neither a process nor a file behind.
func TestStartAndStop(t *testing.T) {
	s := startServer(t)
	pid := s.cmd.Process.Pid
	_, err := os.Stat(filepath.Join(s.dir, ".s.PGSQL.5432"))
	require.NoError(t, err, "the Unix socket is in the server's directory")

	conn, err := pgx.Connect(t.Context(), s.url)
	require.NoError(t, err)
	var dir string
	assert.NoError(t, conn.QueryRow(t.Context(), "SELECT current_setting('unix_socket_directories')").Scan(&dir))
	assert.Equal(t, s.dir, dir)
	require.NoError(t, conn.Close(t.Context()))

	require.NoError(t, s.stop())
	_, err = os.Stat(s.dir)
	assert.ErrorIs(t, err, os.ErrNotExist, "got the directory still there after stop, want it removed")
	assert.True(t, s.cmd.ProcessState.Exited(), "got postgres state %v, want exited", s.cmd.ProcessState)
	assert.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "got postmaster %d still there after stop", pid)
}

// TestEnvURLIsUsedInsteadOfAServer: with SESSIONKIT_POSTGRES_URL set, New
// connects there.
func TestEnvURLIsUsedInsteadOfAServer(t *testing.T) {
	other := startServer(t)
	t.Cleanup(func() { assert.NoError(t, other.stop()) }) // after New's cleanups
	t.Setenv(EnvURL, other.url)
	assert.True(t, External())

	db := New(t)
	var dir string
	require.NoError(t, db.Pool.QueryRow(t.Context(), "SELECT current_setting('unix_socket_directories')").Scan(&dir))
	assert.Equal(t, other.dir, dir, "got a connection to the server in %s, want the one %s names", dir, EnvURL)
}

// TestRemoveStale removes the directories of dead test binaries only.
func TestRemoveStale(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	dead := exec.Command("true")
	require.NoError(t, dead.Run())
	mk := func(name string, owner int) string {
		d := filepath.Join(os.TempDir(), dirPrefix+name)
		require.NoError(t, os.MkdirAll(filepath.Join(d, "data"), 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(d, "owner"), []byte(strconv.Itoa(owner)), 0o644))
		return d
	}
	tests := []struct {
		name      string
		dir       string
		wantKept  bool
		postmastr int // pid in data/postmaster.pid, 0: none
	}{
		{"dead owner", mk("dead", dead.Process.Pid), false, 0},
		{"live owner", mk("live", os.Getpid()), true, 0},
		{"dead owner, live postmaster", mk("orphan", dead.Process.Pid), true, os.Getpid()},
	}
	for _, tt := range tests {
		if tt.postmastr != 0 {
			require.NoError(t, os.WriteFile(filepath.Join(tt.dir, "data", "postmaster.pid"), fmt.Appendf(nil, "%d\n/data\n", tt.postmastr), 0o600))
		}
	}
	removeStale()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := os.Stat(tt.dir)
			assert.Equal(t, tt.wantKept, err == nil, "got kept=%v (%v), want %v", err == nil, err, tt.wantKept)
		})
	}
}

// TestFindBin prefers the highest version that has both binaries, and names
// the package to install when there is none.
func TestFindBin(t *testing.T) {
	root := t.TempDir()
	mk := func(version string, names ...string) {
		d := filepath.Join(root, version, "bin")
		require.NoError(t, os.MkdirAll(d, 0o755))
		for _, n := range names {
			require.NoError(t, os.WriteFile(filepath.Join(d, n), []byte("#!/bin/sh\n"), 0o755))
		}
	}
	mk("9", "initdb", "postgres")
	mk("15", "initdb", "postgres")
	mk("16", "initdb") // half installed
	old := binGlob
	t.Cleanup(func() { binGlob = old })
	t.Setenv("PATH", t.TempDir()) // nothing on PATH

	tests := []struct {
		name    string
		glob    string
		want    string
		wantErr error
	}{
		{"highest complete version", filepath.Join(root, "*", "bin"), filepath.Join(root, "15", "bin"), nil},
		{"none", filepath.Join(t.TempDir(), "*", "bin"), "", errNoServer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			binGlob = tt.glob
			got, err := findBin()
			assert.ErrorIs(t, err, tt.wantErr)
			assert.Equal(t, tt.want, got)
			if tt.wantErr != nil {
				assert.Contains(t, err.Error(), "apt-get install postgresql", "got %q, want the package to install named", err)
			}
		})
	}
}

// recordingTB stands in for a test in giveUp: Skip and Fatal record and end
// the goroutine, as testing's do.
type recordingTB struct {
	testing.TB
	skipped, failed bool
}

func (r *recordingTB) Helper()             {}
func (r *recordingTB) Skip(...any)         { r.skipped = true; runtime.Goexit() }
func (r *recordingTB) Fatal(...any)        { r.failed = true; runtime.Goexit() }
func (r *recordingTB) Name() string        { return "recording" }
func (r *recordingTB) Cleanup(func())      {}
func (r *recordingTB) Logf(string, ...any) {}

// TestGiveUp: without PostgreSQL a test skips, except under CI=true; any
// other problem fails it.
func TestGiveUp(t *testing.T) {
	tests := []struct {
		name        string
		ci          string
		err         error
		wantSkipped bool
	}{
		{"no binaries skips", "", errNoServer, true},
		{"no binaries under CI fails", "true", errNoServer, false},
		{"CI other than true skips", "1", fmt.Errorf("wrapped: %w", errNoServer), true},
		{"a broken server fails", "", fmt.Errorf("pgtest: initdb: exit status 1"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			r := &recordingTB{}
			done := make(chan struct{})
			go func() {
				defer close(done)
				giveUp(r, tt.err)
			}()
			<-done
			assert.Equal(t, tt.wantSkipped, r.skipped, "skipped")
			assert.Equal(t, !tt.wantSkipped, r.failed, "failed")
		})
	}
}

func TestSchemaName(t *testing.T) {
	tests := []struct{ name, test string }{
		{"plain", "TestX"},
		{"subtest with odd characters", "TestX/case_1:a-b c"},
		{"long", "Test" + strings.Repeat("VeryLongName", 10)},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := schemaName(tt.test)
			assert.LessOrEqual(t, len(got), 63, "got %q, longer than an identifier may be", got)
			assert.Regexp(t, `^t[0-9]+_[0-9]+_[a-z0-9_]*[a-z0-9]$`, got)
			assert.False(t, seen[got], "got %q twice", got)
			seen[got] = true
		})
	}
}

func TestWithSearchPath(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"key=value", "host=/tmp/x user=postgres", "host=/tmp/x user=postgres search_path=s1"},
		{"URL", "postgres://u@localhost/db?sslmode=disable", "postgres://u@localhost/db?search_path=s1&sslmode=disable"},
		{"URL with a search_path", "postgresql:///db?search_path=other", "postgresql:///db?search_path=s1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := withSearchPath(tt.in, "s1")
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestTailKeepsTheLastLines(t *testing.T) {
	tests := []struct {
		name  string
		lines int
		want  string
	}{
		{"fewer than kept", 3, "0\n1\n2"},
		{"more than kept, in order", tailLines + 5, func() string {
			var s []string
			for i := 5; i < tailLines+5; i++ {
				s = append(s, strconv.Itoa(i))
			}
			return strings.Join(s, "\n")
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tl tail
			for i := range tt.lines {
				tl.add(strconv.Itoa(i))
			}
			assert.Equal(t, tt.want, tl.String())
		})
	}
}

// TestServerDiesWithTheTestBinary: a test binary killed in the middle
// leaves no server running, and the next start removes its directory.
func TestServerDiesWithTheTestBinary(t *testing.T) {
	if _, err := findBin(); err != nil {
		giveUp(t, err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=orphan")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	defer stdin.Close()
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var pid int
	var dir string
	_, err = fmt.Fscan(out, &pid, &dir)
	require.NoError(t, err, "reading the helper's postmaster pid and directory")
	require.True(t, proctest.Alive(pid), "postmaster %d is running", pid)

	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	proctest.RequireGone(t, pid) // the parent-death signal
	_, err = os.Stat(dir)
	require.NoError(t, err, "the killed helper could not remove its directory")
	removeStale()
	_, err = os.Stat(dir)
	assert.ErrorIs(t, err, os.ErrNotExist, "got %s kept, want it removed as stale", dir)
}
