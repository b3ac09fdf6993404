package loopback

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// CodeForbiddenHost is the "code" of the JSON error HostGuard answers.
const CodeForbiddenHost = "forbidden_host"

// HostGuard returns h behind a check of the Host header: only requests
// for 127.0.0.1:port, localhost:port or [::1]:port reach h, ASCII letters
// compared without case (no other letter may fold into an allowed name,
// as the Kelvin sign folds to k). Any other request is answered 403 with
// {"error": "<name>: Host … is not this server's loopback address",
// "code": "forbidden_host"}, and h never sees it. name, such as the
// program's name, begins that message; port is the port the server
// listens on.
func HostGuard(name string, port int, h http.Handler) http.Handler {
	p := strconv.Itoa(port)
	hosts := map[string]bool{"127.0.0.1:" + p: true, "localhost:" + p: true, "[::1]:" + p: true}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hosts[asciiLower(r.Host)] {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			b, _ := json.Marshal(struct {
				Error string `json:"error"`
				Code  string `json:"code"`
			}{name + ": Host " + strconv.Quote(r.Host) + " is not this server's loopback address", CodeForbiddenHost})
			_, _ = w.Write(append(b, '\n'))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// asciiLower lowers ASCII letters only.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}
