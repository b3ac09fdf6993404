package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

// pollJSON is the body of a poll with no chunks cut, for comparisons.
func pollJSON(chunks string, exit string, alive bool, inv string) string {
	return fmt.Sprintf(`{"chunks":[%s],"exit":%s,"alive":%t,"lost_bytes":0,"missed":0,"invocation_id":%q,"more":false}`,
		chunks, exit, alive, inv)
}

func TestOutputWireFormat(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	s := &processes.Session{ID: "s"}
	e.m.Register(s)
	inv := s.InvocationID()

	r := e.do(t, "GET", "/s/output", "-", "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.JSONEq(t, pollJSON("", "null", true, inv), r.body)
	assert.Equal(t, "no-store", r.header.Get("Cache-Control"))
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))

	s.Append("stdout", []byte("hello\n"))
	s.Append("stderr", []byte{0, 0xff})
	s.SetExit(2)
	const both = `{"stream":"stdout","seq":1,"data":"aGVsbG8K"},{"stream":"stderr","seq":2,"data":"AP8="}`
	tests := []struct {
		name, query, want string
	}{
		{"all", "?since=0", pollJSON(both, "2", false, inv)},
		{"after the first", "?since=1", pollJSON(`{"stream":"stderr","seq":2,"data":"AP8="}`, "2", false, inv)},
		{"at the end", "?since=2", pollJSON("", "2", false, inv)},
		{"at the end in its invocation", "?since=2&invocation=" + inv, pollJSON("", "2", false, inv)},
		{"no since", "", pollJSON(both, "2", false, inv)},
		{"merge of different streams", "?merge=1", pollJSON(both, "2", false, inv)},
		{"wait after exit answers at once", "?since=2&wait=1h", pollJSON("", "2", false, inv)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, "GET", "/s/output"+tt.query, "-", "")
			require.Equal(t, http.StatusOK, r.status, r.body)
			assert.JSONEq(t, tt.want, r.body)
			// The streamed encoding is exactly what encoding/json makes.
			var v any
			require.NoError(t, json.Unmarshal([]byte(r.body), &v))
			b, err := json.Marshal(v)
			require.NoError(t, err)
			assert.Equal(t, len(b)+1, len(r.body), "not compact JSON ending in a newline")
		})
	}
}

func TestOutputMissed(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	s := &processes.Session{ID: "s"}
	e.m.Register(s)
	s.Append("stdout", []byte("first\n"))
	s.Append("stdout", make([]byte, processes.MaxBufferBytes))

	out, err := e.c.Output(t.Context(), "s", 0, 0)
	require.NoError(t, err)
	assert.Equal(t, 6, out.Missed, "missed")
	assert.Equal(t, 6, out.LostBytes, "lost bytes")
	require.Len(t, out.Chunks, 1)
	assert.Equal(t, 2, out.Chunks[0].Seq)
	assert.Len(t, out.Chunks[0].Data, processes.MaxBufferBytes)
}

func TestLongPollWakesOnOutput(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	s := &processes.Session{ID: "s"}
	e.m.Register(s)
	s.Append("stdout", []byte("old\n"))
	arrived, _ := e.watch()

	type result struct {
		out processes.Output
		err error
	}
	res := make(chan result, 1)
	start := time.Now()
	go func() {
		out, err := e.c.Output(context.Background(), "s", 1, time.Hour)
		res <- result{out, err}
	}()
	proctest.Recv(t, arrived)
	s.Append("stdout", []byte("new\n"))
	got := proctest.Recv(t, res)
	require.NoError(t, got.err)
	require.Len(t, got.out.Chunks, 1)
	assert.Equal(t, "new\n", string(got.out.Chunks[0].Data))
	assert.Equal(t, 2, got.out.Chunks[0].Seq)
	assert.Less(t, time.Since(start), time.Minute, "the long poll did not return on output")
}

func TestLongPollWakesOnExit(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	s := &processes.Session{ID: "s"}
	e.m.Register(s)
	arrived, _ := e.watch()

	res := make(chan processes.Output, 1)
	go func() {
		out, err := e.c.Output(context.Background(), "s", 0, time.Hour)
		assert.NoError(t, err)
		res <- out
	}()
	proctest.Recv(t, arrived)
	s.SetExit(4)
	out := proctest.Recv(t, res)
	assert.False(t, out.Alive)
	require.NotNil(t, out.Exit)
	assert.Equal(t, 4, *out.Exit)
}

