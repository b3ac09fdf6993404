//go:build linux

package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

// zeros is an endless body of zero bytes that costs no memory.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// postStdin sends n zero bytes to sid's stdin with ctx, with a
// Content-Length unless chunked, and returns the answer's status and body.
func postStdin(ctx context.Context, e *env, sid string, n int64, chunked bool) (int, string, error) {
	var body io.Reader = io.LimitReader(zeros{}, n)
	req, err := http.NewRequestWithContext(ctx, "POST", e.base+"/"+sid+"/stdin", body)
	if err != nil {
		return 0, "", err
	}
	if !chunked {
		req.ContentLength = n
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// pipeFill returns how many bytes wait in the pipe that is pid's stdin.
func pipeFill(t *testing.T, pid int) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/fd/0", pid))
	require.NoError(t, err)
	defer f.Close()
	var n int32
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TIOCINQ, uintptr(unsafe.Pointer(&n)))
	require.Zero(t, errno, "FIONREAD")
	return int(n)
}

// waitPipeFull waits until pid's stdin pipe holds want bytes: a writer is
// blocked on it.
func waitPipeFull(t *testing.T, pid, want int) {
	t.Helper()
	require.Eventually(t, func() bool { return pipeFill(t, pid) >= want }, 10*time.Second, time.Millisecond,
		"the pipe never filled")
}

// pipeCap is the capacity of a new pipe on Linux.
const pipeCap = 64 << 10

// Stdin requests to a child that never reads hold a bounded piece of
// their bodies each, not their whole bodies, and past the limit of
// writers per session are refused at once.
func TestStdinPendingWritersBounded(t *testing.T) {
	const writers, extra = 4, 8
	const bodyBytes = 1 << 20
	e := procEnv(t, nil, httpapi.Options{MaxStdinWriters: writers, StdinTimeout: -1})
	sid := start(t, e, "sleep", "1000")
	arrived, _ := e.watch()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	type result struct {
		status int
		body   string
		err    error
	}
	results := make(chan result, writers+extra)
	for range writers + extra {
		go func() {
			status, body, err := postStdin(ctx, e, sid, bodyBytes, false)
			results <- result{status, body, err}
		}()
	}
	for range writers + extra {
		proctest.Recv(t, arrived)
	}
	for range extra {
		r := proctest.Recv(t, results)
		require.NoError(t, r.err)
		assert.Equal(t, http.StatusTooManyRequests, r.status, "body %s", r.body)
		assert.Contains(t, r.body, `"code":"too_many_writers"`)
	}
	s, _ := e.m.Get(sid)
	waitPipeFull(t, s.Pid(), pipeCap)

	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap grew by %d KiB with %d pending 1 MiB bodies", grown>>10, writers)
	assert.Less(t, grown, int64(writers*bodyBytes/4), "the pending bodies are buffered")

	select {
	case r := <-results:
		t.Fatalf("a write to a child that never reads ended: %+v", r)
	default:
	}
	// The pending requests end with the session.
	e.m.Forget(sid)
	for range writers {
		r := proctest.Recv(t, results)
		if r.err == nil {
			assert.NotEqual(t, http.StatusNoContent, r.status)
		}
	}
}

// A client that leaves frees its handler, whether it waits for the process
// to take its last piece or for its turn behind another request; the
// goroutines of the requests are gone after.
func TestStdinClientLeaves(t *testing.T) {
	e := procEnv(t, nil, httpapi.Options{StdinTimeout: -1})
	sid := start(t, e, "sleep", "1000")
	s, _ := e.m.Get(sid)
	arrived, finished := e.watch()
	goroutines := runtime.NumGoroutine()

	// A writes two pieces that fill the pipe, then blocks on its last,
	// short one, its body read to the end.
	ctxA, cancelA := context.WithCancel(t.Context())
	doneA := make(chan error, 1)
	go func() {
		_, _, err := postStdin(ctxA, e, sid, pipeCap+16<<10, false)
		doneA <- err
	}()
	proctest.Recv(t, arrived)
	waitPipeFull(t, s.Pid(), pipeCap)

	// B waits for its turn behind A.
	ctxB, cancelB := context.WithCancel(t.Context())
	doneB := make(chan error, 1)
	go func() {
		_, _, err := postStdin(ctxB, e, sid, 10, false)
		doneB <- err
	}()
	proctest.Recv(t, arrived)

	cancelB()
	assert.ErrorIs(t, proctest.Recv(t, doneB), context.Canceled)
	proctest.Recv(t, finished)
	cancelA()
	assert.ErrorIs(t, proctest.Recv(t, doneA), context.Canceled)
	proctest.Recv(t, finished)

	e.srv.CloseClientConnections()
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= goroutines }, 10*time.Second, time.Millisecond,
		"goroutines: got %d, want at most %d", runtime.NumGoroutine(), goroutines)
	assert.Equal(t, pipeCap, pipeFill(t, s.Pid()), "bytes in the pipe")
}

