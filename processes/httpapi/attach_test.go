//go:build linux

package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/httpapi"
	"github.com/sessionkit/sessionkit/ptyterm"
)

// wsMsg is one message of an attachment: output bytes, or a decoded JSON
// control message.
type wsMsg struct {
	out  []byte
	ctl  map[string]any
	kind string // "output" or the control message's type
}

// dial attaches to path under the prefix with the given headers; it fails
// the test unless the upgrade succeeds.
func dial(t *testing.T, e *env, path string, hdr http.Header) *websocket.Conn {
	t.Helper()
	c, resp, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(e.base, "http")+path,
		&websocket.DialOptions{HTTPHeader: hdr, HTTPClient: e.srv.Client()})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	require.NoError(t, err)
	c.SetReadLimit(8 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// dialStatus tries to attach and returns the status of the refused upgrade.
func dialStatus(t *testing.T, e *env, path string, hdr http.Header) int {
	t.Helper()
	c, resp, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(e.base, "http")+path,
		&websocket.DialOptions{HTTPHeader: hdr, HTTPClient: e.srv.Client()})
	if err == nil {
		c.CloseNow()
		return http.StatusSwitchingProtocols
	}
	require.NotNil(t, resp, "dial: %v", err)
	if resp.Body != nil {
		resp.Body.Close()
	}
	return resp.StatusCode
}

// next reads one message.
func next(t *testing.T, c *websocket.Conn) (wsMsg, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	typ, p, err := c.Read(ctx)
	if err != nil {
		return wsMsg{}, err
	}
	if typ == websocket.MessageBinary {
		return wsMsg{out: p, kind: "output"}, nil
	}
	var m map[string]any
	require.NoError(t, json.Unmarshal(p, &m), "control message %q", p)
	return wsMsg{ctl: m, kind: m["type"].(string)}, nil
}

// readUntil reads messages until one of kind stop arrives, and returns the
// output bytes before it and the control messages, stop included.
func readUntil(t *testing.T, c *websocket.Conn, stop func(wsMsg) bool) (out []byte, ctls []wsMsg) {
	t.Helper()
	for {
		m, err := next(t, c)
		require.NoError(t, err)
		if m.kind == "output" {
			out = append(out, m.out...)
		} else {
			ctls = append(ctls, m)
		}
		if stop(m) {
			return out, ctls
		}
	}
}

func kindIs(kinds ...string) func(wsMsg) bool {
	return func(m wsMsg) bool {
		for _, k := range kinds {
			if m.kind == k {
				return true
			}
		}
		return false
	}
}

// echoed stops once the output so far contains want.
func echoed(want string) func(wsMsg) bool {
	var seen []byte
	return func(m wsMsg) bool {
		seen = append(seen, m.out...)
		return bytes.Contains(seen, []byte(want))
	}
}

// sendJSON sends a control message.
func sendJSON(t *testing.T, c *websocket.Conn, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	require.NoError(t, c.Write(t.Context(), websocket.MessageText, b))
}

// closeStatus reads until the socket ends and returns its close status.
func closeStatus(t *testing.T, c *websocket.Conn) (websocket.StatusCode, string) {
	t.Helper()
	for {
		_, err := next(t, c)
		if err != nil {
			var ce websocket.CloseError
			if assertAs(t, err, &ce) {
				return ce.Code, ce.Reason
			}
			return -1, ""
		}
	}
}

func assertAs(t *testing.T, err error, target any) bool {
	t.Helper()
	return assert.ErrorAs(t, err, target)
}

