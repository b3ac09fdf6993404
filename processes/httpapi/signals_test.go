//go:build unix

package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

// Signal names compare in ASCII only: letters that Unicode case folding
// maps to ASCII ones (ſ to S, ı to I, K to K) name no signal. The session
// has no process, so a name that is accepted answers 409 no_process and
// one that is refused 400 bad_request.
func TestSignalNamesASCIIOnly(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	e.m.Register(&processes.Session{ID: "s"})
	tests := []struct {
		name   string
		signal string
		known  bool
	}{
		{"upper", "HUP", true},
		{"lower", "hup", true},
		{"mixed with prefix", "SigHup", true},
		{"lower with prefix", "sigwinch", true},
		{"digits", "usr1", true},
		{"long s in sighup", "ſighup", false},
		{"dotless i in sighup", "sıghup", false},
		{"dotless i in int", "ınt", false},
		{"dotless i in quit", "quıt", false},
		{"long s in stop", "ſtop", false},
		{"long s in tstp", "tſtp", false},
		{"long s in usr1", "uſr1", false},
		{"dotless i in the prefix", "SıGTERM", false},
		{"Kelvin sign in kill", "\u212aill", false},
		{"Kelvin sign in kill, lower", "\u212aill", false},
		{"dotted capital I", "SIG\u0130NT", false},
		{"fullwidth", "ＩＮＴ", false},
		{"combining mark", "INT\u0301", false},
		{"NUL inside", "IN\x00T", false},
		{"space inside", "SIG INT", false},
		{"prefix only", "SIG", false},
		{"empty", "", false},
		{"longer than any", "SIGWINCHX", false},
		{"double prefix", "SIGSIGINT", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.c.Signal(t.Context(), "s", tt.signal)
			var ae *httpapi.APIError
			require.ErrorAs(t, err, &ae)
			if tt.known {
				assert.Equal(t, http.StatusConflict, ae.Status, "got %v for %q, want it accepted", err, tt.signal)
				assert.ErrorIs(t, err, processes.ErrNoProcess)
			} else {
				assert.Equal(t, http.StatusBadRequest, ae.Status, "got %v for %q, want it refused", err, tt.signal)
				assert.ErrorIs(t, err, processes.ErrInvalid)
			}
		})
	}
}
