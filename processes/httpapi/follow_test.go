package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

// A base URL that no request can use is an error that says what to pass,
// at once: Follow does not retry it until its context ends, and the zero
// Client does not panic.
func TestClientRefusesUnusableBaseURLs(t *testing.T) {
	// A bound, not a timing: without it a Follow that retries would hang.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	tests := []struct {
		name string
		c    *httpapi.Client
	}{
		{"host and port without a scheme", httpapi.NewClient("127.0.0.1:8080/api/sdk/processes", nil)},
		{"name and port without a scheme", httpapi.NewClient("localhost:8080/api/sdk/processes", nil)},
		{"another scheme", httpapi.NewClient("ftp://127.0.0.1/api/sdk/processes", nil)},
		{"no host", httpapi.NewClient("http:///api/sdk/processes", nil)},
		{"empty", httpapi.NewClient("", nil)},
		{"zero Client", &httpapi.Client{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exit, err := tt.c.Follow(ctx, "s", 0, func(processes.Output) error { return nil })
			assert.ErrorIs(t, err, processes.ErrInvalid)
			assert.NotErrorIs(t, err, context.DeadlineExceeded, "retried until the context ended")
			assert.ErrorContains(t, err, "http://127.0.0.1:8080/api/sdk/processes", "says what to pass")
			assert.Equal(t, -1, exit)
			_, err = tt.c.List(ctx)
			assert.ErrorIs(t, err, processes.ErrInvalid)
		})
	}
}

// A 2xx answer that is not the handler's JSON comes from another server at
// the base URL (a web application that answers every path): Follow returns
// at once, naming the base URL, rather than retrying the same answer.
func TestFollowStopsAtAnswersOfAnotherServer(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	e.intercept(func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<!doctype html><p>an app</p>"))
		return true
	})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second) // a bound
	defer cancel()
	e.c.MaxBackoff = time.Millisecond
	exit, err := e.c.Follow(ctx, "s", 0, func(processes.Output) error { return nil })
	require.Error(t, err)
	assert.NotErrorIs(t, err, context.DeadlineExceeded, "retried until the context ended")
	assert.ErrorContains(t, err, "base URL")
	assert.ErrorContains(t, err, "text/html")
	assert.Equal(t, -1, exit)
}

// A long poll waits on the server at most half the http.Client's Timeout,
// so that its answer comes before the http.Client gives up on a quiet
// session and Follow retries after an error.
func TestPollWaitFitsTheHTTPClientTimeout(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	s := &processes.Session{ID: "s"}
	e.m.Register(s)
	s.Append("stdout", []byte("hi"))
	s.SetExit(0)
	arrived, _ := e.watch()
	hc := *e.srv.Client()
	hc.Timeout = 4 * time.Second
	c := httpapi.NewClient(e.base, &hc)

	wantWait := func(want time.Duration) {
		t.Helper()
		r := proctest.Recv(t, arrived)
		q, err := url.ParseQuery(r.URL.RawQuery)
		require.NoError(t, err)
		got, err := time.ParseDuration(q.Get("wait"))
		require.NoError(t, err, "wait %q", q.Get("wait"))
		assert.Equal(t, want, got, "got wait %v, want %v", got, want)
	}

	exit, err := c.Follow(t.Context(), "s", 0, func(processes.Output) error { return nil })
	require.NoError(t, err)
	assert.Equal(t, 0, exit)
	wantWait(2 * time.Second) // PollWait's default, 30 s, cut

	c.PollWait = time.Second
	_, err = c.Follow(t.Context(), "s", 0, func(processes.Output) error { return nil })
	require.NoError(t, err)
	wantWait(time.Second) // short enough already

	_, err = c.Poll(t.Context(), "s", httpapi.Cursor{}, httpapi.PollOptions{Wait: time.Minute})
	require.NoError(t, err)
	wantWait(2 * time.Second)
}

// The routes that answer no body (stdin, signal, resize, delete) answer
// 204: a 200 page of another web application at the base URL is an error,
// not a write that did nothing.
func TestClientCallsRefuseAnswersOfAnotherServer(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	e.intercept(func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<!doctype html><p>an app</p>"))
		return true
	})
	ctx := t.Context()
	tests := []struct {
		name string
		call func() error
	}{
		{"Stdin", func() error { return e.c.Stdin(ctx, "s", []byte("rm -rf build\n")) }},
		{"CloseStdin", func() error { return e.c.CloseStdin(ctx, "s") }},
		{"Signal", func() error { return e.c.Signal(ctx, "s", "INT") }},
		{"Resize", func() error { return e.c.Resize(ctx, "s", 24, 80) }},
		{"Delete", func() error { return e.c.Delete(ctx, "s") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			assert.ErrorContains(t, err, "base URL")
			assert.ErrorContains(t, err, "text/html")
		})
	}
}

// A page that says more with no chunks (not this package's handler, which
// says more only beside chunks) is waited on like an empty poll, not
// asked again at once, which would spin.
func TestFollowWaitsOnMoreWithoutChunks(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	var polls, waited atomic.Int32
	e.intercept(func(w http.ResponseWriter, r *http.Request) bool {
		n := polls.Add(1)
		if r.URL.Query().Get("wait") != "" {
			waited.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		if n >= 3 {
			_, _ = io.WriteString(w, `{"chunks":[],"exit":0,"alive":false,"lost_bytes":0,"missed":0,"invocation_id":"i","more":false}`)
			return true
		}
		_, _ = io.WriteString(w, `{"chunks":[],"exit":null,"alive":true,"lost_bytes":0,"missed":0,"invocation_id":"i","more":true}`)
		return true
	})
	code, err := e.c.Follow(t.Context(), "s", 0, func(processes.Output) error { return nil })
	require.NoError(t, err)
	assert.Zero(t, code)
	assert.Equal(t, int32(3), polls.Load(), "polls")
	assert.Equal(t, int32(3), waited.Load(), "polls that asked to wait")
}
