// Package loopback guards the example servers, which listen on a loopback
// address, against DNS rebinding: a page of another site whose name its
// DNS server points at 127.0.0.1 can make the browser send requests to
// the loopback server, same-origin as far as the browser knows, but each
// carries the site's name in its Host header. [HostGuard] lets through
// only requests addressed to the loopback server by its own names.
//
// It is for the programs in examples/, which must not be reachable from
// the web pages their users visit; a server of your own behind a proxy
// checks Host its own way.
//
// # Concurrency
//
// The handler HostGuard returns is safe for concurrent use if the handler
// it guards is.
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
// "code": "forbidden_host"}, and h never sees it.
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
