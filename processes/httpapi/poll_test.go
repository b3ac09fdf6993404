package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

func TestOutputWireFormat(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	s := &processes.Session{ID: "s"}
	e.m.Register(s)

	r := e.do(t, "GET", "/s/output", "-", "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.JSONEq(t, `{"chunks":[],"exit":null,"alive":true,"lost_bytes":0,"missed":0}`, r.body)
	assert.Equal(t, "no-store", r.header.Get("Cache-Control"))

	s.Append("stdout", []byte("hello\n"))
	s.Append("stderr", []byte{0, 0xff})
	s.SetExit(2)
	tests := []struct {
		name, query, want string
	}{
		{"all", "?since=0", `{"chunks":[{"stream":"stdout","seq":1,"data":"aGVsbG8K"},{"stream":"stderr","seq":2,"data":"AP8="}],"exit":2,"alive":false,"lost_bytes":0,"missed":0}`},
		{"after the first", "?since=1", `{"chunks":[{"stream":"stderr","seq":2,"data":"AP8="}],"exit":2,"alive":false,"lost_bytes":0,"missed":0}`},
		{"past the end", "?since=9", `{"chunks":[],"exit":2,"alive":false,"lost_bytes":0,"missed":0}`},
		{"no since", "", `{"chunks":[{"stream":"stdout","seq":1,"data":"aGVsbG8K"},{"stream":"stderr","seq":2,"data":"AP8="}],"exit":2,"alive":false,"lost_bytes":0,"missed":0}`},
		{"wait after exit answers at once", "?since=2&wait=1h", `{"chunks":[],"exit":2,"alive":false,"lost_bytes":0,"missed":0}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, "GET", "/s/output"+tt.query, "-", "")
			require.Equal(t, http.StatusOK, r.status, r.body)
			assert.JSONEq(t, tt.want, r.body)
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
			assert.JSONEq(t, `{"chunks":[],"exit":null,"alive":true,"lost_bytes":0,"missed":0}`, r.body)
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

func TestLongPollSessionForgotten(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	e.m.Register(&processes.Session{ID: "s"})
	arrived, _ := e.watch()

	errc := make(chan error, 1)
	go func() {
		_, err := e.c.Output(context.Background(), "s", 0, time.Hour)
		errc <- err
	}()
	proctest.Recv(t, arrived)
	e.m.Forget("s")
	err := proctest.Recv(t, errc)
	assert.ErrorIs(t, err, processes.ErrClosed)
	var ae *httpapi.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusGone, ae.Status)
}

// openEvents starts an event stream; the caller reads and closes its body.
func openEvents(t *testing.T, e *env, ctx context.Context, query, lastEventID string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", e.base+"/s/events"+query, nil)
	require.NoError(t, err)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	return resp
}

// outputEvent is the data of one output event, for comparisons.
func outputEvent(seq int, stream, data string) event {
	b, _ := json.Marshal(struct {
		Stream string `json:"stream"`
		Seq    int    `json:"seq"`
		Data   []byte `json:"data"`
	}{stream, seq, []byte(data)})
	return event{id: fmt.Sprint(seq), hasID: true, name: "output", data: string(b)}
}

func TestEventsDeliverEverythingThenExit(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	s := &processes.Session{ID: "s"}
	e.m.Register(s)
	s.Append("stdout", []byte("one\n"))
	s.Append("stderr", []byte("two\n"))

	resp := openEvents(t, e, t.Context(), "", "")
	done := make(chan struct{})
	var evs []event
	var err error
	go func() {
		defer close(done)
		evs, err = readEvents(resp.Body, nil)
	}()
	for i := 3; i <= 50; i++ {
		s.Append("stdout", fmt.Appendf(nil, "line %d\n", i))
	}
	s.SetExit(5)
	proctest.Recv(t, done)
	require.NoError(t, err)

	want := []event{outputEvent(1, "stdout", "one\n"), outputEvent(2, "stderr", "two\n")}
	for i := 3; i <= 50; i++ {
		want = append(want, outputEvent(i, "stdout", fmt.Sprintf("line %d\n", i)))
	}
	want = append(want, event{id: "50", hasID: true, name: "exit", data: `{"exit":5}`})
	var got []event
	for _, ev := range evs {
		if ev.comment == "" {
			got = append(got, ev)
		}
	}
	assert.Equal(t, want, got)
}

func TestEventsResume(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	s := &processes.Session{ID: "s"}
	e.m.Register(s)
	for i := 1; i <= 4; i++ {
		s.Append("stdout", fmt.Appendf(nil, "%d", i))
	}
	s.SetExit(0)
	tests := []struct {
		name, query, lastEventID string
		wantFirst                int
	}{
		{"since", "?since=2", "", 3},
		{"Last-Event-ID", "", "3", 4},
		{"Last-Event-ID wins over since", "?since=1", "3", 4},
		{"from the start", "", "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := openEvents(t, e, t.Context(), tt.query, tt.lastEventID)
			evs, err := readEvents(resp.Body, nil)
			require.NoError(t, err)
			require.NotEmpty(t, evs)
			assert.Equal(t, fmt.Sprint(tt.wantFirst), evs[0].id, "first event")
			assert.Len(t, evs, 4-tt.wantFirst+2, "output events and the exit")
			assert.Equal(t, "exit", evs[len(evs)-1].name)
		})
	}

	req, err := http.NewRequestWithContext(t.Context(), "GET", e.base+"/s/events", nil)
	require.NoError(t, err)
	req.Header.Set("Last-Event-ID", "abc")
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "bad Last-Event-ID")
}

func TestEventsMissed(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	s := &processes.Session{ID: "s"}
	e.m.Register(s)
	s.Append("stdout", []byte("dropped\n"))
	s.Append("stdout", make([]byte, processes.MaxBufferBytes))
	s.SetExit(0)

	resp := openEvents(t, e, t.Context(), "", "")
	evs, err := readEvents(resp.Body, nil)
	require.NoError(t, err)
	require.Len(t, evs, 3)
	assert.Equal(t, event{name: "missed", data: `{"missed":8,"lost_bytes":8}`}, evs[0])
	assert.Equal(t, "2", evs[1].id)
	assert.Equal(t, event{id: "2", hasID: true, name: "exit", data: `{"exit":0}`}, evs[2])
}

func TestEventsClientGone(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{Heartbeat: -1})
	s := &processes.Session{ID: "s"}
	e.m.Register(s)
	s.Append("stdout", []byte("x"))
	_, finished := e.watch()

	ctx, cancel := context.WithCancel(context.Background())
	resp := openEvents(t, e, ctx, "", "")
	evs, err := readEvents(resp.Body, func(event) bool { return true })
	require.NoError(t, err)
	require.Len(t, evs, 1)
	assert.Equal(t, "output", evs[0].name)
	cancel()
	proctest.Recv(t, finished) // the stream's handler returned
}

func TestEventsSessionForgotten(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	s := &processes.Session{ID: "s"}
	e.m.Register(s)
	s.Append("stdout", []byte("x"))

	resp := openEvents(t, e, t.Context(), "", "")
	got := make(chan []event, 1)
	go func() {
		evs, err := readEvents(resp.Body, nil)
		assert.NoError(t, err)
		got <- evs
	}()
	e.m.Forget("s")
	evs := proctest.Recv(t, got)
	require.NotEmpty(t, evs)
	last := evs[len(evs)-1]
	assert.Equal(t, "closed", last.name)
	assert.JSONEq(t, `{"error":"processes: session closed","code":"closed"}`, last.data)
}

func TestEventsHeartbeat(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{Heartbeat: time.Millisecond})
	e.m.Register(&processes.Session{ID: "s"})

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	resp := openEvents(t, e, ctx, "", "")
	evs, err := readEvents(resp.Body, func(ev event) bool { return ev.comment != "" })
	require.NoError(t, err)
	require.NotEmpty(t, evs)
	assert.Equal(t, "keepalive", evs[len(evs)-1].comment)
}

// The Client follows a session fed by Append to the end, in order.
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
			if c.Seq != lastSeq+1 {
				return fmt.Errorf("got seq %d after %d, want %d", c.Seq, lastSeq, lastSeq+1)
			}
			lastSeq = c.Seq
			got.Write(c.Data)
		}
		assert.Zero(t, out.Missed)
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 7, exit)
	assert.Equal(t, want.String(), got.String())
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
	assert.Equal(t, context.Canceled, err)
	assert.Equal(t, -1, exit)
	assert.Equal(t, int32(3), calls.Load(), "requests")
}