func TestAttachReplayThenLiveThenExit(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	s := &processes.Session{ID: "s"}
	e.m.Register(s)
	s.Append("stdout", []byte("one\n"))
	s.Append("stdout", []byte("two\n"))

	tests := []struct {
		name, query, want string
		since             float64
	}{
		{"from the start", "", "one\ntwo\nthree\n", 0},
		{"since 1", "?since=1", "two\nthree\n", 1},
		{"with the invocation", "?since=1&invocation=" + s.InvocationID(), "two\nthree\n", 1},
	}
	var conns []*websocket.Conn
	for _, tt := range tests {
		c := dial(t, e, "/s/attach"+tt.query, nil)
		m, err := next(t, c)
		require.NoError(t, err)
		require.Equal(t, httpapi.AttachHello, m.kind, tt.name)
		assert.Equal(t, s.InvocationID(), m.ctl["invocation_id"], tt.name)
		assert.Equal(t, tt.since, m.ctl["since"], tt.name)
		conns = append(conns, c)
	}
	s.Append("stdout", []byte("three\n")) // live for every viewer
	s.SetExit(3)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, ctls := readUntil(t, conns[i], kindIs(httpapi.AttachExit))
			assert.Equal(t, tt.want, string(out))
			require.Len(t, ctls, 1, "control messages: %v", ctls)
			assert.Equal(t, map[string]any{"type": "exit", "exit": 3.0, "seq": 3.0}, ctls[0].ctl)
			code, reason := closeStatus(t, conns[i])
			assert.Equal(t, websocket.StatusNormalClosure, code)
			assert.Equal(t, "exited", reason)
		})
	}
}

func TestAttachRefused(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{Authorize: byHeader, TrustedOrigins: []string{"https://app.example.com"}})
	s := &processes.Session{ID: httpapi.ScopedID("a", "s"), WorkspaceID: "a"}
	e.m.Register(s)
	s.Append("stdout", []byte("x"))
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	tests := []struct {
		name string
		path string
		hdr  http.Header
		want int
	}{
		{"own workspace, no Origin", "/s/attach", hdr("X-Workspace", "a"), http.StatusSwitchingProtocols},
		{"same origin", "/s/attach", hdr("X-Workspace", "a", "Origin", e.srv.URL), http.StatusSwitchingProtocols},
		{"trusted origin", "/s/attach", hdr("X-Workspace", "a", "Origin", "https://app.example.com"), http.StatusSwitchingProtocols},
		{"cross origin", "/s/attach", hdr("X-Workspace", "a", "Origin", "https://evil.example"), http.StatusForbidden},
		{"trusted host on another scheme", "/s/attach", hdr("X-Workspace", "a", "Origin", "http://app.example.com"), http.StatusForbidden},
		{"another workspace", "/s/attach", hdr("X-Workspace", "b"), http.StatusNotFound},
		{"no such session", "/t/attach", hdr("X-Workspace", "a"), http.StatusNotFound},
		{"unauthorized", "/s/attach", nil, http.StatusUnauthorized},
		{"bad since", "/s/attach?since=-1", hdr("X-Workspace", "a"), http.StatusBadRequest},
		{"cursor ahead", "/s/attach?since=9", hdr("X-Workspace", "a"), http.StatusConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, dialStatus(t, e, tt.path, tt.hdr))
		})
	}
	r := e.doHeader(t, "GET", "/s/attach", "a", "", hdr("Origin", "https://evil.example", "Connection", "Upgrade",
		"Upgrade", "websocket", "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="))
	require.Equal(t, http.StatusForbidden, r.status)
	code, _ := errBody(t, r)
	assert.Equal(t, httpapi.CodeCrossOrigin, code)
}

