//go:build linux

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/creack/pty"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// prompt is the prompt of the shells the tests run, set through PS1, so
// that a test knows when cli is attached and the shell reads input.
const prompt = "cli-test$ "

// waitTimeout bounds every wait for a real process.
const waitTimeout = 15 * time.Second

// pidRe finds the shell's pid printed by "echo pid=$$" (the echoed command
// line itself does not match).
var pidRe = regexp.MustCompile(`pid=(\d+)`)

// build compiles this program into a temporary directory.
func build(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool in PATH")
	}
	bin := filepath.Join(t.TempDir(), "cli")
	out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// command returns cmd for the built program, with the test prompt.
func command(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "PS1="+prompt)
	return cmd
}

// exitCode returns the exit code in err, the result of cmd.Wait.
func exitCode(t *testing.T, err error) int {
	t.Helper()
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		return ee.ExitCode()
	}
	require.NoError(t, err)
	return 0
}

// assertGone checks that the shell whose pid out shows is gone: cli
// reaped it before it exited.
func assertGone(t *testing.T, out string) {
	t.Helper()
	m := pidRe.FindStringSubmatch(out)
	if !assert.NotNil(t, m, "no pid=N in output %q", out) {
		return
	}
	pid, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	assert.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "shell %d outlived cli", pid)
}

// ptyRun is the built program running on a pseudo-terminal, as on a
// user's terminal, with everything it prints collected.
type ptyRun struct {
	cmd    *exec.Cmd
	master *os.File
	exited chan error    // receives cmd.Wait's result once
	read   chan struct{} // closed when the reader is done

	mu  sync.Mutex
	out bytes.Buffer
}

// startPTY starts the built program on a new pseudo-terminal of the given
// size. The cleanup kills it if it is still running and waits for its
// reader.
func startPTY(t *testing.T, bin string, rows, cols uint16, args ...string) *ptyRun {
	t.Helper()
	cmd := command(bin, args...)
	master, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: rows, Cols: cols})
	require.NoError(t, err)
	r := &ptyRun{cmd: cmd, master: master, exited: make(chan error, 1), read: make(chan struct{})}
	go func() {
		defer close(r.read)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			r.mu.Lock()
			r.out.Write(buf[:n])
			r.mu.Unlock()
			if err != nil {
				return // EIO once cli and its children closed the terminal
			}
		}
	}()
	go func() { r.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // fails once it exited and was reaped
		select {
		case <-r.read:
		case <-time.After(waitTimeout):
			t.Error("pty reader never ended")
		}
		master.Close()
	})
	return r
}

// output returns everything printed so far.
func (r *ptyRun) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String()
}

// waitFor waits until the program printed want.
func (r *ptyRun) waitFor(t *testing.T, want string) {
	t.Helper()
	require.Eventually(t, func() bool { return strings.Contains(r.output(), want) },
		waitTimeout, 10*time.Millisecond, "never printed %q; got %q", want, r.output())
}

// waitForRe waits until the program printed a match of re.
func (r *ptyRun) waitForRe(t *testing.T, re *regexp.Regexp) {
	t.Helper()
	require.Eventually(t, func() bool { return re.MatchString(r.output()) },
		waitTimeout, 10*time.Millisecond, "never printed %v; got %q", re, r.output())
}

// typeKeys writes s as keystrokes.
func (r *ptyRun) typeKeys(t *testing.T, s string) {
	t.Helper()
	_, err := r.master.WriteString(s)
	require.NoError(t, err)
}

// lflag returns the local modes of the terminal (ICANON, ECHO, ...), which
// the master side reads as well.
func (r *ptyRun) lflag(t *testing.T) uint32 {
	t.Helper()
	var tio syscall.Termios
	require.NoError(t, ioctl(r.master, syscall.TCGETS, unsafe.Pointer(&tio)))
	return tio.Lflag
}

// wait waits for the program to exit and returns its exit code.
func (r *ptyRun) wait(t *testing.T) int {
	t.Helper()
	select {
	case err := <-r.exited:
		return exitCode(t, err)
	case <-time.After(waitTimeout):
		t.Fatalf("cli did not exit; output %q", r.output())
		return -1
	}
}

// The built program with a pipe as stdin, under a real terminal, and
// closing itself when idle.
func TestProgram(t *testing.T) {
	t.Parallel()
	bin := build(t)

	t.Run("pipe stdin", func(t *testing.T) {
		t.Parallel()
		var stdout, stderr bytes.Buffer
		cmd := command(bin, "sh")
		// The quotes make the echoed command line differ from what it
		// prints.
		cmd.Stdin = strings.NewReader("echo pid=$$\necho \"hi-from\"-cli\nexit 3\n")
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		assert.Equal(t, 3, exitCode(t, err), "stdout %q, stderr %q", &stdout, &stderr)
		assert.Contains(t, stdout.String(), "hi-from-cli")
		assert.Empty(t, stderr.String())
		assertGone(t, stdout.String())
	})

	t.Run("terminal size and resize", func(t *testing.T) {
		t.Parallel()
		r := startPTY(t, bin, 33, 101, "sh")
		r.waitFor(t, prompt) // cli is attached, in raw mode
		r.typeKeys(t, "echo pid=$$\r")
		r.waitForRe(t, pidRe)
		r.typeKeys(t, "stty size\r")
		r.waitFor(t, "33 101")

		require.NoError(t, pty.Setsize(r.master, &pty.Winsize{Rows: 41, Cols: 123}))
		// cli resizes on SIGWINCH, which may come after the next
		// keystrokes: ask again until the new size shows.
		require.Eventually(t, func() bool {
			if strings.Contains(r.output(), "41 123") {
				return true
			}
			_, _ = r.master.WriteString("stty size\r")
			return false
		}, waitTimeout, 200*time.Millisecond, "new size never shown; got %q", r.output())

		r.typeKeys(t, "exit 5\r")
		assert.Equal(t, 5, r.wait(t), "output %q", r.output())
		assertGone(t, r.output())
	})

	t.Run("idle close", func(t *testing.T) {
		t.Parallel()
		r := startPTY(t, bin, 24, 80, "-idle", "2s", "-warn", "1s", "sh")
		r.waitFor(t, prompt)
		r.typeKeys(t, "echo pid=$$\r")
		r.waitFor(t, "[cli: idle — closing in 1s unless you type]")
		// 129: the shell died of the idle close's SIGHUP.
		assert.Equal(t, 129, r.wait(t), "output %q", r.output())
		<-r.read // all of the output is in
		out := r.output()
		warn := strings.Index(out, "[cli: idle — closing in 1s unless you type]")
		closed := strings.Index(out, "[cli: session closed after 2s idle]")
		assert.True(t, warn >= 0 && closed > warn, "want the warning, then the close; got %q", out)
		assertGone(t, out)
	})
}

