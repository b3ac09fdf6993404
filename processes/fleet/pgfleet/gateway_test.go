package pgfleet_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/processes/fleet"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

// TestGatewayOddText: over PostgreSQL, an ID, a workspace or a criterion
// that its text cannot hold (a NUL byte, invalid UTF-8) is a client's
// error: a start answers 400 and places nothing, a criterion no host
// matches 503 "no_agent", a session route 404; never 500, which the
// database's encoding error made of each.
func TestGatewayOddText(t *testing.T) {
	ctx := t.Context()
	st, _ := newStore(t)
	require.NoError(t, st.RegisterHost(ctx, fleet.Host{ID: "h", Capacity: 4, Addr: "http://127.0.0.1:1"}, time.Now()))
	disp := fleet.NewCommandDispatcher(st, fleet.DispatcherOptions{})
	go disp.Start()
	t.Cleanup(disp.Stop)
	gw, err := fleet.NewGateway(ctx, st, fleet.NewAgentSelector(st, fleet.SelectorOptions{}), disp, fleet.GatewayOptions{
		Authorize:    func(r *http.Request) (string, error) { return url.QueryUnescape(r.Header.Get("X-Workspace")) },
		StartTimeout: time.Millisecond, // no agent runs: a start placed would wait for nothing
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, gw.Close()) })
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)

	for _, tt := range []struct {
		name, method, path, ws, body string
		status                       int
		code                         string
	}{
		{"start of an ID with a NUL byte", "POST", "/", "", `{"id":"a\u0000b","argv":["true"]}`, http.StatusBadRequest, httpapi.CodeBadRequest},
		{"start in a workspace with a NUL byte", "POST", "/", "w%00", `{"id":"a","argv":["true"]}`, http.StatusBadRequest, httpapi.CodeBadRequest},
		{"start in a workspace of invalid UTF-8", "POST", "/", "w%FF", `{"id":"a","argv":["true"]}`, http.StatusBadRequest, httpapi.CodeBadRequest},
		{"start in a region with a NUL byte", "POST", "/?region=%00", "", `{"argv":["true"]}`, http.StatusServiceUnavailable, fleet.CodeNoAgent},
		{"start on a platform of invalid UTF-8", "POST", "/?platform=%FF", "", `{"argv":["true"]}`, http.StatusServiceUnavailable, fleet.CodeNoAgent},
		{"status of an ID with a NUL byte", "GET", "/a%00b", "", "", http.StatusNotFound, httpapi.CodeNotFound},
		{"output of an ID of invalid UTF-8", "GET", "/a%FFb/output", "", "", http.StatusNotFound, httpapi.CodeNotFound},
		{"delete of an ID with a NUL byte", "DELETE", "/a%00b", "", "", http.StatusNotFound, httpapi.CodeNotFound},
		{"status in a workspace with a NUL byte", "GET", "/a", "w%00", "", http.StatusNotFound, httpapi.CodeNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(ctx, tt.method, srv.URL+httpapi.DefaultPrefix+tt.path, strings.NewReader(tt.body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Workspace", tt.ws)
			resp, err := srv.Client().Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			var e struct{ Code string }
			_ = json.NewDecoder(resp.Body).Decode(&e)
			assert.Equal(t, tt.status, resp.StatusCode)
			assert.Equal(t, tt.code, e.Code)
		})
	}
	h, err := st.Host(ctx, "h")
	require.NoError(t, err)
	assert.Zero(t, h.Seats, "seats taken by refused starts")
}