func TestLongPollTimesOut(t *testing.T) {
	tests := []struct {
		name    string
		maxWait time.Duration
		wait    string
	}{
		{"wait passes", 0, "20ms"},
		{"capped by MaxWait", 20 * time.Millisecond, "1h"},
		{"bare seconds capped", 20 * time.Millisecond, "3600"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil, httpapi.Options{MaxWait: tt.maxWait})
			s := &processes.Session{ID: "s"}
			e.m.Register(s)
			s.Append("stdout", []byte("x"))
			r := e.do(t, "GET", "/s/output?since=1&wait="+tt.wait, "-", "")
			require.Equal(t, http.StatusOK, r.status, r.body)
			assert.JSONEq(t, pollJSON("", "null", true, s.InvocationID()), r.body)
		})
	}
}

func TestLongPollClientGone(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	e.m.Register(&processes.Session{ID: "s"})
	arrived, finished := e.watch()

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := e.c.Output(ctx, "s", 0, time.Hour)
		errc <- err
	}()
	proctest.Recv(t, arrived)
	cancel()
	assert.ErrorIs(t, proctest.Recv(t, errc), context.Canceled)
	proctest.Recv(t, finished) // the handler returned: its wait ended with the client
}

// A long poll of a session closed while it waits answers 410 with the
// reason as its code, which the client maps back to the processes error;
// a session closed after its exit still answers its final output.
func TestLongPollClosedReasons(t *testing.T) {
	tests := []struct {
		name     string
		close    func(t *testing.T, m *processes.Manager, s *processes.Session)
		wantCode string
		wantErr  error
	}{
		{"forgotten", func(t *testing.T, m *processes.Manager, s *processes.Session) {
			m.Forget(s.ID)
		}, "forgotten", processes.ErrForgotten},
		{"replaced", func(t *testing.T, m *processes.Manager, s *processes.Session) {
			m.Register(&processes.Session{ID: s.ID})
		}, "replaced", processes.ErrReplaced},
		{"shut down", func(t *testing.T, m *processes.Manager, s *processes.Session) {
			require.NoError(t, m.Shutdown(t.Context()))
		}, "shut_down", processes.ErrShutdown},
		{"forgotten after its exit", func(t *testing.T, m *processes.Manager, s *processes.Session) {
			s.SetExit(6)
			m.Forget(s.ID)
		}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, processes.NewManager(time.Minute), httpapi.Options{})
			s := &processes.Session{ID: "s"}
			e.m.Register(s)
			s.Append("stdout", []byte("x"))

			type result struct {
				out processes.Output
				err error
			}
			res := make(chan result, 1)
			go func() {
				out, err := e.c.Output(context.Background(), "s", 1, time.Hour)
				res <- result{out, err}
			}()
			waitHeld(t, s)
			tt.close(t, e.m, s)
			got := proctest.Recv(t, res)
			if tt.wantErr == nil {
				require.NoError(t, got.err)
				require.NotNil(t, got.out.Exit)
				assert.Equal(t, 6, *got.out.Exit)
				return
			}
			var ae *httpapi.APIError
			require.ErrorAs(t, got.err, &ae)
			assert.Equal(t, http.StatusGone, ae.Status)
			assert.Equal(t, tt.wantCode, ae.Code)
			assert.ErrorIs(t, got.err, tt.wantErr)
			assert.ErrorIs(t, got.err, processes.ErrClosed)
		})
	}
}

// Every reason for closing a session has its code, whoever answers it.
func TestClosedReasonCodes(t *testing.T) {
	tests := []struct {
		err      error
		wantCode string
		wantErr  error
	}{
		{processes.ErrIdleTimeout, "idle_timeout", processes.ErrIdleTimeout},
		{processes.ErrForgotten, "forgotten", processes.ErrForgotten},
		{processes.ErrReplaced, "replaced", processes.ErrReplaced},
		{processes.ErrReclaimed, "reclaimed", processes.ErrReclaimed},
		{processes.ErrShutdown, "shut_down", processes.ErrShutdown},
		{processes.ErrClosed, "closed", processes.ErrClosed},
		{fmt.Errorf("starting: %w", processes.ErrIdleTimeout), "idle_timeout", processes.ErrIdleTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.wantCode, func(t *testing.T) {
			e := newEnv(t, nil, httpapi.Options{Start: func(*http.Request, *processes.Manager) (*processes.Session, error) {
				return nil, tt.err
			}})
			_, err := e.c.Start(t.Context(), nil)
			var ae *httpapi.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, http.StatusGone, ae.Status)
			assert.Equal(t, tt.wantCode, ae.Code)
			assert.ErrorIs(t, err, tt.wantErr)
			assert.ErrorIs(t, err, processes.ErrClosed)
		})
	}
}

