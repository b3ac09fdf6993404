package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

// discard is a ResponseWriter that counts the body and keeps nothing.
type discard struct {
	hdr    http.Header
	status int
	n      int
}

func (d *discard) Header() http.Header {
	if d.hdr == nil {
		d.hdr = http.Header{}
	}
	return d.hdr
}

func (d *discard) WriteHeader(status int) { d.status = status }

func (d *discard) Write(p []byte) (int, error) {
	d.n += len(p)
	return len(p), nil
}

// A poll allocates about what it returns, whatever the number of chunks in
// the ring: 100,000 one-byte chunks used to cost tens of MB per poll.
func TestPollAllocationFollowsBytes(t *testing.T) {
	m := processes.NewManager(0)
	t.Cleanup(func() { require.NoError(t, m.Shutdown(context.Background())) })
	floodSession(t, m, "s", 100_000, false)
	tests := []struct {
		name  string
		limit int
		query string
		bound int // bytes a poll may allocate
	}{
		{"default bound", 0, "", httpapi.DefaultMaxResponseBytes},
		{"256 KiB", 256 << 10, "", 256 << 10},
		{"16 KiB", 16 << 10, "", 16 << 10},
		{"merged", 0, "&merge=1", 256 << 10},
	}
	const slack = 64 << 10 // the pooled encoder, when the race detector drops it, and the request
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := httpapi.NewHandler(m, httpapi.Options{MaxResponseBytes: tt.limit})
			poll := func() *discard {
				w := &discard{}
				h.ServeHTTP(w, httptest.NewRequest("GET", httpapi.DefaultPrefix+"/s/output?since=0"+tt.query, nil))
				return w
			}
			w := poll() // fills the pools
			require.Equal(t, http.StatusOK, w.status)
			const runs = 5
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range runs {
				poll()
			}
			runtime.ReadMemStats(&after)
			perPoll := (after.TotalAlloc - before.TotalAlloc) / runs
			t.Logf("a poll returned %d bytes and allocated %d", w.n, perPoll)
			assert.LessOrEqual(t, perPoll, uint64(tt.bound+slack), "bytes allocated per poll")
		})
	}
}

// An event stream keeps no buffer between its batches: many streams that
// caught up with a full ring hold little memory each.
func TestEventStreamsRetainLittle(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{Heartbeat: -1})
	s := &processes.Session{ID: "s"}
	e.m.Register(s)
	chunk := make([]byte, 4<<10)
	const chunks = 2 * processes.MaxBufferBytes / (4 << 10)
	for range chunks {
		s.Append("stdout", chunk)
	}
	last := fmt.Sprint(chunks)

	const streams = 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	for range streams {
		resp := openEvents(t, e, ctx, "", "")
		evs, err := readEvents(resp.Body, func(ev event) bool { return ev.id == last })
		require.NoError(t, err)
		require.Greater(t, len(evs), processes.MaxBufferBytes/(4<<10), "events")
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / streams
	t.Logf("%d open streams that caught up with a full ring hold %d KiB each, both ends", streams, per>>10)
	assert.Less(t, per, int64(128<<10), "bytes held per stream")
	cancel()
}
