package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"

	"github.com/sessionkit/sessionkit/processes"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestHandlerRefuses checks the answers that need no terminal: a foreign
// Host, a bad start body and a cross-origin start.
func TestHandlerRefuses(t *testing.T) {
	m := processes.NewManager(time.Minute)
	t.Cleanup(func() { _ = m.Shutdown(t.Context()) })
	h := newHandler(m, config{Port: 8080, Argv: []string{"sh"}, Idle: time.Minute})

	tests := []struct {
		name   string
		method string
		host   string
		path   string
		body   string
		header map[string]string
		status int
		code   string
	}{
		{"foreign host", "GET", "attacker.example:8080", "/", "", nil, http.StatusForbidden, "forbidden_host"},
		{"no size", "POST", "127.0.0.1:8080", apiPrefix + "/", `{}`, nil, http.StatusBadRequest, "bad_request"},
		{"too large", "POST", "127.0.0.1:8080", apiPrefix + "/", `{"rows":24,"cols":100000}`, nil, http.StatusBadRequest, "bad_request"},
		{"cross origin", "POST", "127.0.0.1:8080", apiPrefix + "/", `{"rows":24,"cols":80}`,
			map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://attacker.example"}, http.StatusForbidden, "cross_origin"},
		{"unknown terminal", "GET", "localhost:8080", apiPrefix + "/nosuch", "", nil, http.StatusNotFound, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			r.Host = tt.host
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			assert.Equal(t, tt.status, w.Code, "got status %d, want %d: %s", w.Code, tt.status, w.Body)
			assert.Contains(t, w.Body.String(), `"code":"`+tt.code+`"`)
		})
	}
}

// TestHandlerServesPage checks that the page and the vendored scripts are
// embedded and served.
func TestHandlerServesPage(t *testing.T) {
	m := processes.NewManager(time.Minute)
	t.Cleanup(func() { _ = m.Shutdown(t.Context()) })
	h := newHandler(m, config{Port: 8080, Argv: []string{"sh"}, Idle: time.Minute})
	for _, p := range []string{"/", "/webterm.js", "/xterm.js", "/xterm.css", "/addon-fit.js", "/LICENSE.xterm", "/LICENSE.addon-fit"} {
		r := httptest.NewRequest("GET", p, nil)
		r.Host = "127.0.0.1:8080"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		assert.Equal(t, http.StatusOK, w.Code, "GET %s: got %d, want 200", p, w.Code)
	}
}