// waitHeld waits until a client holds s (a long poll or a stream is in
// the handler); s's Manager must have an idle timeout. It polls, as
// nothing else tells when the handler got there.
func waitHeld(t *testing.T, s *processes.Session) {
	t.Helper()
	require.Eventually(t, func() bool {
		return s.ActivityStatusAt(time.Unix(1<<40, 0), 0).IsActive
	}, 10*time.Second, time.Millisecond, "no client holds the session")
}

// The Client follows a session fed by Append to the end, in order: the
// chunks it passes on are merged runs, with Seqs that only grow, ending at
// the last chunk appended.
func TestFollowCompleteInOrder(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	s := &processes.Session{ID: "s"}
	e.m.Register(s)

	var want strings.Builder
	for i := 1; i <= 20; i++ {
		fmt.Fprintf(&want, "line %d\n", i)
	}
	go func() {
		for i := 1; i <= 20; i++ {
			s.Append("stdout", fmt.Appendf(nil, "line %d\n", i))
		}
		s.SetExit(7)
	}()

	var got strings.Builder
	lastSeq := 0
	exit, err := e.c.Follow(t.Context(), "s", 0, func(out processes.Output) error {
		for _, c := range out.Chunks {
			if c.Seq <= lastSeq {
				return fmt.Errorf("got seq %d after %d", c.Seq, lastSeq)
			}
			lastSeq = c.Seq
			got.Write(c.Data)
		}
		assert.Zero(t, out.Missed)
		assert.Equal(t, s.InvocationID(), out.InvocationID)
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 7, exit)
	assert.Equal(t, want.String(), got.String())
	assert.Equal(t, 20, lastSeq, "the last chunk's seq")
}

// A flood of more than the ring between two polls is reported as missed,
// exactly.
func TestFollowReportsMissed(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	s := &processes.Session{ID: "s"}
	e.m.Register(s)
	s.Append("stdout", []byte("start\n"))

	const flood = 3 * processes.MaxBufferBytes / 2
	appended := len("start\n")
	received, missed, polls := 0, 0, 0
	exit, err := e.c.Follow(t.Context(), "s", 0, func(out processes.Output) error {
		polls++
		for _, c := range out.Chunks {
			received += len(c.Data)
		}
		missed += out.Missed
		if polls == 1 {
			// Between this poll and the next: 1.5 MiB in 64 KiB chunks.
			chunk := make([]byte, 64<<10)
			for n := 0; n < flood; n += len(chunk) {
				s.Append("stdout", chunk)
				appended += len(chunk)
			}
			s.Append("stderr", []byte("end\n"))
			appended += 4
			s.SetExit(1)
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 1, exit)
	assert.Equal(t, 2, polls, "polls with output")
	assert.Equal(t, flood+4-processes.MaxBufferBytes, missed, "missed bytes")
	assert.Equal(t, appended, received+missed, "received + missed, want all appended")
}

func TestFollowStops(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name    string
		sid     string
		fn      func(processes.Output) error
		wantErr error
	}{
		{"not found", "nope", func(processes.Output) error { return nil }, processes.ErrNotFound},
		{"callback error", "s", func(processes.Output) error { return errBoom }, errBoom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil, httpapi.Options{})
			s := &processes.Session{ID: "s"}
			e.m.Register(s)
			s.Append("stdout", []byte("x"))
			exit, err := e.c.Follow(t.Context(), tt.sid, 0, tt.fn)
			assert.ErrorIs(t, err, tt.wantErr)
			assert.Equal(t, -1, exit)
		})
	}
}