func TestAttachClosedReason(t *testing.T) {
	tests := []struct {
		name  string
		close func(m *processes.Manager, s *processes.Session)
		want  string
	}{
		{"forgotten", func(m *processes.Manager, s *processes.Session) { m.Forget(s.ID) }, httpapi.CodeForgotten},
		{"replaced", func(m *processes.Manager, s *processes.Session) { m.Register(&processes.Session{ID: s.ID}) }, httpapi.CodeReplaced},
		{"shut down", func(m *processes.Manager, s *processes.Session) { require.NoError(t, m.Shutdown(t.Context())) }, httpapi.CodeShutDown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil, httpapi.Options{})
			s := &processes.Session{ID: "s"}
			e.m.Register(s)
			c := dial(t, e, "/s/attach", nil)
			m, err := next(t, c)
			require.NoError(t, err)
			require.Equal(t, httpapi.AttachHello, m.kind)
			tt.close(e.m, s)
			_, ctls := readUntil(t, c, kindIs(httpapi.AttachClosed, httpapi.AttachExit))
			require.Len(t, ctls, 1)
			assert.Equal(t, httpapi.AttachClosed, ctls[0].kind)
			assert.Equal(t, tt.want, ctls[0].ctl["code"])
			code, reason := closeStatus(t, c)
			assert.Equal(t, websocket.StatusNormalClosure, code)
			assert.Equal(t, tt.want, reason)
		})
	}
}

// Closing a session whose process is running terminates the process: an
// attachment and an event stream get what it printed while it was being
// terminated, its exit, and then why the session was closed, however it
// was closed.
func TestCloseEndingTheProcessSendsItsExitFirst(t *testing.T) {
	tests := []struct {
		name  string
		close func(t *testing.T, e *env, sid string)
		want  string
	}{
		{"DELETE", func(t *testing.T, e *env, sid string) {
			require.Equal(t, http.StatusNoContent, e.do(t, "DELETE", "/"+sid, "-", "").status)
		}, httpapi.CodeForgotten},
		{"Shutdown", func(t *testing.T, e *env, sid string) { require.NoError(t, e.m.Shutdown(t.Context())) }, httpapi.CodeShutDown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := procEnv(t, nil, httpapi.Options{})
			sid := start(t, e, "sh", "-c", `trap 'echo bye; exit 7' TERM; echo ready; while :; do sleep 0.01; done`)
			c := dial(t, e, "/"+sid+"/attach", nil)
			readUntil(t, c, echoed("ready\n"))
			req, err := http.NewRequestWithContext(t.Context(), "GET", e.base+"/"+sid+"/events?since=1", nil)
			require.NoError(t, err)
			resp, err := e.srv.Client().Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			got := make(chan []event, 1)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			go func() {
				evs, err := readEvents(resp.Body, nil)
				assert.NoError(t, err)
				got <- evs
			}()

			tt.close(t, e, sid)
			out, ctls := readUntil(t, c, kindIs(httpapi.AttachClosed))
			var kinds []string
			for _, m := range ctls {
				kinds = append(kinds, m.kind)
			}
			require.Equal(t, []string{httpapi.AttachExit, httpapi.AttachClosed}, kinds, "the attachment's messages after the close")
			assert.Contains(t, string(out), "bye\n", "what the program printed while it was terminated")
			assert.Equal(t, 7.0, ctls[0].ctl["exit"])
			assert.Equal(t, tt.want, ctls[1].ctl["code"])

			var names []string
			var printed []byte
			for _, ev := range content(t, proctest.Recv(t, got)) {
				names = append(names, ev.name)
				if ev.name == "output" {
					var o struct{ Data []byte }
					require.NoError(t, json.Unmarshal([]byte(ev.data), &o))
					printed = append(printed, o.Data...)
				}
			}
			require.NotEmpty(t, names)
			assert.Equal(t, []string{"exit", "closed"}, names[len(names)-2:], "the event stream's last events")
			assert.Contains(t, string(printed), "bye\n")
		})
	}
}

