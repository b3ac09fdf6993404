package loopback_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/sessionkit/sessionkit/loopback"
)

// A server on 127.0.0.1:8080 answers its own names only.
func ExampleHostGuard() {
	h := loopback.HostGuard("myserver", 8080, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello")
	}))
	for _, host := range []string{"localhost:8080", "rebound.example:8080"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(host, w.Code)
	}
	// Output:
	// localhost:8080 200
	// rebound.example:8080 403
}
