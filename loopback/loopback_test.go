package loopback_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"

	"github.com/sessionkit/sessionkit/loopback"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestHostGuard(t *testing.T) {
	h := loopback.HostGuard("test", 8080, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "reached")
	}))
	tests := []struct {
		host   string
		status int
	}{
		{"127.0.0.1:8080", 200},
		{"localhost:8080", 200},
		{"LOCALHOST:8080", 200},
		{"[::1]:8080", 200},
		{"localhost:8081", 403},        // another port
		{"localhost", 403},             // no port
		{"evil.example:8080", 403},     // DNS rebinding
		{"loca\u029fhost:8080", 403},   // a look-alike letter
		{"localhost:8080.", 403},       // a trailing dot
		{"\u212aocalhost:8080", 403},   // the Kelvin sign, which folds to k elsewhere
		{"127.0.0.1.nip.io:8080", 403}, // a name that resolves to loopback
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.Host = tt.host
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			assert.Equal(t, tt.status, w.Code)
			if tt.status == 200 {
				assert.Equal(t, "reached", w.Body.String())
				return
			}
			assert.JSONEq(t, `{"error":"test: Host `+quote(tt.host)+` is not this server's loopback address","code":"forbidden_host"}`, w.Body.String())
		})
	}
}

func quote(s string) string {
	b, _ := json.Marshal(strconv.Quote(s))
	return string(b[1 : len(b)-1])
}
