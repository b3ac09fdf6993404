//go:build linux

package ptyterm_test

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/ptyterm"
)

// output returns everything the terminal printed so far.
func output(t *ptyterm.Terminal) string {
	chunks, _, _ := t.Session().OutputSince(0)
	var b strings.Builder
	for _, c := range chunks {
		b.Write(c.Data)
	}
	return b.String()
}

// waitFor waits until the terminal printed want; a real program acts, so
// this polls with a deadline.
func waitFor(tb testing.TB, t *ptyterm.Terminal, want string) {
	tb.Helper()
	require.Eventually(tb, func() bool { return strings.Contains(output(t), want) },
		10*time.Second, time.Millisecond, "terminal never printed %q; got %q", want, output(t))
}

func recv[T any](tb testing.TB, ch <-chan T) T {
	tb.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		tb.Fatal("nothing received within 10s")
		panic("unreachable")
	}
}

// alive reports whether pid is alive or a zombie of this process; a zombie
// of another parent (init) is not ours to reap.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if f[0] == "Z" {
		ppid, _ := strconv.Atoi(f[1])
		return ppid == os.Getpid()
	}
	return true
}

func requireGone(tb testing.TB, pids ...int) {
	tb.Helper()
	require.Eventually(tb, func() bool {
		for _, pid := range pids {
			if alive(pid) {
				return false
			}
		}
		return true
	}, 10*time.Second, 5*time.Millisecond, "processes %v still alive or unreaped", pids)
}

// shutdown leaves no process of m behind the test.
func shutdown(tb testing.TB, m *processes.Manager) {
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(tb, m.Shutdown(ctx))
	})
}

// shellEnv is a predictable environment for an interactive shell.
func shellEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "PS1=$ ", "TERM=dumb", "HOME=/tmp", "ENV="}
}
