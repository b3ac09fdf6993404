// Package proctest holds the helpers that sessionkit's tests use to check on
// real processes: whether one is alive or an unreaped zombie, waiting until a
// set of them is gone, the OS thread count, and receiving from a channel with
// a deadline. It is for tests only.
package proctest

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Proc is what /proc/<pid>/stat says about one process.
type Proc struct {
	Pid, PPid, Pgrp int
	State           string // "R", "S", "Z" (zombie), ...
}

// Stat reads /proc/<pid>/stat; ok is false once pid is gone.
func Stat(pid int) (p Proc, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return p, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return p, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 {
		return p, false
	}
	p.Pid, p.State = pid, f[0]
	p.PPid, _ = strconv.Atoi(f[1])
	p.Pgrp, _ = strconv.Atoi(f[2])
	return p, true
}

// Table returns every process in /proc.
func Table() []Proc {
	ents, _ := os.ReadDir("/proc")
	out := make([]Proc, 0, len(ents))
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			if p, ok := Stat(pid); ok {
				out = append(out, p)
			}
		}
	}
	return out
}

// Children returns the children of this process, alive or zombie.
func Children() []Proc {
	var out []Proc
	self := os.Getpid()
	for _, p := range Table() {
		if p.PPid == self {
			out = append(out, p)
		}
	}
	return out
}

// Alive reports whether pid is a live process, or a zombie that this process
// failed to reap. A zombie of another parent (init, after a test's children
// died) is not this program's to reap: in some sandboxes init never reaps, so
// it counts as gone.
func Alive(pid int) bool {
	p, ok := Stat(pid)
	if !ok {
		return false
	}
	return p.State != "Z" || p.PPid == os.Getpid()
}

// RequireGone waits until every pid is dead and reaped, failing tb after ten
// seconds. Real processes act here, so it polls with a deadline.
func RequireGone(tb testing.TB, pids ...int) {
	tb.Helper()
	require.Eventually(tb, func() bool {
		for _, pid := range pids {
			if Alive(pid) {
				return false
			}
		}
		return true
	}, 10*time.Second, 5*time.Millisecond, "processes %v still alive or unreaped", pids)
}

// Threads returns the OS thread count of this process.
func Threads(tb testing.TB) int {
	tb.Helper()
	f, err := os.Open("/proc/self/status")
	require.NoError(tb, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			require.NoError(tb, err)
			return n
		}
	}
	tb.Fatal("proctest: no Threads line in /proc/self/status")
	return 0
}

// Recv returns the first value on ch, failing tb after ten seconds instead
// of hanging.
func Recv[T any](tb testing.TB, ch <-chan T) T {
	tb.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		tb.Fatal("proctest: nothing received within 10s")
		panic("unreachable")
	}
}

// Missing ends tb for want of a program a test runs, saying msg (which
// should say how to install it): it skips tb, or fails it under CI=true,
// where .ci/run installs every program the tests need, so that CI never
// passes on skipped tests.
func Missing(tb testing.TB, msg string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

// QuietRaceExit spares the children of a test binary built with -race the
// race detector's wait at exit: by default its runtime sleeps one second
// (GORACE's atexit_sleep_ms, 1000) before a process with goroutines left
// exits, which a test that waits for a helper child pays every time. It
// adds atexit_sleep_ms=0 to GORACE in this process's environment, keeping
// any other GORACE option, so that every child started afterwards inherits
// it; this process's own detector read GORACE at start and keeps its
// settings. Races in a child are still reported. Call it first in
// TestMain.
func QuietRaceExit() {
	v := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	if err := os.Setenv("GORACE", v); err != nil {
		panic("proctest: " + err.Error())
	}
}
