//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
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
// size, as its stdin, stdout and stderr.
func startPTY(t *testing.T, bin string, rows, cols uint16, args ...string) *ptyRun {
	t.Helper()
	return startPTYCmd(t, command(bin, args...), rows, cols)
}

// startPTYCmd starts cmd on a new pseudo-terminal of the given size, as
// whichever of its stdin, stdout and stderr are not set. The cleanup kills
// it if it is still running and waits for its reader.
func startPTYCmd(t *testing.T, cmd *exec.Cmd, rows, cols uint16) *ptyRun {
	t.Helper()
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

// runPiped runs the built program with input on a pipe as its stdin, as in
// "printf ... | cli ...", and returns its stdout, stderr and exit code. If
// cli has not exited after waitTimeout the test fails, and cli is stopped.
func runPiped(t *testing.T, bin, input string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := command(bin, args...)
	cmd.Stdin = strings.NewReader(input) // a pipe, closed after input
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		return out.String(), errOut.String(), exitCode(t, err)
	case <-time.After(waitTimeout):
	}
	_ = cmd.Process.Signal(syscall.SIGTERM) // cli stops its program and exits
	select {
	case <-exited:
	case <-time.After(waitTimeout):
		_ = cmd.Process.Kill()
		<-exited
	}
	t.Fatalf("cli did not exit at the end of its input; stdout %q, stderr %q", &out, &errOut)
	return "", "", -1
}

// The end of piped input ends the program that reads it, as it does
// without cli: an interactive shell or interpreter would wait for more
// input on a terminal, so the program runs on pipes.
func TestProgramPipedInputEnds(t *testing.T) {
	t.Parallel()
	bin := build(t)
	tests := []struct {
		name  string
		argv  []string
		input string
	}{
		{name: "bash", argv: []string{"bash", "--norc"}, input: "echo pid=$$\necho hi\n"},
		{name: "python3", argv: []string{"python3"}, input: "import os\nprint('pid=%d' % os.getpid())\nprint('hi')\n"},
		{name: "sh", argv: []string{"sh"}, input: "echo pid=$$\necho hi\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := exec.LookPath(tt.argv[0]); err != nil {
				t.Skipf("%s is not installed", tt.argv[0])
			}
			stdout, stderr, code := runPiped(t, bin, tt.input, tt.argv...)
			assert.Equal(t, 0, code, "got exit %d, want 0; stdout %q, stderr %q", code, stdout, stderr)
			assert.Regexp(t, `^pid=\d+\nhi\n$`, stdout, "no echo, no prompt: only what the program printed")
			assert.Empty(t, stderr)
			assertGone(t, stdout)
		})
	}
}