// A program that takes no input stops the reading of an attachment's
// messages for Options.StdinTimeout at most: then the viewer gets a
// timeout error saying how much of the message was written, the socket is
// read again, and a client that left meanwhile is noticed, so that its
// attachment ends and no longer holds the session.
func TestAttachInputStallEndsAfterStdinTimeout(t *testing.T) {
	mock := clock.NewMock()
	m := processes.NewManager(time.Minute, processes.WithClock(mock))
	e := procEnv(t, m, httpapi.Options{StdinTimeout: 100 * time.Millisecond})
	sid := start(t, e, "sleep", "1000") // never reads its stdin
	msg := bytes.Repeat([]byte("x"), httpapi.MaxAttachMessageBytes)
	_, finished := e.watch()
	attachEnded := func() {
		for r := proctest.Recv(t, finished); !strings.HasSuffix(r.URL.Path, "/attach"); r = proctest.Recv(t, finished) {
		}
	}

	// A client that stays: the pipe takes 64 KiB, the third message stalls.
	c := dial(t, e, "/"+sid+"/attach", nil)
	readUntil(t, c, kindIs(httpapi.AttachHello))
	for range 3 {
		require.NoError(t, c.Write(t.Context(), websocket.MessageBinary, msg))
	}
	_, ctls := readUntil(t, c, kindIs(httpapi.AttachError))
	last := ctls[len(ctls)-1].ctl
	assert.Equal(t, httpapi.CodeTimeout, last["code"])
	assert.Contains(t, last["error"], "bytes of the message were written to stdin")
	require.NoError(t, c.Close(websocket.StatusNormalClosure, ""))
	attachEnded()

	// A client that leaves while its input stalls.
	c = dial(t, e, "/"+sid+"/attach", nil)
	readUntil(t, c, kindIs(httpapi.AttachHello))
	require.NoError(t, c.Write(t.Context(), websocket.MessageBinary, msg))
	require.NoError(t, c.CloseNow())
	attachEnded()
	mock.Add(2 * time.Minute)
	m.Sweep()
	_, ok := m.Get(sid)
	assert.False(t, ok, "the session is evicted as idle once no attachment holds it")
}

// A trusted origin is compared as a whole before it is taken as a pattern:
// an IPv6 literal, a character class to path.Match, passes attach as it
// passes the routes that change state.
func TestAttachTrustedIPv6Origin(t *testing.T) {
	const origin = "http://[::1]:3000"
	e := newEnv(t, nil, httpapi.Options{TrustedOrigins: []string{origin}})
	e.m.Register(&processes.Session{ID: "s"})
	hdr := http.Header{"Origin": {origin}, "Sec-Fetch-Site": {"cross-site"}}
	r := e.doHeader(t, "DELETE", "/nosuch", "-", "", hdr)
	require.Equal(t, http.StatusNotFound, r.status, "a route that changes state lets the trusted origin through: %s", r.body)
	assert.Equal(t, http.StatusSwitchingProtocols, dialStatus(t, e, "/s/attach", hdr), "attach from the trusted origin %s", origin)
	other := http.Header{"Origin": {"http://[::2]:3000"}}
	assert.Equal(t, http.StatusForbidden, dialStatus(t, e, "/s/attach", other), "attach from another IPv6 origin")
}

// GET attach without a WebSocket handshake, or with a broken one, answers
// a JSON error as every route does.
func TestAttachWithoutHandshakeAnswersJSON(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	e.m.Register(&processes.Session{ID: "s"})
	tests := []struct {
		name     string
		hdr      http.Header
		status   int
		wantCode string
	}{
		{"plain GET", nil, http.StatusUpgradeRequired, httpapi.CodeUpgradeRequired},
		{"version 8", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"8"},
			"Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}, http.StatusBadRequest, httpapi.CodeBadRequest},
		{"no key", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"}},
			http.StatusBadRequest, httpapi.CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.doHeader(t, "GET", "/s/attach", "-", "", tt.hdr)
			assert.Equal(t, tt.status, r.status, r.body)
			assert.Equal(t, "application/json", r.header.Get("Content-Type"))
			code, msg := errBody(t, r)
			assert.Equal(t, tt.wantCode, code)
			assert.Contains(t, msg, "httpapi: attach needs a WebSocket handshake")
			if tt.status == http.StatusUpgradeRequired {
				assert.Equal(t, "websocket", r.header.Get("Upgrade"))
			}
		})
	}
}

