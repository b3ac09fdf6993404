//go:build linux

package wake_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os/exec"
	"regexp"
	"time"

	"github.com/sessionkit/sessionkit/loopback"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/wake"
)

// A unit wakes on demand, ready once its output says so, and sleeps when
// told to (or when idle, with an IdleTimeout). Its events tell each step.
func ExampleUnit_Wake() {
	m := processes.NewManager(0)
	defer m.Shutdown(context.Background())
	g := wake.NewGroup(m)
	defer g.Shutdown(context.Background())

	u, err := g.Add(wake.Spec{
		ID: "worker",
		Command: func(context.Context) (*exec.Cmd, error) {
			return exec.Command("sh", "-c", "echo warming up; echo worker ready; exec sleep 1000"), nil
		},
		Probe: wake.OutputProbe(regexp.MustCompile(`(?m)^worker ready$`)),
		Mode:  wake.ModePause,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(u.State())
	if err := u.Wake(wake.WithCause(context.Background(), "the example")); err != nil {
		log.Fatal(err)
	}
	fmt.Println(u.State(), u.Status().Woke.Why)
	if err := u.Sleep(context.Background()); err != nil {
		log.Fatal(err)
	}
	st := u.Status()
	fmt.Println(st.State, st.Kept, st.Slept.Why)
	for _, e := range u.Events() {
		fmt.Println(e.Kind)
	}
	// Output:
	// asleep
	// ready the example
	// asleep true Sleep called
	// starting
	// waiting for ready
	// ready
	// asleep
}

// A scale-to-zero dev server: the front wakes python's http.server on the
// first request, frozen again after 30 seconds without one. A browser
// sees a loading page while it wakes; curl waits.
func ExampleUnit_Handler() {
	m := processes.NewManager(0)
	defer m.Shutdown(context.Background())
	g := wake.NewGroup(m)
	defer g.Shutdown(context.Background())

	u, err := g.Add(wake.Spec{
		ID: "docs",
		Command: func(context.Context) (*exec.Cmd, error) {
			return exec.Command("python3", "-m", "http.server", "8001", "--bind", "127.0.0.1"), nil
		},
		Upstream:    "127.0.0.1:8001",
		Probe:       wake.HTTPProbe("/"),
		Mode:        wake.ModeFreeze,
		IdleTimeout: 30 * time.Second,
	})
	if err != nil {
		log.Fatal(err) // ModeFreeze needs cgroups: errors.ErrUnsupported
	}
	h := u.Handler(wake.ProxyOptions{
		// Monitoring neither wakes the server nor counts as activity.
		IsUserRequest: func(r *http.Request) bool { return r.Header.Get("User-Agent") != "probe" },
	})
	// Only requests for 127.0.0.1:8000 or localhost:8000: a page of another
	// site rebound by DNS to 127.0.0.1 cannot wake or read the server.
	log.Fatal(http.ListenAndServe("127.0.0.1:8000", loopback.HostGuard("docs", 8000, h)))
}
