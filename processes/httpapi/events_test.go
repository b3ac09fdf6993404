package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

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

// helloEvent is the event that starts every stream.
func helloEvent(inv string, since int) event {
	return event{name: "hello", data: fmt.Sprintf(`{"invocation_id":%q,"since":%d}`, inv, since)}
}

// content drops comments and the hello event.
func content(t *testing.T, evs []event) []event {
	t.Helper()
	var out []event
	for _, ev := range evs {
		if ev.comment == "" && ev.name != "hello" {
			out = append(out, ev)
		}
	}
	return out
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

	require.NotEmpty(t, evs)
	assert.Equal(t, helloEvent(s.InvocationID(), 0), evs[0], "the first event")
	want := []event{outputEvent(1, "stdout", "one\n"), outputEvent(2, "stderr", "two\n")}
	for i := 3; i <= 50; i++ {
		want = append(want, outputEvent(i, "stdout", fmt.Sprintf("line %d\n", i)))
	}
	want = append(want, event{id: "50", hasID: true, name: "exit", data: `{"exit":5}`})
	assert.Equal(t, want, content(t, evs))
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
		{"with the invocation", "?since=2&invocation=" + s.InvocationID(), "", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := openEvents(t, e, t.Context(), tt.query, tt.lastEventID)
			evs, err := readEvents(resp.Body, nil)
			require.NoError(t, err)
			require.NotEmpty(t, evs)
			assert.Equal(t, helloEvent(s.InvocationID(), tt.wantFirst-1), evs[0])
			evs = content(t, evs)
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
	evs = content(t, evs)
	require.Len(t, evs, 3)
	assert.Equal(t, event{name: "missed", data: `{"missed":8,"lost_bytes":8}`}, evs[0])
	assert.Equal(t, "2", evs[1].id)
	assert.Equal(t, event{id: "2", hasID: true, name: "exit", data: `{"exit":0}`}, evs[2])
}

// merge=1 sends a run of chunks of one stream as one event with the last
// Seq, so that a child writing a byte at a time costs one event per batch.
func TestEventsMerge(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	_, want := floodSession(t, e.m, "s", 1000, false)
	resp := openEvents(t, e, t.Context(), "?merge=1", "")
	evs, err := readEvents(resp.Body, nil)
	require.NoError(t, err)
	evs = content(t, evs)
	require.Len(t, evs, 2)
	assert.Equal(t, outputEvent(1000, "stdout", string(want["stdout"])), evs[0])
	assert.Equal(t, event{id: "1000", hasID: true, name: "exit", data: `{"exit":3}`}, evs[1])
}

// A stream pages through a ring of many small chunks in bounded batches
// and delivers every byte once.
func TestEventsManySmallChunks(t *testing.T) {
	for _, merge := range []bool{false, true} {
		t.Run(fmt.Sprint("merge ", merge), func(t *testing.T) {
			e := newEnv(t, nil, httpapi.Options{MaxResponseBytes: 16 << 10})
			_, want := floodSession(t, e.m, "s", 20_000, true)
			resp := openEvents(t, e, t.Context(), fmt.Sprintf("?merge=%t", merge), "")
			evs, err := readEvents(resp.Body, nil)
			require.NoError(t, err)
			got := map[string][]byte{}
			last := 0
			for _, ev := range content(t, evs) {
				if ev.name != "output" {
					continue
				}
				var c struct {
					Stream string
					Seq    int
					Data   []byte
				}
				require.NoError(t, json.Unmarshal([]byte(ev.data), &c))
				require.Greater(t, c.Seq, last)
				last = c.Seq
				got[c.Stream] = append(got[c.Stream], c.Data...)
			}
			assert.Equal(t, want, got)
			assert.Equal(t, "exit", evs[len(evs)-1].name)
		})
	}
}

func TestEventsClientGone(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{Heartbeat: -1})
	s := &processes.Session{ID: "s"}
	e.m.Register(s)
	s.Append("stdout", []byte("x"))
	_, finished := e.watch()

	ctx, cancel := context.WithCancel(context.Background())
	resp := openEvents(t, e, ctx, "", "")
	evs, err := readEvents(resp.Body, func(ev event) bool { return ev.name == "output" })
	require.NoError(t, err)
	require.Len(t, evs, 2)
	assert.Equal(t, "output", evs[1].name)
	cancel()
	proctest.Recv(t, finished) // the stream's handler returned
}

// A stream ends at once when its session is closed, with an event that
// says why.
func TestEventsClosedReasons(t *testing.T) {
	tests := []struct {
		name       string
		close      func(t *testing.T, e *env)
		wantReason string
	}{
		{"DELETE", func(t *testing.T, e *env) { require.NoError(t, e.c.Delete(t.Context(), "s")) }, "forgotten"},
		{"Forget", func(t *testing.T, e *env) { e.m.Forget("s") }, "forgotten"},
		{"replaced", func(t *testing.T, e *env) { e.m.Register(&processes.Session{ID: "s"}) }, "replaced"},
		{"shut down", func(t *testing.T, e *env) { require.NoError(t, e.m.Shutdown(t.Context())) }, "shut_down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, processes.NewManager(time.Minute), httpapi.Options{})
			s := &processes.Session{ID: "s"}
			e.m.Register(s)
			s.Append("stdout", []byte("x"))
			_, finished := e.watch()

			resp := openEvents(t, e, t.Context(), "", "")
			got := make(chan []event, 1)
			go func() {
				evs, err := readEvents(resp.Body, nil)
				assert.NoError(t, err)
				got <- evs
			}()
			waitHeld(t, s)
			tt.close(t, e)
			evs := proctest.Recv(t, got)
			require.NotEmpty(t, evs)
			last := evs[len(evs)-1]
			assert.Equal(t, "closed", last.name)
			var body struct{ Error, Code, Reason string }
			require.NoError(t, json.Unmarshal([]byte(last.data), &body))
			assert.Equal(t, tt.wantReason, body.Reason)
			assert.Equal(t, tt.wantReason, body.Code)
			assert.Contains(t, body.Error, "processes: session closed")
			for r := proctest.Recv(t, finished); r.URL.Path != httpapi.DefaultPrefix+"/s/events"; r = proctest.Recv(t, finished) {
			}
		})
	}
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

// A client that stops reading is cut off once a write has blocked for the
// write timeout, and its handler returns, while the session keeps
// printing.
func TestEventsSlowReaderIsCut(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{WriteTimeout: 100 * time.Millisecond, Heartbeat: -1})
	s := &processes.Session{ID: "s"}
	e.m.Register(s)
	_, finished := e.watch()

	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.(*net.TCPConn).SetReadBuffer(4<<10))
	_, err = fmt.Fprintf(conn, "GET %s/s/events HTTP/1.1\r\nHost: test\r\n\r\n", httpapi.DefaultPrefix)
	require.NoError(t, err)
	// Read the headers only, so that the stream is known to be open.
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 4<<10), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)

	stop, fed := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(fed)
		chunk := make([]byte, 64<<10)
		for {
			select {
			case <-stop:
				return
			default:
				s.Append("stdout", chunk)
			}
		}
	}()
	r := proctest.Recv(t, finished)
	close(stop)
	<-fed
	assert.Equal(t, httpapi.DefaultPrefix+"/s/events", r.URL.Path)
	_, ok := e.m.Get("s")
	assert.True(t, ok, "the session outlives the stream")
}