func TestAttachInputEchoesAndIsActivity(t *testing.T) {
	mock := clock.NewMock()
	m := processes.NewManager(time.Hour, processes.WithClock(mock))
	e := newEnv(t, m, httpapi.Options{})
	term, err := ptyterm.Start(m, exec.Command("cat"), ptyterm.Options{ID: "t", IdleTimeout: time.Minute})
	require.NoError(t, err)
	s := term.Session()

	c := dial(t, e, "/t/attach", nil)
	for i, send := range []func(){
		func() { require.NoError(t, c.Write(t.Context(), websocket.MessageBinary, []byte("binary\n"))) },
		func() { sendJSON(t, c, map[string]string{"type": "input", "data": "text\n"}) },
	} {
		mock.Add(50 * time.Second)
		send()
		want := []string{"binary", "text"}[i]
		readUntil(t, c, echoed(want+"\r\n"))
		assert.Equal(t, mock.Now(), s.LastActivity(), "%s input counts as activity", want)
		mock.Add(50 * time.Second) // 100 s since the previous input, 50 s since this one
		m.Sweep()
		require.False(t, s.Closed(), "evicted %v after %s input", s.CloseReason(), want)
	}
}

func TestAttachResize(t *testing.T) {
	e := procEnv(t, nil, httpapi.Options{})
	_, err := ptyterm.Start(e.m, exec.Command("sh"), ptyterm.Options{ID: "t", Rows: 25, Cols: 90})
	require.NoError(t, err)
	c := dial(t, e, "/t/attach", nil)
	_, hello := readUntil(t, c, kindIs(httpapi.AttachHello))
	assert.Equal(t, true, hello[0].ctl["tty"], "hello of a terminal")
	assert.Equal(t, 25.0, hello[0].ctl["rows"])
	assert.Equal(t, 90.0, hello[0].ctl["cols"])
	sendJSON(t, c, map[string]any{"type": "resize", "rows": 33, "cols": 101})
	require.NoError(t, c.Write(t.Context(), websocket.MessageBinary, []byte("echo size=$(stty size)\n")))
	readUntil(t, c, echoed("size=33 101"))

	tests := []struct {
		name, sid string
		msg       string
		wantCode  string
	}{
		{"zero size", "t", `{"type":"resize","rows":0,"cols":80}`, httpapi.CodeBadRequest},
		{"past MaxTerminalSize", "t", `{"type":"resize","rows":65535,"cols":65535}`, httpapi.CodeBadRequest},
		{"one column past MaxTerminalSize", "t", `{"type":"resize","rows":24,"cols":1001}`, httpapi.CodeBadRequest},
		{"not JSON", "t", `ls`, httpapi.CodeBadRequest},
		{"unknown type", "t", `{"type":"dance"}`, httpapi.CodeBadRequest},
		{"pipe session", "p", `{"type":"resize","rows":30,"cols":90}`, httpapi.CodeNotTerminal},
	}
	sid := start(t, e, "cat")
	pc := dial(t, e, "/"+sid+"/attach", nil)
	_, hello = readUntil(t, pc, kindIs(httpapi.AttachHello))
	assert.Equal(t, false, hello[0].ctl["tty"], "hello of a pipe session")
	assert.NotContains(t, hello[0].ctl, "rows")
	st, err := e.c.Status(t.Context(), "t")
	require.NoError(t, err)
	assert.True(t, st.TTY)
	assert.Equal(t, [2]uint16{33, 101}, [2]uint16{st.Rows, st.Cols}, "status after the resize")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := c
			if tt.sid == "p" {
				conn = pc
			}
			require.NoError(t, conn.Write(t.Context(), websocket.MessageText, []byte(tt.msg)))
			_, ctls := readUntil(t, conn, kindIs(httpapi.AttachError))
			assert.Equal(t, tt.wantCode, ctls[len(ctls)-1].ctl["code"])
			// The socket stays open: input still reaches the program.
			require.NoError(t, conn.Write(t.Context(), websocket.MessageBinary, []byte("echo still-"+strings.ReplaceAll(tt.name, " ", "-")+"\n")))
			readUntil(t, conn, echoed("still-"+strings.ReplaceAll(tt.name, " ", "-")))
		})
	}
	st, err = e.c.Status(t.Context(), "t")
	require.NoError(t, err)
	assert.Equal(t, [2]uint16{33, 101}, [2]uint16{st.Rows, st.Cols}, "the refused resizes changed nothing")
}

