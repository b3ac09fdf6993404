//go:build linux

package ptyterm_test

import (
	"context"
	"os"
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
