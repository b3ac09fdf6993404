package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

const idle = 3 * time.Second

// mockEnv serves a Manager with a 3 s idle timeout on a mock clock, and a
// silent session "s" registered in it.
func mockEnv(t *testing.T, opts httpapi.Options) (*env, *clock.Mock, *processes.Session) {
	t.Helper()
	mock := clock.NewMock()
	e := newEnv(t, processes.NewManager(idle, processes.WithClock(mock)), opts)
	s := &processes.Session{ID: "s"}
	e.m.Register(s)
	return e, mock, s
}

// sweepPast moves the mock clock past the idle timeout and sweeps; it
// reports whether s survived.
func sweepPast(e *env, mock *clock.Mock, s *processes.Session) bool {
	mock.Add(3 * idle)
	e.m.Sweep()
	cur, ok := e.m.Get(s.ID)
	return ok && cur == s
}

// A silent program that someone follows is not evicted as idle: not while
// a long poll waits, not in the gap between two polls (the end of a poll
// counts as activity), and not while an event stream is open.
func TestFollowedSessionIsNotIdle(t *testing.T) {
	t.Run("long polls", func(t *testing.T) {
		e, mock, s := mockEnv(t, httpapi.Options{})
		e.c.PollWait = time.Hour
		arrived, finished := e.watch()
		type result struct {
			exit int
			err  error
		}
		res := make(chan result, 1)
		gap := make(chan bool, 2)
		go func() {
			exit, err := e.c.Follow(context.Background(), "s", 0, func(out processes.Output) error {
				// Between two polls: less than the idle timeout passes.
				mock.Add(idle - time.Millisecond)
				e.m.Sweep()
				_, ok := e.m.Get("s")
				gap <- ok
				return nil
			})
			res <- result{exit, err}
		}()
		proctest.Recv(t, arrived)
		waitHeld(t, s)
		assert.True(t, sweepPast(e, mock, s), "evicted during the first long poll")

		s.Append("stdout", []byte("tick\n"))
		proctest.Recv(t, finished)
		assert.True(t, proctest.Recv(t, gap), "evicted between two polls")
		proctest.Recv(t, arrived)
		waitHeld(t, s)
		assert.True(t, sweepPast(e, mock, s), "evicted during the second long poll")

		s.Append("stdout", []byte("finished\n"))
		s.SetExit(0)
		got := proctest.Recv(t, res)
		require.NoError(t, got.err)
		assert.Zero(t, got.exit)
	})
	t.Run("event stream", func(t *testing.T) {
		e, mock, s := mockEnv(t, httpapi.Options{Heartbeat: -1})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		resp := openEvents(t, e, ctx, "", "")
		_, err := readEvents(resp.Body, func(ev event) bool { return ev.name == "hello" })
		require.NoError(t, err)
		assert.True(t, sweepPast(e, mock, s), "evicted while streaming")
		s.Append("stdout", []byte("x"))
		_, err = readEvents(resp.Body, func(ev event) bool { return ev.name == "output" })
		require.NoError(t, err)
		assert.True(t, sweepPast(e, mock, s), "evicted after an event")
		cancel()
	})
}

// gateWriter blocks the first Write of a response until released, so that
// a test can act while the handler is writing its answer.
type gateWriter struct {
	http.ResponseWriter
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (g *gateWriter) Write(p []byte) (int, error) {
	g.once.Do(func() {
		close(g.entered)
		<-g.release
	})
	return g.ResponseWriter.Write(p)
}

func (g *gateWriter) Unwrap() http.ResponseWriter { return g.ResponseWriter }

// A request holds its session for as long as it runs, writing its answer
// included: a client slow to read does not let the sweep evict what it
// follows.
func TestSessionHeldWhileWriting(t *testing.T) {
	tests := []struct{ name, path string }{
		{"long poll", "/s/output?since=0&wait=1h"},
		{"event stream", "/s/events"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, mock, s := mockEnv(t, httpapi.Options{Heartbeat: -1})
			s.Append("stdout", []byte("x"))
			gate := &gateWriter{entered: make(chan struct{}), release: make(chan struct{})}
			e.intercept(func(w http.ResponseWriter, r *http.Request) bool {
				gate.ResponseWriter = w
				e.h.ServeHTTP(gate, r)
				return true
			})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				req, err := http.NewRequestWithContext(ctx, "GET", e.base+tt.path, nil)
				if err == nil {
					var resp *http.Response
					if resp, err = e.srv.Client().Do(req); err == nil {
						_, err = io.ReadAll(resp.Body)
						resp.Body.Close()
					}
				}
				done <- err
			}()
			proctest.Recv(t, gate.entered)
			assert.True(t, sweepPast(e, mock, s), "evicted while the handler wrote its answer")
			close(gate.release)
			if tt.name == "event stream" {
				cancel()
			}
			proctest.Recv(t, done)
		})
	}
}
