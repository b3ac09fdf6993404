package httpapi_test

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

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
