package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

// Distinct (workspace, id) pairs never share a Manager ID, however their
// strings join.
func TestScopedIDIsInjective(t *testing.T) {
	pairs := [][2]string{
		{"a", "b/c"}, {"a/b", "c"}, {"", "a/b/c"}, {"a%2Fb", "c"}, {"a%252Fb", "c"},
		{"a", "b"}, {"a/", "b"}, {"a", "/b"}, {"", ""}, {"", "/"}, {"/", ""},
		{"ws", "build"}, {"ws ", "build"}, {"w", "s/build"},
	}
	seen := map[string][2]string{}
	for _, p := range pairs {
		id := httpapi.ScopedID(p[0], p[1])
		if prev, ok := seen[id]; ok {
			t.Errorf("ScopedID(%q, %q) = ScopedID(%q, %q) = %q", p[0], p[1], prev[0], prev[1], id)
		}
		seen[id] = p
	}
}

func TestSessionIDOutsideTheHandler(t *testing.T) {
	r := httptest.NewRequest("POST", "/", nil)
	assert.Equal(t, "build", httpapi.SessionID(r, "build"), "a request the handler did not scope")
	a, b := httpapi.SessionID(r, ""), httpapi.SessionID(r, "")
	assert.Len(t, a, 22, "128 random bits in base64")
	assert.NotEqual(t, a, b)
	assert.Empty(t, httpapi.Workspace(r.Context()))
}

// CheckClientID refuses what no URL names and what logs and stores mangle,
// and takes every other ID.
func TestCheckClientID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"", true},
		{"build", true},
		{"a/b", true},
		{"ünïcødé ☃", true},
		{"...", true},
		{strings.Repeat("x", httpapi.MaxClientIDBytes), true},
		{".", false},
		{"..", false},
		{strings.Repeat("x", httpapi.MaxClientIDBytes+1), false},
		{"a\x00b", false},
		{"a\nb", false},
		{"a\x1b[2Jb", false},
		{"a\x7fb", false},
		{"a\u0085b", false},
		{"a\xffb", false},
	}
	for _, tt := range tests {
		err := httpapi.CheckClientID(tt.id)
		if tt.ok {
			assert.NoError(t, err, "CheckClientID(%q)", tt.id)
			continue
		}
		var ae *httpapi.APIError
		if assert.ErrorAs(t, err, &ae, "CheckClientID(%q)", tt.id) {
			assert.Equal(t, http.StatusBadRequest, ae.Status)
			assert.Equal(t, httpapi.CodeBadRequest, ae.Code)
			assert.ErrorIs(t, err, processes.ErrInvalid)
		}
	}
}