// The built program with a pipe as stdin, and under a real terminal.
func TestProgram(t *testing.T) {
	t.Parallel()
	bin := build(t)

	t.Run("pipe stdin", func(t *testing.T) {
		t.Parallel()
		stdout, stderr, code := runPiped(t, bin, "echo pid=$$\necho hi-from-cli\necho oops >&2\nexit 3\n", "sh")
		assert.Equal(t, 3, code, "stdout %q, stderr %q", stdout, stderr)
		assert.Regexp(t, `^pid=\d+\nhi-from-cli\n$`, stdout)
		assert.Equal(t, "oops\n", stderr, "the program's stderr, apart")
		assertGone(t, stdout)
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
}

// The idle warning never writes into the program's screen. With cli's
// stderr on the terminal the program draws on, it goes to the title (saved
// first, restored before cli's last line) with the bell; with stderr
// elsewhere, it is a line there. Either way the idle close follows.
func TestProgramIdleWarning(t *testing.T) {
	t.Parallel()
	bin := build(t)
	const text = "cli: idle — closing in 1s unless you type"
	const closedLine = "[cli: session closed after 2s idle]"
	// A full-screen program: it switches to the alternate screen, then
	// waits for a line that never comes.
	args := []string{"-idle", "2s", "-warn", "1s", "sh", "-c", `printf '\033[?1049h'; echo pid=$$; read x`}

	t.Run("stderr on the program's terminal", func(t *testing.T) {
		t.Parallel()
		r := startPTY(t, bin, 24, 80, args...)
		r.waitForRe(t, pidRe)
		assert.Equal(t, 129, r.wait(t), "output %q", r.output()) // the idle close's SIGHUP
		<-r.read                                                 // all of the output is in
		out := r.output()

		warn := strings.Index(out, pushTitle+setTitle(text)+bell)
		restored := strings.LastIndex(out, popTitle)
		closed := strings.Index(out, closedLine)
		assert.True(t, warn >= 0 && restored > warn && closed > restored,
			"want the title saved and set with the bell, restored, then the close; got %q", out)
		screenText := strings.ReplaceAll(out, setTitle(text), "")
		assert.NotContains(t, screenText, "idle — closing", "the warning was written into the program's screen")
		assertGone(t, out)
	})

	t.Run("stderr elsewhere", func(t *testing.T) {
		t.Parallel()
		cmd := command(bin, args...)
		var stderr lockedBuffer
		cmd.Stderr = &stderr
		r := startPTYCmd(t, cmd, 24, 80)
		r.waitForRe(t, pidRe)
		assert.Equal(t, 129, r.wait(t), "output %q, stderr %q", r.output(), stderr.String())
		<-r.read
		out := r.output()
		assert.NotContains(t, out, "idle — closing", "the warning was written into the program's screen")
		assert.NotContains(t, out, pushTitle, "the title was touched")
		warn := strings.Index(stderr.String(), "\r\n["+text+"]\r\n")
		closed := strings.Index(stderr.String(), closedLine)
		assert.True(t, warn >= 0 && closed > warn, "want the warning, then the close, on stderr; got %q", stderr.String())
		assertGone(t, out)
	})
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
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

// In pipe mode a signal to cli terminates the program: SIGTERM to its
// process group.
func TestProgramSignalsPipeMode(t *testing.T) {
	t.Parallel()
	bin := build(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			cmd := command(bin, "sh", "-c", "echo pid=$$; exec sleep 1000")
			stdin, err := cmd.StdinPipe() // held open: the input does not end
			require.NoError(t, err)
			t.Cleanup(func() { stdin.Close() })
			stdoutPipe, err := cmd.StdoutPipe()
			require.NoError(t, err)
			var stderr lockedBuffer
			cmd.Stderr = &stderr
			require.NoError(t, cmd.Start())
			t.Cleanup(func() { _ = cmd.Process.Kill() }) // fails once it exited and was reaped

			// Read in the background, so that a hung cli fails the test
			// instead of hanging it.
			type result struct {
				out string
				err error
			}
			lines := make(chan string, 1)
			exited := make(chan result, 1)
			go func() {
				br := bufio.NewReader(stdoutPipe)
				first, _ := br.ReadString('\n')
				lines <- first
				rest, _ := io.ReadAll(br)
				exited <- result{first + string(rest), cmd.Wait()}
			}()
			var first string
			select {
			case first = <-lines:
			case <-time.After(waitTimeout):
				t.Fatal("the program never printed its pid")
			}
			require.Regexp(t, pidRe, first)

			require.NoError(t, cmd.Process.Signal(sig))
			select {
			case res := <-exited:
				assert.Equal(t, 143, exitCode(t, res.err), "the program died of SIGTERM; stdout %q, stderr %q", res.out, stderr.String())
				assert.NotContains(t, stderr.String(), "[cli: session closed after")
				assertGone(t, res.out)
			case <-time.After(waitTimeout):
				t.Fatalf("cli did not exit after %v", sig)
			}
		})
	}
}

// run in this process, so that goleak sees every goroutine but the stdin
// reader end with it. stdin is a pipe: pipe mode.
func TestRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		input      string // written to stdin, then closed; "" leaves stdin open and empty
		wantCode   int
		wantStdout string // exactly
		wantStderr []string
		notStderr  string
	}{
		{name: "exit code", args: []string{"sh"}, input: "echo a-b\nexit 4\n", wantCode: 4, wantStdout: "a-b\n"},
		{name: "end of input ends bash", args: []string{"bash", "--norc"}, input: "echo hi\n", wantStdout: "hi\n"},
		{name: "end of input ends python3", args: []string{"python3"}, input: "print('hi')\n", wantStdout: "hi\n"},
		{name: "end of input after a partial line", args: []string{"sh", "-c", "cat; exit 7"}, input: "partial", wantCode: 7, wantStdout: "partial"},
		{name: "stderr apart", args: []string{"sh", "-c", "echo out; echo err >&2"}, input: "ignored", wantStdout: "out\n", wantStderr: []string{"err\n"}},
		{
			// Nobody types: no warning. The eviction's SIGTERM ends sh: 143.
			name:       "idle close",
			args:       []string{"-idle", "2s", "-warn", "1s", "sh"},
			wantCode:   143,
			wantStderr: []string{"\n[cli: session closed after 2s idle]\n"},
			notStderr:  "idle — closing",
		},
		{
			// The default -warn, 30s, is not shorter than -idle 2s: it
			// becomes 1s, rather than fail as an explicit -warn 30s does.
			name:       "idle shorter than the default warning",
			args:       []string{"-idle", "2s", "sh"},
			wantCode:   143,
			wantStderr: []string{"\n[cli: session closed after 2s idle]\n"},
		},
		{name: "explicit warn longer than idle", args: []string{"-idle", "2s", "-warn", "30s", "sh"}, wantCode: 2, wantStderr: []string{"-warn 30s must be shorter than -idle 2s"}},
		{name: "program not found", args: []string{"/nonexistent/program"}, wantCode: 127, wantStderr: []string{"cli: ", "/nonexistent/program"}},
		{name: "help", args: []string{"-h"}, wantStderr: []string{"usage: cli"}},
		{name: "bad flag", args: []string{"-bogus"}, wantCode: 2, wantStderr: []string{"usage: cli"}},
		{name: "warn not shorter than idle", args: []string{"-idle", "1m", "-warn", "1m"}, wantCode: 2, wantStderr: []string{"must be shorter than -idle"}},
		{name: "negative warn", args: []string{"-warn", "-1s"}, wantCode: 2, wantStderr: []string{"is negative"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if prog := tt.args[0]; prog == "python3" {
				if _, err := exec.LookPath(prog); err != nil {
					t.Skipf("%s is not installed", prog)
				}
			}
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
			// Bounded, so that a program that does not end fails the test:
			// run then returns 1 and stops it.
			ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
			defer cancel()
			code := run(ctx, tt.args, stdin, &stdout, &stderr)
			assert.Equal(t, tt.wantCode, code, "got exit %d, want %d; stdout %q, stderr %q", code, tt.wantCode, &stdout, &stderr)
			assert.Equal(t, tt.wantStdout, stdout.String())
			for _, want := range tt.wantStderr {
				assert.Contains(t, stderr.String(), want)
			}
			if tt.notStderr != "" {
				assert.NotContains(t, stderr.String(), tt.notStderr)
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

// Stopped from outside (kill -TSTP) under a shell with job control, cli
// gives the user's terminal its mode back while it is stopped, as vim and
// less do, so that the shell works (here, reads a line); continued with fg,
// it is in raw mode again and the program is still attached.
func TestProgramStopAndContinue(t *testing.T) {
	t.Parallel()
	bin := build(t)
	// set -m: cli runs as a job of its own, which the shell can continue.
	cmd := command("sh", "-c", `set -m; "$0" sh; echo "stopped=$?"; read x; echo "read=$x"; fg; echo "exit=$?"`, bin)
	r := startPTYCmd(t, cmd, 24, 80)
	r.waitFor(t, prompt)
	const cooked = syscall.ICANON | syscall.ECHO | syscall.ISIG
	require.Zero(t, r.lflag(t)&cooked, "terminal not in raw mode while attached")
	cli := childOf(t, r.cmd.Process.Pid)

	require.NoError(t, syscall.Kill(cli, syscall.SIGTSTP))
	r.waitForRe(t, regexp.MustCompile(`stopped=\d+`)) // 128 + the stop signal
	assert.Equal(t, uint32(cooked), r.lflag(t)&cooked, "the terminal is left in raw mode while cli is stopped")
	r.typeKeys(t, "typed in the shell\n")
	r.waitFor(t, "read=typed in the shell")

	// fg continues cli: raw mode again, the same program.
	require.Eventually(t, func() bool { return r.lflag(t)&cooked == 0 }, waitTimeout, 10*time.Millisecond,
		"not in raw mode again once continued; output %q", r.output())
	r.typeKeys(t, "echo pid=$$\r")
	r.waitForRe(t, pidRe)
	r.typeKeys(t, "exit 5\r")
	r.waitFor(t, "exit=5")
	assert.Equal(t, 0, r.wait(t), "output %q", r.output())
	assert.Equal(t, uint32(cooked), r.lflag(t)&cooked, "terminal mode not restored at exit")
	assertGone(t, r.output())
}

// childOf returns the pid of the only child of process pid.
func childOf(t *testing.T, pid int) int {
	t.Helper()
	var child int
	require.Eventually(t, func() bool {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(pid) + "/children")
		if err != nil {
			return false
		}
		f := strings.Fields(string(b))
		if len(f) != 1 {
			return false
		}
		child, err = strconv.Atoi(f[0])
		return err == nil
	}, waitTimeout, 10*time.Millisecond, "process %d has no child", pid)
	return child
}

// A signal whose default is the Go runtime's exit with a stack dump
// (kill -QUIT) leaves the user's terminal in its own mode, not raw, and
// the program dies of its terminal's hangup.
func TestProgramCrashRestoresTheTerminal(t *testing.T) {
	t.Parallel()
	bin := build(t)
	for _, sig := range []syscall.Signal{syscall.SIGQUIT, syscall.SIGABRT} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			r := startPTY(t, bin, 24, 80, "sh")
			r.waitFor(t, prompt)
			const cooked = syscall.ICANON | syscall.ECHO | syscall.ISIG
			require.Zero(t, r.lflag(t)&cooked, "terminal not in raw mode while attached")
			r.typeKeys(t, "echo pid=$$\r")
			r.waitForRe(t, pidRe)
			shell, err := strconv.Atoi(pidRe.FindStringSubmatch(r.output())[1])
			require.NoError(t, err)

			require.NoError(t, r.cmd.Process.Signal(sig))
			assert.Equal(t, 2, r.wait(t), "the Go runtime's exit; output %q", r.output())
			assert.Equal(t, uint32(cooked), r.lflag(t)&cooked, "the terminal is left in raw mode")
			<-r.read
			assert.Contains(t, r.output(), "goroutine ", "the stack dump")
			require.Eventually(t, func() bool { return exited(shell) }, waitTimeout, 10*time.Millisecond,
				"the shell %d outlived cli", shell)
		})
	}
}

// exited reports whether process pid is gone or a zombie.
func exited(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || len(b) < i+3 || b[i+2] == 'Z'
}