// A signal to cli closes the terminal, passes the program's exit on and
// restores the terminal's mode.
func TestProgramSignals(t *testing.T) {
	t.Parallel()
	bin := build(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			r := startPTY(t, bin, 24, 80, "sh")
			r.waitFor(t, prompt)
			const cooked = syscall.ICANON | syscall.ECHO | syscall.ISIG
			require.Zero(t, r.lflag(t)&cooked, "terminal not in raw mode while attached")
			r.typeKeys(t, "echo pid=$$\r")
			r.waitForRe(t, pidRe)

			require.NoError(t, r.cmd.Process.Signal(sig))
			// 129: the shell died of the SIGHUP of Terminal.Close.
			assert.Equal(t, 129, r.wait(t), "output %q", r.output())
			assert.Equal(t, uint32(cooked), r.lflag(t)&cooked, "terminal mode not restored")
			<-r.read
			assert.NotContains(t, r.output(), "[cli: session closed after")
			assertGone(t, r.output())
		})
	}
}

// run in this process, so that goleak sees every goroutine but the stdin
// reader end with it.
func TestRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		input      string // written to stdin, then closed; "" leaves stdin open and empty
		wantCode   int
		wantStdout string
		wantStderr []string
	}{
		{name: "exit code", args: []string{"sh"}, input: "echo \"a\"-b\nexit 4\n", wantCode: 4, wantStdout: "a-b"},
		// cat ends only if the end of input arrives as Ctrl-D, after a
		// second one for the partial line. (cat is not the session leader:
		// it closes its stdio before it exits, and ptyterm then closes the
		// terminal under it, which kills a session leader with SIGHUP.)
		{name: "end of input is Ctrl-D", args: []string{"sh", "-c", "cat; exit 7"}, input: "partial", wantCode: 7, wantStdout: "partial"},
		{
			name:     "idle close",
			args:     []string{"-idle", "2s", "-warn", "1s", "sh"},
			wantCode: 129,
			wantStderr: []string{
				"\r\n[cli: idle — closing in 1s unless you type]\r\n",
				"\r\n[cli: session closed after 2s idle]\r\n",
			},
		},
		{name: "program not found", args: []string{"/nonexistent/program"}, wantCode: 127, wantStderr: []string{"cli: ", "/nonexistent/program"}},
		{name: "help", args: []string{"-h"}, wantStderr: []string{"usage: cli"}},
		{name: "bad flag", args: []string{"-bogus"}, wantCode: 2, wantStderr: []string{"usage: cli"}},
		{name: "warn not shorter than idle", args: []string{"-idle", "1m", "-warn", "1m"}, wantCode: 2, wantStderr: []string{"must be shorter than -idle"}},
		{name: "negative warn", args: []string{"-warn", "-1s"}, wantCode: 2, wantStderr: []string{"is negative"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stdin, w, err := os.Pipe()
			require.NoError(t, err)
			t.Cleanup(func() { stdin.Close() })
			t.Cleanup(func() { w.Close() }) // first: the reader sees the end
			if tt.input != "" {
				_, err := w.WriteString(tt.input)
				require.NoError(t, err)
				require.NoError(t, w.Close())
			}
			var stdout, stderr bytes.Buffer
			code := run(tt.args, stdin, &stdout, &stderr)
			assert.Equal(t, tt.wantCode, code, "got exit %d, want %d; stdout %q, stderr %q", code, tt.wantCode, &stdout, &stderr)
			assert.Contains(t, stdout.String(), tt.wantStdout)
			for _, want := range tt.wantStderr {
				assert.Contains(t, stderr.String(), want)
			}
		})
	}
}

func TestShortDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{5 * time.Minute, "5m"},
		{time.Hour, "1h"},
		{90 * time.Second, "1m30s"},
		{30 * time.Second, "30s"},
		{time.Hour + time.Second, "1h0m1s"},
		{1500 * time.Millisecond, "1.5s"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.want, shortDuration(tt.d))
		})
	}
}

func TestSweepInterval(t *testing.T) {
	tests := []struct{ idle, want time.Duration }{
		{2 * time.Second, time.Second},
		{20 * time.Second, 2 * time.Second},
		{5 * time.Minute, 5 * time.Second},
		{0, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.idle.String(), func(t *testing.T) {
			assert.Equal(t, tt.want, sweepInterval(tt.idle), "got %v, want %v", sweepInterval(tt.idle), tt.want)
		})
	}
}
