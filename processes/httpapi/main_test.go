package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

func TestMain(m *testing.M) {
	proctest.QuietRaceExit()
	if os.Getenv(viewerEnv) == "1" {
		os.Exit(viewer())
	}
	goleak.VerifyTestMain(m)
}

// env is a Manager behind the handler in an httptest.Server, and a client.
type env struct {
	m    *processes.Manager
	h    http.Handler // the handler under test, also for wrappers
	srv  *httptest.Server
	base string // server URL with the prefix
	c    *httpapi.Client

	mu       sync.Mutex
	arrived  chan *http.Request // each request as it reaches the handler, if wanted
	finished chan *http.Request // each request once the handler returned, if wanted
	wrap     func(w http.ResponseWriter, r *http.Request) bool
}

// newEnv serves m (a new Manager when nil) with opts. Cleanup shuts the
// Manager down, ending streams and processes, then closes the server.
func newEnv(t *testing.T, m *processes.Manager, opts httpapi.Options) *env {
	t.Helper()
	if m == nil {
		m = processes.NewManager(0)
	}
	h := httpapi.NewHandler(m, opts)
	e := &env{m: m, h: h}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		arrived, finished, wrap := e.arrived, e.finished, e.wrap
		e.mu.Unlock()
		if wrap != nil && wrap(w, r) {
			return
		}
		if arrived != nil {
			arrived <- r
		}
		h.ServeHTTP(w, r)
		if finished != nil {
			finished <- r
		}
	}))
	prefix := opts.Prefix
	if prefix == "" {
		prefix = httpapi.DefaultPrefix
	}
	e.base = e.srv.URL + strings.TrimRight(prefix, "/")
	e.c = httpapi.NewClient(e.base, e.srv.Client())
	t.Cleanup(e.srv.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: got %v, want nil", err)
		}
	})
	return e
}

// watch makes the server report every request as it arrives and once it
// was served, on buffered channels.
func (e *env) watch() (arrived, finished <-chan *http.Request) {
	a, f := make(chan *http.Request, 100), make(chan *http.Request, 100)
	e.mu.Lock()
	e.arrived, e.finished = a, f
	e.mu.Unlock()
	return a, f
}

// intercept lets fn answer requests before the handler; fn returns true
// when it did.
func (e *env) intercept(fn func(w http.ResponseWriter, r *http.Request) bool) {
	e.mu.Lock()
	e.wrap = fn
	e.mu.Unlock()
}

// reply is a response read whole.
type reply struct {
	status int
	header http.Header
	body   string
}

// do sends one request to path under the prefix with the given workspace
// header (none when ws is "-") and reads the whole answer.
func (e *env) do(t *testing.T, method, path, ws, body string) reply {
	t.Helper()
	return e.doHeader(t, method, path, ws, body, nil)
}

// doHeader is do with more request headers.
func (e *env) doHeader(t *testing.T, method, path, ws, body string, hdr http.Header) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, e.base+path, rd)
	require.NoError(t, err)
	if ws != "-" {
		req.Header.Set("X-Workspace", ws)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// errBody decodes an error answer.
func errBody(t *testing.T, r reply) (code, msg string) {
	t.Helper()
	var b struct{ Error, Code string }
	require.NoError(t, json.Unmarshal([]byte(r.body), &b), "body %q", r.body)
	return b.Code, b.Error
}

// byHeader authorizes by the X-Workspace header; no header is an error.
func byHeader(r *http.Request) (string, error) {
	ws := r.Header.Get("X-Workspace")
	if ws == "" {
		return "", errors.New("no X-Workspace header")
	}
	return ws, nil
}

// event is one Server-Sent Event, or a comment when comment is set.
type event struct {
	id, name, data string
	hasID          bool
	comment        string
}

// readEvents parses an event stream until it ends or stop says so.
func readEvents(r io.Reader, stop func(event) bool) ([]event, error) {
	var evs []event
	var cur event
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur != (event{}) {
				evs = append(evs, cur)
				if stop != nil && stop(cur) {
					return evs, nil
				}
			}
			cur = event{}
		case strings.HasPrefix(line, ":"):
			cur.comment = strings.TrimSpace(line[1:])
		case strings.HasPrefix(line, "id: "):
			cur.id, cur.hasID = line[4:], true
		case strings.HasPrefix(line, "event: "):
			cur.name = line[7:]
		case strings.HasPrefix(line, "data: "):
			cur.data = line[6:]
		}
	}
	return evs, sc.Err()
}