// A process that takes no input for StdinTimeout ends the request with
// 504, saying how much of the body it took.
func TestStdinStalls(t *testing.T) {
	e := procEnv(t, nil, httpapi.Options{StdinTimeout: 50 * time.Millisecond})
	sid := start(t, e, "sleep", "1000")
	status, body, err := postStdin(t.Context(), e, sid, 1<<20, false)
	require.NoError(t, err)
	assert.Equal(t, http.StatusGatewayTimeout, status)
	assert.Contains(t, body, `"code":"timeout"`)
	assert.Contains(t, body, fmt.Sprintf("the process took no input for 50ms; %d bytes of the body were written to stdin", pipeCap))
}

// An oversize body is refused before anything is written when its length
// is known, and stopped at the limit when it is chunked, saying how much
// was written; the process sees exactly that.
func TestStdinLimit(t *testing.T) {
	const limit = 64 << 10
	tests := []struct {
		name     string
		n        int64
		chunked  bool
		want     int // status
		wantMsg  string
		wantSeen int // bytes cat echoes
	}{
		{"at the limit", limit, false, 204, "", limit},
		{"at the limit, chunked", limit, true, 204, "", limit},
		{"past the limit", limit + 1, false, 413, "request body larger than 65536 bytes; nothing was written", 0},
		{"past the limit, chunked", 100 << 10, true, 413, "request body larger than 65536 bytes; 65536 bytes of the body were written to stdin", limit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := procEnv(t, nil, httpapi.Options{MaxStdinBytes: limit})
			sid := start(t, e, "wc", "-c")
			status, body, err := postStdin(t.Context(), e, sid, tt.n, tt.chunked)
			require.NoError(t, err)
			assert.Equal(t, tt.want, status, "body %s", body)
			if tt.wantMsg != "" {
				assert.Contains(t, body, tt.wantMsg)
				assert.Contains(t, body, `"code":"too_large"`)
			}
			require.NoError(t, e.c.CloseStdin(t.Context(), sid))
			exit, out := follow(t, e, sid)
			assert.Zero(t, exit)
			assert.Equal(t, fmt.Sprint(tt.wantSeen), strings.TrimSpace(out["stdout"]), "bytes the process read")
		})
	}
}

// Two bodies sent at once reach the process whole, one after the other,
// never interleaved, though each is written in pieces.
func TestStdinBodiesDoNotInterleave(t *testing.T) {
	e := procEnv(t, nil, httpapi.Options{})
	sid := start(t, e, "cat")
	const n = 200 << 10
	bodies := []string{strings.Repeat("a", n), strings.Repeat("b", n), strings.Repeat("c", n)}
	errs := make(chan error, len(bodies))
	for _, b := range bodies {
		go func() { errs <- e.c.Stdin(t.Context(), sid, []byte(b)) }()
	}
	for range bodies {
		require.NoError(t, proctest.Recv(t, errs))
	}
	require.NoError(t, e.c.CloseStdin(t.Context(), sid))
	_, out := follow(t, e, sid)
	got := out["stdout"]
	require.Len(t, got, len(bodies)*n)
	for i := 0; i < len(got); i += n {
		run := got[i : i+n]
		assert.Equal(t, strings.Repeat(run[:1], n), run, "body %d is interleaved with another", i/n)
	}
}

// A stdin request waiting for the process is a connected client: the
// sweep does not evict the session under it.
func TestStdinHoldsTheSession(t *testing.T) {
	mock := clock.NewMock()
	e := procEnv(t, processes.NewManager(idle, processes.WithClock(mock)), httpapi.Options{StdinTimeout: -1})
	sid := start(t, e, "sleep", "1000")
	s, _ := e.m.Get(sid)
	done := make(chan error, 1)
	go func() {
		_, _, err := postStdin(t.Context(), e, sid, 1<<20, false)
		done <- err
	}()
	waitPipeFull(t, s.Pid(), pipeCap)
	waitHeld(t, s)
	assert.True(t, sweepPast(e, mock, s), "evicted while a client wrote to it")
	e.m.Forget(sid)
	proctest.Recv(t, done)
}
