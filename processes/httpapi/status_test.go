//go:build linux

package httpapi_test

import (
	"net/http"
	"os/exec"
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
)

// wsClient is a client of e acting for workspace ws.
func wsClient(e *env, ws string) *httpapi.Client {
	c := httpapi.NewClient(e.base, e.srv.Client())
	c.Header = http.Header{"X-Workspace": {ws}}
	return c
}

func ptr[T any](v T) *T { return &v }

func TestStatus(t *testing.T) {
	mock := clock.NewMock()
	mock.Set(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	m := processes.NewManager(10*time.Minute, processes.WithClock(mock))
	e := procEnv(t, m, httpapi.Options{Authorize: byHeader})
	ca := wsClient(e, "a")
	t0 := mock.Now()

	running, err := m.Start(exec.Command("cat"), processes.StartOptions{ID: httpapi.ScopedID("a", "cat"), WorkspaceID: "a"})
	require.NoError(t, err)
	never, err := m.Start(exec.Command("cat"), processes.StartOptions{ID: httpapi.ScopedID("a", "never"), WorkspaceID: "a", IdleTimeout: processes.NeverIdle})
	require.NoError(t, err)
	killed, err := m.Start(exec.Command("sleep", "100"), processes.StartOptions{ID: httpapi.ScopedID("a", "killed"), WorkspaceID: "a"})
	require.NoError(t, err)
	require.NoError(t, ca.Signal(t.Context(), "killed", "KILL"))
	<-killed.Done()
	exited := &processes.Session{ID: httpapi.ScopedID("a", "exited"), WorkspaceID: "a"}
	m.Register(exited)
	mock.Add(4 * time.Minute)
	exited.SetExit(3)
	t4 := mock.Now()

	tests := []struct {
		name string
		sid  string
		s    *processes.Session
		want func(st *httpapi.SessionStatus)
	}{
		{"running, 6 minutes left", "cat", running, func(st *httpapi.SessionStatus) {
			st.Alive = true
			st.LastActivity = ptr(t0)
			st.IdleTimeoutSeconds, st.SecondsLeft = ptr(600.0), ptr(360.0)
		}},
		{"never idle", "never", never, func(st *httpapi.SessionStatus) {
			st.Alive = true
			st.LastActivity = ptr(t0)
		}},
		{"exited", "exited", exited, func(st *httpapi.SessionStatus) {
			st.Exit = ptr(3)
			st.ExitStatus = &httpapi.ExitStatus{Code: 3}
			st.Exited = ptr(t4)
			st.LastActivity = ptr(t4) // the exit is output activity
			st.IdleTimeoutSeconds, st.SecondsLeft = ptr(600.0), ptr(600.0)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ca.Status(t.Context(), tt.sid)
			require.NoError(t, err)
			want := httpapi.SessionStatus{ID: tt.sid, WorkspaceID: "a", InvocationID: tt.s.InvocationID(), Started: t0}
			tt.want(&want)
			assert.Equal(t, want, got)
		})
	}

	t.Run("killed", func(t *testing.T) {
		got, err := ca.Status(t.Context(), "killed")
		require.NoError(t, err)
		assert.False(t, got.Alive)
		require.NotNil(t, got.ExitStatus)
		assert.Equal(t, "SIGKILL", got.ExitStatus.Signal)
		assert.Equal(t, -1, got.ExitStatus.Code)
		assert.NotNil(t, got.Exited)
	})
	t.Run("another workspace", func(t *testing.T) {
		_, err := wsClient(e, "b").Status(t.Context(), "cat")
		assert.ErrorIs(t, err, processes.ErrNotFound)
	})
	t.Run("held by an attachment", func(t *testing.T) {
		_, finished := e.watch()
		c := dial(t, e, "/cat/attach", http.Header{"X-Workspace": {"a"}})
		readUntil(t, c, kindIs(httpapi.AttachHello))
		got, err := ca.Status(t.Context(), "cat")
		require.NoError(t, err)
		assert.Equal(t, ptr(600.0), got.SecondsLeft, "a connected client keeps the whole window")
		require.NoError(t, c.Close(websocket.StatusNormalClosure, ""))
		for r := proctest.Recv(t, finished); !strings.HasSuffix(r.URL.Path, "/attach"); r = proctest.Recv(t, finished) {
		}
	})
	t.Run("due", func(t *testing.T) {
		mock.Add(11 * time.Minute) // past the window the detach started
		got, err := ca.Status(t.Context(), "cat")
		require.NoError(t, err)
		assert.Equal(t, ptr(0.0), got.SecondsLeft)
	})
}

func TestList(t *testing.T) {
	mock := clock.NewMock()
	m := processes.NewManager(time.Minute, processes.WithClock(mock))
	e := newEnv(t, m, httpapi.Options{Authorize: byHeader})
	reg := func(id, ws string) *processes.Session {
		s := &processes.Session{ID: id, WorkspaceID: ws}
		m.Register(s)
		mock.Add(time.Second)
		return s
	}
	reg(httpapi.ScopedID("a", "second"), "a")
	reg(httpapi.ScopedID("b", "other"), "b")
	reg("unscoped", "a") // outside a's scope: not served, not listed
	reg(httpapi.ScopedID("a", "first"), "a").SetExit(0)
	reg(httpapi.ScopedID("a", "b/first"), "a")

	tests := []struct {
		ws   string
		want []string
	}{
		{"a", []string{"second", "first", "b/first"}},
		{"b", []string{"other"}},
		{"c", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.ws, func(t *testing.T) {
			list, err := wsClient(e, tt.ws).List(t.Context())
			require.NoError(t, err)
			require.NotNil(t, list)
			ids := []string{}
			for _, st := range list {
				ids = append(ids, st.ID)
				assert.Equal(t, tt.ws, st.WorkspaceID)
				one, err := wsClient(e, tt.ws).Status(t.Context(), st.ID)
				require.NoError(t, err)
				assert.Equal(t, one, st, "the listed status of %s is its own", st.ID)
			}
			assert.Equal(t, tt.want, ids, "got IDs, want in order of start")
		})
	}
	r := e.do(t, "GET", "/", "-", "")
	assert.Equal(t, http.StatusUnauthorized, r.status, "list without a workspace")
}
