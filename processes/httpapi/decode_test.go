package httpapi_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

// Every class of decoding error gets a message of ours: no Go type, no
// package path, no decoder text.
func TestDecodeJSON(t *testing.T) {
	type inner struct {
		N int8 `json:"n"`
	}
	type request struct {
		Rows  uint16            `json:"rows"`
		Name  string            `json:"name"`
		Argv  []string          `json:"argv"`
		Ok    bool              `json:"ok"`
		Ratio float64           `json:"ratio"`
		Env   map[string]string `json:"env"`
		In    inner             `json:"in"`
		Data  []byte            `json:"data"`
	}
	tests := []struct {
		name       string
		body       string
		max        int64
		wantStatus int // 0: no error
		wantMsg    string
	}{
		{"valid", `{"rows":24,"name":"x","argv":["a"],"ok":true,"ratio":0.5,"env":{"A":"B"},"in":{"n":1},"data":"AP8="}`, 0, 0, ""},
		{"valid with trailing space", "{\"rows\":1}\n \t", 0, 0, ""},
		{"empty", ``, 0, 400, "httpapi: the body is empty; a JSON value is required"},
		{"only space", "  \n", 0, 400, "httpapi: the body is empty; a JSON value is required"},
		{"syntax", `{rows`, 0, 400, "httpapi: the body is not valid JSON (at byte 2)"},
		{"cut short", `{"rows":2`, 0, 400, "httpapi: the body ends before its JSON value does"},
		{"string for a number", `{"rows":"24"}`, 0, 400, `httpapi: field "rows" must be an integer from 0 to 65535`},
		{"number out of range", `{"rows":70000}`, 0, 400, `httpapi: field "rows" must be an integer from 0 to 65535`},
		{"negative for unsigned", `{"rows":-1}`, 0, 400, `httpapi: field "rows" must be an integer from 0 to 65535`},
		{"fraction for an integer", `{"rows":1.5}`, 0, 400, `httpapi: field "rows" must be an integer from 0 to 65535`},
		{"number for a string", `{"name":5}`, 0, 400, `httpapi: field "name" must be a string`},
		{"object for an array", `{"argv":{}}`, 0, 400, `httpapi: field "argv" must be an array`},
		{"number in an array", `{"argv":[1]}`, 0, 400, `httpapi: field "argv" must be a string`},
		{"string for a bool", `{"ok":"yes"}`, 0, 400, `httpapi: field "ok" must be true or false`},
		{"string for a float", `{"ratio":"x"}`, 0, 400, `httpapi: field "ratio" must be a number`},
		{"array for a map", `{"env":[]}`, 0, 400, `httpapi: field "env" must be an object`},
		{"nested out of range", `{"in":{"n":200}}`, 0, 400, `httpapi: field "in.n" must be an integer from -128 to 127`},
		{"bad base64", `{"data":5}`, 0, 400, `httpapi: field "data" must be a base64 string`},
		{"array for the object", `[1,2]`, 0, 400, "httpapi: the body must be an object"},
		{"string for the object", `"hello"`, 0, 400, "httpapi: the body must be an object"},
		{"unknown field", `{"rows":1,"colz":2}`, 0, 400, `httpapi: the body has an unknown field "colz"`},
		{"unknown field, long", `{"` + strings.Repeat("z", 100) + `":2}`, 0, 400, `httpapi: the body has an unknown field "` + strings.Repeat("z", 64) + `..."`},
		{"data after the value", `{"rows":1} {"rows":2}`, 0, 400, "httpapi: the body has data after its JSON value"},
		{"garbage after the value", `{"rows":1}x`, 0, 400, "httpapi: the body has data after its JSON value"},
		{"too large", `{"name":"` + strings.Repeat("x", 100) + `"}`, 50, 413, "httpapi: request body larger than 50 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			var v request
			err := httpapi.DecodeJSON(r, tt.max, &v)
			if tt.wantStatus == 0 {
				assert.NoError(t, err)
				return
			}
			var ae *httpapi.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.wantStatus, ae.Status)
			assert.Equal(t, tt.wantMsg, ae.Message)
			for _, leak := range []string{"Go value", "httpapi_test", "inner", "uint16", "int8", "json:", "struct", "map["} {
				assert.NotContains(t, ae.Message, leak)
			}
			if tt.wantStatus == 400 {
				assert.Equal(t, httpapi.CodeBadRequest, ae.Code)
				assert.ErrorIs(t, err, processes.ErrInvalid)
			} else {
				assert.Equal(t, httpapi.CodeTooLarge, ae.Code)
			}
		})
	}

	r := httptest.NewRequest("POST", "/", strings.NewReader(`{}`))
	var notPointer struct{}
	err := httpapi.DecodeJSON(r, 0, notPointer)
	var ae *httpapi.APIError
	assert.False(t, errors.As(err, &ae), "a bad v is the caller's bug, not the client's: got %v", err)
}

// The handler's own JSON route answers the same messages.
func TestResizeMessages(t *testing.T) {
	e := newEnv(t, nil, httpapi.Options{})
	e.m.Register(&processes.Session{ID: "s"})
	tests := []struct{ name, body, wantMsg string }{
		{"type", `{"rows":"24","cols":80}`, `httpapi: field "rows" must be an integer from 0 to 65535`},
		{"unknown field", `{"rows":24,"cols":80,"x":1}`, `httpapi: the body has an unknown field "x"`},
		{"empty", ``, "httpapi: the body is empty; a JSON value is required"},
		{"zero", `{"rows":0,"cols":80}`, "httpapi: rows and cols must be integers from 1 to 1000"},
		{"past MaxTerminalSize", `{"rows":24,"cols":1001}`, "httpapi: rows and cols must be integers from 1 to 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, "POST", "/s/resize", "-", tt.body)
			assert.Equal(t, http.StatusBadRequest, r.status)
			_, msg := errBody(t, r)
			assert.Equal(t, tt.wantMsg, msg)
		})
	}
}