func TestFollowContextEnds(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	e.m.Register(&processes.Session{ID: "s"})
	arrived, _ := e.watch()

	ctx, cancel := context.WithCancel(t.Context())
	type result struct {
		exit int
		err  error
	}
	res := make(chan result, 1)
	go func() {
		exit, err := e.c.Follow(ctx, "s", 0, func(processes.Output) error { return nil })
		res <- result{exit, err}
	}()
	proctest.Recv(t, arrived)
	cancel()
	got := proctest.Recv(t, res)
	assert.Equal(t, context.Canceled, got.err, "got %v, want exactly ctx.Err()", got.err)
	assert.Equal(t, -1, got.exit)
}

func TestFollowRetriesTransientErrors(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	s := &processes.Session{ID: "s"}
	e.m.Register(s)
	s.Append("stdout", []byte("hello\n"))
	s.SetExit(3)

	var calls atomic.Int32
	e.intercept(func(w http.ResponseWriter, r *http.Request) bool {
		switch calls.Add(1) {
		case 1:
			http.Error(w, "bad gateway", http.StatusBadGateway)
		case 2:
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":"busy","code":"internal"}`))
		case 3:
			panic(http.ErrAbortHandler) // the connection breaks
		case 4:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"chunks":[`)) // cut short
		default:
			return false
		}
		return true
	})
	e.c.MaxBackoff = time.Millisecond
	var got []byte
	exit, err := e.c.Follow(t.Context(), "s", 0, func(out processes.Output) error {
		for _, c := range out.Chunks {
			got = append(got, c.Data...)
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 3, exit)
	assert.Equal(t, "hello\n", string(got))
	assert.GreaterOrEqual(t, calls.Load(), int32(5), "requests")
}

func TestFollowBackoffEndsWithContext(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	var calls atomic.Int32
	e.intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if calls.Add(1) == 3 {
			cancel()
		}
		http.Error(w, "down", http.StatusServiceUnavailable)
		return true
	})
	e.c.MaxBackoff = time.Millisecond
	exit, err := e.c.Follow(ctx, "s", 0, func(processes.Output) error { return nil })
	assert.ErrorIs(t, err, context.Canceled)
	var ae *httpapi.APIError
	if assert.ErrorAs(t, err, &ae, "the error being retried: %v", err) {
		assert.Equal(t, http.StatusServiceUnavailable, ae.Status)
	}
	assert.Equal(t, -1, exit)
	assert.Equal(t, int32(3), calls.Load(), "requests")
}

// A Follow that cannot reach the server says so when its context ends,
// beside the context's error.
func TestFollowSaysWhyItCouldNotReachTheServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	c := httpapi.NewClient("http://"+addr+httpapi.DefaultPrefix, nil)
	c.MaxBackoff = time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err = c.Follow(ctx, "s", 0, func(processes.Output) error { return nil })
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED, "got %v", err)
}

// floodSession registers a session of n one-byte chunks, the byte of chunk
// i being byte(i), on stdout, or alternating stdout and stderr, exited with
// code 3; it returns what each stream got.
func floodSession(t *testing.T, m *processes.Manager, id string, n int, alternate bool) (*processes.Session, map[string][]byte) {
	t.Helper()
	s := &processes.Session{ID: id}
	want := map[string][]byte{}
	for i := 1; i <= n; i++ {
		stream := "stdout"
		if alternate && i%2 == 0 {
			stream = "stderr"
		}
		s.Append(stream, []byte{byte(i)})
		want[stream] = append(want[stream], byte(i))
	}
	s.SetExit(3)
	m.Register(s)
	return s, want
}

// Every answer of the JSON routes carries its exact Content-Length, polls
// of any size included: one write, with no chunked terminator after it.
func TestAnswersCarryTheirLength(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{MaxResponseBytes: 64 << 10})
	floodSession(t, e.m, "flood", 100_000, true)
	s := &processes.Session{ID: "s"}
	e.m.Register(s)
	s.Append("stdout", []byte("hello\n"))
	_, err := e.m.Start(exec.Command("sleep", "60"), processes.StartOptions{ID: "sleeper"})
	require.NoError(t, err)
	tests := []struct {
		name, method, path string
		status             int
	}{
		{"small poll", "GET", "/s/output?since=0", http.StatusOK},
		{"empty poll", "GET", "/s/output?since=1", http.StatusOK},
		{"long poll that times out", "GET", "/s/output?since=1&wait=1ms", http.StatusOK},
		{"page cut at the bound", "GET", "/flood/output?since=0", http.StatusOK},
		{"merged page", "GET", "/flood/output?since=0&merge=1", http.StatusOK},
		{"last page", "GET", "/flood/output?since=99990", http.StatusOK},
		{"status", "GET", "/s", http.StatusOK},
		{"list", "GET", "/", http.StatusOK},
		{"error", "GET", "/nope/output", http.StatusNotFound},
		{"bad since", "GET", "/s/output?since=x", http.StatusBadRequest},
		{"terminate", "POST", "/sleeper/terminate", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, tt.method, tt.path, "-", "")
			require.Equal(t, tt.status, r.status, r.body)
			assert.Equal(t, strconv.Itoa(len(r.body)), r.header.Get("Content-Length"), "Content-Length of %d bytes", len(r.body))
		})
	}
}

// A poll is bounded by the bytes it returns, not by the chunks in the
// ring: past the bound it answers what fits, with "more" and, until the
// last page, the session alive without its exit.
func TestOutputBounded(t *testing.T) {
	tests := []struct {
		name   string
		limit  int // Options.MaxResponseBytes
		bound  int // what the body may take
		query  string
		merged bool
	}{
		{"default bound", 0, httpapi.DefaultMaxResponseBytes, "", false},
		{"small bound", 64 << 10, 64 << 10, "", false},
		{"smallest bound", 1, httpapi.MinResponseBytes, "", false},
		{"merged", 64 << 10, 64 << 10, "&merge=1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil, httpapi.Options{MaxResponseBytes: tt.limit})
			floodSession(t, e.m, "s", 100_000, false)
			r := e.do(t, "GET", "/s/output?since=0"+tt.query, "-", "")
			require.Equal(t, http.StatusOK, r.status)
			assert.LessOrEqual(t, len(r.body), tt.bound, "body bytes")

			var out struct {
				Chunks []struct {
					Seq  int
					Data []byte
				}
				Exit  *int
				Alive bool
				More  bool
			}
			require.NoError(t, json.Unmarshal([]byte(r.body), &out))
			require.NotEmpty(t, out.Chunks)
			assert.True(t, out.More, "more")
			assert.True(t, out.Alive, "alive before the last page")
			assert.Nil(t, out.Exit, "exit before the last page")
			assert.Greater(t, len(r.body), tt.bound*3/4, "the page fills less than 3/4 of its bound")
			if tt.merged {
				require.Len(t, out.Chunks, 1, "one run of one stream")
				c := out.Chunks[0]
				assert.Len(t, c.Data, c.Seq, "a merged chunk carries the seq of the last chunk merged")
				for i, b := range c.Data {
					require.Equal(t, byte(i+1), b)
				}
				return
			}
			for i, c := range out.Chunks {
				require.Equal(t, i+1, c.Seq)
				require.Equal(t, []byte{byte(i + 1)}, c.Data)
			}
		})
	}
}

// The exact bound holds even where the page's estimate is wrong (a stream
// name of hundreds of bytes, escaped for HTML), and a chunk larger than the
// bound is still sent, alone, so that a poll always progresses.
func TestOutputExactBound(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{MaxResponseBytes: httpapi.MinResponseBytes})
	s := &processes.Session{ID: "s"}
	e.m.Register(s)
	long := strings.Repeat("<&>", 100)
	var want []byte
	for i := range 50 {
		data := bytes.Repeat([]byte{byte('a' + i%26)}, 100)
		s.Append(long, data)
		want = append(want, data...)
	}
	big := bytes.Repeat([]byte("B"), 8<<10)
	s.Append("stdout", big)
	s.SetExit(0)

	r := e.do(t, "GET", "/s/output", "-", "")
	require.Equal(t, http.StatusOK, r.status)
	assert.LessOrEqual(t, len(r.body), httpapi.MinResponseBytes)
	var page struct{ More bool }
	require.NoError(t, json.Unmarshal([]byte(r.body), &page))
	assert.True(t, page.More)

	r = e.do(t, "GET", "/s/output?since=50", "-", "")
	require.Equal(t, http.StatusOK, r.status)
	var last struct {
		Chunks []struct{ Data []byte }
		More   bool
	}
	require.NoError(t, json.Unmarshal([]byte(r.body), &last))
	require.Len(t, last.Chunks, 1, "the chunk larger than the bound")
	assert.Equal(t, big, last.Chunks[0].Data)
	assert.False(t, last.More)

	var got []byte
	exit, err := e.c.Follow(t.Context(), "s", 0, func(out processes.Output) error {
		for _, c := range out.Chunks {
			if c.Stream == long {
				got = append(got, c.Data...)
			}
		}
		return nil
	})
	require.NoError(t, err)
	assert.Zero(t, exit)
	assert.Equal(t, want, got)
}

// Follow pages through a bounded server without waiting between pages and
// receives every byte exactly once, in order, per stream.
func TestFollowPagesThrough(t *testing.T) {
	tests := []struct {
		name      string
		alternate bool
	}{
		{"one stream, merged", false},
		{"alternating streams", true},
	}
	n := 100_000
	if testing.Short() {
		n = 20_000 // the quick run; still many pages
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil, httpapi.Options{MaxResponseBytes: 16 << 10})
			_, want := floodSession(t, e.m, "s", n, tt.alternate)
			var waits, requests atomic.Int32
			e.intercept(func(w http.ResponseWriter, r *http.Request) bool {
				requests.Add(1)
				if r.URL.Query().Get("wait") != "" {
					waits.Add(1)
				}
				return false
			})
			e.c.PollWait = time.Hour

			got := map[string][]byte{}
			lastSeq, polls := 0, 0
			exit, err := e.c.Follow(t.Context(), "s", 0, func(out processes.Output) error {
				polls++
				if !tt.alternate && len(out.Chunks) != 1 {
					return fmt.Errorf("got %d chunks of one stream, want them merged", len(out.Chunks))
				}
				for _, c := range out.Chunks {
					if c.Seq <= lastSeq {
						return fmt.Errorf("got seq %d after %d", c.Seq, lastSeq)
					}
					lastSeq = c.Seq
					got[c.Stream] = append(got[c.Stream], c.Data...)
				}
				return nil
			})
			require.NoError(t, err)
			assert.Equal(t, 3, exit)
			assert.Equal(t, n, lastSeq)
			assert.Equal(t, want, got, "every byte exactly once")
			assert.Greater(t, polls, 1, "polls")
			assert.Equal(t, int32(polls), requests.Load(), "requests")
			assert.Equal(t, int32(1), waits.Load(), "requests that waited: only the first")
		})
	}
}

// A cursor from another incarnation of the session is refused before any
// wait: by its invocation when it names one, by being past the output
// when it does not.
func TestOutputCursor(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	s := &processes.Session{ID: "s"}
	e.m.Register(s)
	for _, line := range []string{"one\n", "two\n", "three\n"} {
		s.Append("stdout", []byte(line))
	}
	e.m.Register(&processes.Session{ID: "empty"})
	inv := s.InvocationID()
	tests := []struct {
		name, path string
		wantStatus int
		wantCode   string
		wantChunks int
	}{
		{"at the end", "/s/output?since=3", 200, "", 0},
		{"within", "/s/output?since=1", 200, "", 2},
		{"past the end", "/s/output?since=4", 409, "cursor_ahead", 0},
		{"far past the end", "/s/output?since=600", 409, "cursor_ahead", 0},
		{"past the end, long poll", "/s/output?since=6&wait=1h", 409, "cursor_ahead", 0},
		{"past the end of nothing", "/empty/output?since=1", 409, "cursor_ahead", 0},
		{"past the end in its invocation", "/s/output?since=4&invocation=" + inv, 409, "cursor_ahead", 0},
		{"at the end in its invocation", "/s/output?since=3&invocation=" + inv, 200, "", 0},
		{"far past the end in its invocation", "/s/output?since=2147483647&invocation=" + inv, 409, "cursor_ahead", 0},
		{"attach past the end in its invocation", "/s/attach?since=5&invocation=" + inv, 409, "cursor_ahead", 0},
		{"in its invocation", "/s/output?since=2&invocation=" + inv, 200, "", 1},
		{"another invocation", "/s/output?since=0&invocation=earlier", 409, "invocation_changed", 0},
		{"another invocation, long poll", "/s/output?since=3&wait=1h&invocation=earlier", 409, "invocation_changed", 0},
		{"events past the end", "/s/events?since=4", 409, "cursor_ahead", 0},
		{"events Last-Event-ID past the end", "/s/events?last=4", 409, "cursor_ahead", 0},
		{"events of another invocation", "/s/events?invocation=earlier", 409, "invocation_changed", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, hdr := tt.path, http.Header(nil)
			if p, last, ok := strings.Cut(path, "?last="); ok {
				path, hdr = p, http.Header{"Last-Event-Id": {last}}
			}
			r := e.doHeader(t, "GET", path, "-", "", hdr)
			require.Equal(t, tt.wantStatus, r.status, r.body)
			var body struct {
				Code         string
				InvocationID string `json:"invocation_id"`
				Chunks       []json.RawMessage
			}
			require.NoError(t, json.Unmarshal([]byte(r.body), &body))
			if tt.wantStatus == 409 {
				assert.Equal(t, tt.wantCode, body.Code)
				cur, _ := e.m.Get(strings.Split(path, "/")[1])
				assert.Equal(t, cur.InvocationID(), body.InvocationID, "the current invocation")
				return
			}
			assert.Len(t, body.Chunks, tt.wantChunks)
			assert.Equal(t, inv, body.InvocationID)
		})
	}
}

// The session of the issue: "build" printed six lines and was forgotten; a
// new "build" printed three and exited. A cursor of the first never reads
// the second silently.
func TestFollowDetectsAnotherInvocation(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	old := &processes.Session{ID: "build"}
	e.m.Register(old)
	for i := 1; i <= 6; i++ {
		old.Append("stdout", fmt.Appendf(nil, "old %d\n", i))
	}
	oldInv := old.InvocationID()
	e.m.Forget("build")
	cur := &processes.Session{ID: "build"}
	e.m.Register(cur)
	for i := 1; i <= 3; i++ {
		cur.Append("stdout", fmt.Appendf(nil, "new %d\n", i))
	}
	cur.SetExit(0)
	require.NotEqual(t, oldInv, cur.InvocationID())

	var seen []processes.Output
	collect := func(out processes.Output) error { seen = append(seen, out); return nil }
	tests := []struct {
		name     string
		follow   func() (int, error)
		wantErr  error
		wantData string
	}{
		{"Follow from a seq past the new output", func() (int, error) {
			return e.c.Follow(t.Context(), "build", 6, collect)
		}, httpapi.ErrCursorAhead, ""},
		{"FollowCursor of the old invocation", func() (int, error) {
			return e.c.FollowCursor(t.Context(), "build", httpapi.Cursor{InvocationID: oldInv, Seq: 2}, collect)
		}, httpapi.ErrInvocationChanged, ""},
		{"FollowCursor of the new invocation", func() (int, error) {
			return e.c.FollowCursor(t.Context(), "build", httpapi.Cursor{InvocationID: cur.InvocationID(), Seq: 2}, collect)
		}, nil, "new 3\n"},
		{"Follow from the start", func() (int, error) {
			return e.c.Follow(t.Context(), "build", 0, collect)
		}, nil, "new 1\nnew 2\nnew 3\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen = nil
			exit, err := tt.follow()
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
				assert.Equal(t, -1, exit)
				assert.Empty(t, seen, "output passed on")
				var ae *httpapi.APIError
				require.ErrorAs(t, err, &ae)
				assert.Equal(t, cur.InvocationID(), ae.InvocationID)
				return
			}
			require.NoError(t, err)
			assert.Zero(t, exit)
			var got strings.Builder
			for _, out := range seen {
				assert.Equal(t, cur.InvocationID(), out.InvocationID)
				for _, c := range out.Chunks {
					got.Write(c.Data)
				}
			}
			assert.Equal(t, tt.wantData, got.String())
		})
	}
}

// A session replaced between two polls of a Follow is reported, not mixed
// into what was followed.
func TestFollowDetectsReplacement(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	s := &processes.Session{ID: "job"}
	e.m.Register(s)
	s.Append("stdout", []byte("first run\n"))
	polls := 0
	exit, err := e.c.Follow(t.Context(), "job", 0, func(out processes.Output) error {
		polls++
		next := &processes.Session{ID: "job"}
		next.Append("stdout", []byte("second run, line 1\n"))
		next.Append("stdout", []byte("second run, line 2\n"))
		e.m.Register(next)
		return nil
	})
	assert.ErrorIs(t, err, httpapi.ErrInvocationChanged)
	assert.Equal(t, -1, exit)
	assert.Equal(t, 1, polls)
}