func TestAttachSlowViewerStallsNobody(t *testing.T) {
	const n = 16 << 20
	// The write timeout cuts off the viewer that does not read; it is long
	// enough that the one that reads is never cut off on a loaded machine
	// (at 200 ms a test run beside others saw it happen).
	e := procEnv(t, nil, httpapi.Options{WriteTimeout: time.Second})
	sid := start(t, e, "sh", "-c", "read go; head -c 16777216 /dev/zero")
	slow := dial(t, e, "/"+sid+"/attach", nil) // never reads until the flood is over
	fast := dial(t, e, "/"+sid+"/attach", nil)
	readUntil(t, fast, kindIs(httpapi.AttachHello))
	require.NoError(t, fast.Write(t.Context(), websocket.MessageBinary, []byte("go\n")))

	out, ctls := readUntil(t, fast, kindIs(httpapi.AttachExit, httpapi.AttachClosed))
	lost := 0
	for _, m := range ctls {
		if m.kind == httpapi.AttachMissed {
			lost += int(m.ctl["missed"].(float64))
		}
	}
	// Missed is exact unless the viewer fell thousands of chunks behind,
	// where it is a lower bound.
	if lost == 0 {
		assert.Equal(t, n, len(out), "bytes received by the reading viewer, which missed none")
	} else {
		assert.LessOrEqual(t, len(out)+lost, n, "bytes received plus bytes missed by the reading viewer")
	}
	last := ctls[len(ctls)-1]
	require.Equal(t, httpapi.AttachExit, last.kind, "the program ran to its end: %v", last.ctl)
	assert.Equal(t, 0.0, last.ctl["exit"])

	// The viewer that did not read was cut off after the write timeout, or
	// told what it missed.
	var missed, cut bool
	var received int
	for !missed && !cut {
		m, err := next(t, slow)
		switch {
		case err != nil:
			cut = true
		case m.kind == httpapi.AttachMissed:
			missed = true
		case m.kind == "output":
			received += len(m.out)
		case m.kind == httpapi.AttachExit:
			t.Fatalf("the slow viewer got all %d bytes and the exit without missing any", received)
		}
	}
	assert.Less(t, received, n, "bytes the slow viewer received")
}

