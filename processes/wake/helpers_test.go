//go:build linux

package wake_test

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/wake"
)

// freeAddr returns a 127.0.0.1 address with a port free now, below the
// kernel's ephemeral range: a port of that range, once closed, may be
// handed to the next listener on port 0 (an httptest server of the same
// test) or to an outgoing connection, and a wake of the unit would then
// fail with ErrAddrInUse.
func freeAddr(t testing.TB) string {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	const from = 10000
	if low < from+1000 { // too few below: any free port, as a last resort
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		return ln.Addr().String()
	}
	for range 100 {
		addr := "127.0.0.1:" + strconv.Itoa(from+rand.IntN(low-from))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		require.NoError(t, ln.Close())
		return addr
	}
	t.Fatal("no free port below the ephemeral range")
	return ""
}

// newManager returns a Manager shut down when the test ends, after the
// groups made later (cleanups run last first).
func newManager(t testing.TB, opts ...processes.Option) *processes.Manager {
	t.Helper()
	m := processes.NewManager(0, append([]processes.Option{
		processes.WithKillGrace(2 * time.Second),
		processes.WithWaitDelay(200 * time.Millisecond),
	}, opts...)...)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, m.Shutdown(ctx))
	})
	return m
}

// newGroup returns a group shut down when the test ends.
func newGroup(t testing.TB, m *processes.Manager, opts ...wake.Option) *wake.Group {
	t.Helper()
	g := wake.NewGroup(m, opts...)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, g.Shutdown(ctx))
	})
	return g
}

// helperCommand returns a Command running this test binary in a helper
// mode, counting its calls in starts (if not nil).
func helperCommand(mode string, starts *atomic.Int32, env ...string) func(context.Context) (*exec.Cmd, error) {
	return func(context.Context) (*exec.Cmd, error) {
		if starts != nil {
			starts.Add(1)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		// The race detector's runtime waits a second at exit by default.
		cmd.Env = append(os.Environ(), append(env, helperEnv+"="+mode, "GORACE=atexit_sleep_ms=0")...)
		return cmd, nil
	}
}

// httpSpec is a unit running the helper HTTP server on a free port.
func httpSpec(t testing.TB, id string, mode wake.Mode, starts *atomic.Int32) wake.Spec {
	t.Helper()
	addr := freeAddr(t)
	return wake.Spec{
		ID:       id,
		Command:  helperCommand("http", starts, "WAKE_ADDR="+addr),
		Upstream: addr,
		Mode:     mode,
	}
}

// shCommand runs script with sh, which is not a shell reading rc files.
func shCommand(script string, starts *atomic.Int32) func(context.Context) (*exec.Cmd, error) {
	return func(context.Context) (*exec.Cmd, error) {
		if starts != nil {
			starts.Add(1)
		}
		return exec.Command("sh", "-c", script), nil
	}
}

// neverReady is a probe that never passes, whatever listens where.
var neverReady = wake.FuncProbe(func(context.Context, *processes.Session) error { return errors.New("not ready") })

// client is an HTTP client that fails a test rather than hang.
var client = &http.Client{Timeout: 20 * time.Second}

// get returns the status and body of a GET of url with the given headers
// (name, value pairs).
func get(t testing.TB, url string, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// pidOf parses "hello from <pid>".
func pidOf(t testing.TB, body string) int {
	t.Helper()
	s, ok := strings.CutPrefix(body, "hello from ")
	require.True(t, ok, "body %q", body)
	pid, err := strconv.Atoi(s)
	require.NoError(t, err)
	return pid
}

// kinds returns the kinds of events.
func kinds(evs []wake.Event) []wake.EventKind {
	out := make([]wake.EventKind, len(evs))
	for i, e := range evs {
		out[i] = e.Kind
	}
	return out
}

// threadStates returns the state letter of every thread of pid.
func threadStates(pid int) []string {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		b, err := os.ReadFile(dir + "/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(b), ')')
		out = append(out, string(b[i+2]))
	}
	return out
}

// cgroupOf returns the cgroup2 path of pid, relative to the mount.
func cgroupOf(t testing.TB, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p
		}
	}
	t.Fatalf("no cgroup2 line for pid %d in %q", pid, b)
	return ""
}

// cgroupMount returns where cgroup2 is mounted, from /proc/self/mountinfo.
func cgroupMount(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		for i, x := range f {
			if x == "-" && i+1 < len(f) && f[i+1] == "cgroup2" {
				return f[4]
			}
		}
	}
	t.Fatal("no cgroup2 mount")
	return ""
}

// recv returns the first value on ch, failing after 20 seconds.
func recv[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatal("nothing received within 20s")
		panic("unreachable")
	}
}

// mustCmd makes a command with a unit's Command function.
func mustCmd(t testing.TB, f func(context.Context) (*exec.Cmd, error)) *exec.Cmd {
	t.Helper()
	cmd, err := f(context.Background())
	require.NoError(t, err)
	return cmd
}