// An attachment keeps no output between its batches: many viewers that
// caught up with a full ring hold little memory each.
func TestAttachmentsRetainLittle(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	s := &processes.Session{ID: "s"}
	e.m.Register(s)
	chunk := make([]byte, 4<<10)
	for range 2 * processes.MaxBufferBytes / len(chunk) {
		s.Append("stdout", chunk)
	}

	retained := 2*processes.MaxBufferBytes - s.LostBytes()
	const viewers = 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range viewers {
		c := dial(t, e, "/s/attach", nil)
		got := 0
		readUntil(t, c, func(m wsMsg) bool {
			got += len(m.out)
			return got == retained
		})
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / viewers
	t.Logf("%d attachments that caught up with a full ring hold %d KiB each, both ends", viewers, per>>10)
	assert.Less(t, per, int64(64<<10), "bytes held per attachment")
}

// A terminal counts input, not connected viewers: an attachment that types
// nothing does not keep it open, and learns why it closed.
func TestAttachIdleClose(t *testing.T) {
	mock := clock.NewMock()
	m := processes.NewManager(time.Hour, processes.WithClock(mock))
	e := newEnv(t, m, httpapi.Options{})
	term, err := ptyterm.Start(m, exec.Command("cat"), ptyterm.Options{ID: "t", IdleTimeout: time.Minute})
	require.NoError(t, err)
	c := dial(t, e, "/t/attach", nil)
	readUntil(t, c, kindIs(httpapi.AttachHello))

	mock.Add(2 * time.Minute)
	m.Sweep()
	require.ErrorIs(t, term.Session().CloseReason(), processes.ErrIdleTimeout)
	// The exit of cat, hung up, may come first: the reason comes last.
	_, ctls := readUntil(t, c, kindIs(httpapi.AttachClosed))
	assert.Equal(t, httpapi.CodeIdleTimeout, ctls[len(ctls)-1].ctl["code"])
	code, reason := closeStatus(t, c)
	assert.Equal(t, websocket.StatusNormalClosure, code)
	assert.Equal(t, httpapi.CodeIdleTimeout, reason)
}

// The server's ReadTimeout and WriteTimeout bound the request that
// upgrades, not the socket it becomes.
func TestAttachOutlivesServerTimeouts(t *testing.T) {
	m := processes.NewManager(0)
	srv := httptest.NewUnstartedServer(httpapi.NewHandler(m, httpapi.Options{}))
	srv.Config.ReadTimeout = 50 * time.Millisecond
	srv.Config.WriteTimeout = 50 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(func() { require.NoError(t, m.Shutdown(context.Background())) })
	s, err := m.Start(exec.Command("sh", "-c", "sleep 0.3; echo late; read x; echo got $x"), processes.StartOptions{ID: "s"})
	require.NoError(t, err)
	t.Cleanup(func() { proctest.RequireGone(t, s.Pid()) })

	e := &env{srv: srv, base: srv.URL + httpapi.DefaultPrefix}
	c := dial(t, e, "/s/attach", nil)
	readUntil(t, c, echoed("late\n")) // written 300 ms on, past both timeouts
	require.NoError(t, c.Write(t.Context(), websocket.MessageBinary, []byte("yes\n")))
	out, ctls := readUntil(t, c, kindIs(httpapi.AttachExit))
	assert.Equal(t, "got yes\n", string(out))
	assert.Equal(t, 0.0, ctls[len(ctls)-1].ctl["exit"])
}

// TestWarningReachesClients: a terminal's idle warning reaches an
// attachment and an event stream with the seconds left, and the status.
func TestWarningReachesClients(t *testing.T) {
	mock := clock.NewMock()
	m := processes.NewManager(time.Hour, processes.WithClock(mock))
	e := newEnv(t, m, httpapi.Options{})
	_, err := ptyterm.Start(m, exec.Command("cat"), ptyterm.Options{ID: "s", IdleTimeout: time.Minute, WarnBefore: 20 * time.Second})
	require.NoError(t, err)
	c := dial(t, e, "/s/attach", nil)
	readUntil(t, c, kindIs(httpapi.AttachHello))
	resp := openEvents(t, e, t.Context(), "", "")
	got := make(chan []event, 1)
	go func() {
		evs, err := readEvents(resp.Body, func(ev event) bool { return ev.name == "warning" })
		assert.NoError(t, err)
		got <- evs
	}()

	mock.Add(40 * time.Second) // the warning is due: 20 s before the close
	_, ctls := readUntil(t, c, kindIs(httpapi.AttachWarning))
	assert.Equal(t, 20.0, ctls[len(ctls)-1].ctl["seconds_left"], "attachment")
	evs := proctest.Recv(t, got)
	assert.JSONEq(t, `{"seconds_left":20}`, evs[len(evs)-1].data, "event stream")
	st, err := e.c.Status(t.Context(), "s")
	require.NoError(t, err)
	require.NotNil(t, st.WarningSecondsLeft)
	assert.Equal(t, 20.0, *st.WarningSecondsLeft)
	resp.Body.Close()
}
