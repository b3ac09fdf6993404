package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

// The handler serves a Manager's sessions; the client polls one. The session
// here is fed by hand, so no process is needed.
func ExampleNewHandler() {
	m := processes.NewManager(0)
	s := &processes.Session{ID: "build-1"}
	m.Register(s)
	s.Append("stdout", []byte("compiling\n"))
	s.Append("stderr", []byte("warning: unused variable\n"))

	mux := http.NewServeMux()
	mux.Handle(httpapi.DefaultPrefix+"/", httpapi.NewHandler(m, httpapi.Options{}))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	c := httpapi.NewClient(srv.URL+httpapi.DefaultPrefix, srv.Client())
	out, err := c.Output(context.Background(), "build-1", 0, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, ch := range out.Chunks {
		fmt.Printf("%d %s %q\n", ch.Seq, ch.Stream, ch.Data)
	}
	fmt.Println("alive:", out.Alive)
	// Output:
	// 1 stdout "compiling\n"
	// 2 stderr "warning: unused variable\n"
	// alive: true
}

// Follow is the whole polling loop: it long-polls, advances the cursor, and
// returns the exit code once all output was delivered.
func ExampleClient_Follow() {
	m := processes.NewManager(0)
	s := &processes.Session{ID: "job"}
	m.Register(s)
	srv := httptest.NewServer(httpapi.NewHandler(m, httpapi.Options{}))
	defer srv.Close()

	go func() { // the "process"
		for i := 1; i <= 3; i++ {
			s.Append("stdout", fmt.Appendf(nil, "step %d\n", i))
		}
		s.SetExit(0)
	}()

	c := httpapi.NewClient(srv.URL+httpapi.DefaultPrefix, srv.Client())
	exit, err := c.Follow(context.Background(), "job", 0, func(out processes.Output) error {
		if out.Missed > 0 {
			fmt.Printf("(missed %d bytes)\n", out.Missed)
		}
		for _, ch := range out.Chunks {
			fmt.Print(string(ch.Data))
		}
		return nil
	})
	fmt.Println("exit", exit, err)
	// Output:
	// step 1
	// step 2
	// step 3
	// exit 0 <nil>
}

// Authorize scopes every request to a workspace: a session of another
// workspace looks exactly like one that does not exist, and each workspace
// has session IDs of its own (ScopedID).
func ExampleOptions_authorize() {
	m := processes.NewManager(0)
	m.Register(&processes.Session{ID: httpapi.ScopedID("team-b", "theirs"), WorkspaceID: "team-b"})
	srv := httptest.NewServer(httpapi.NewHandler(m, httpapi.Options{
		Authorize: func(r *http.Request) (string, error) {
			switch r.Header.Get("Authorization") {
			case "Bearer token-a":
				return "team-a", nil
			case "Bearer token-b":
				return "team-b", nil
			}
			return "", errors.New("unknown token")
		},
	}))
	defer srv.Close()

	for _, token := range []string{"", "token-a", "token-b"} {
		c := httpapi.NewClient(srv.URL+httpapi.DefaultPrefix, srv.Client())
		c.Header = http.Header{"Authorization": {"Bearer " + token}}
		_, err := c.Output(context.Background(), "theirs", 0, 0)
		fmt.Printf("%q: not found %v, error %v\n", token, errors.Is(err, processes.ErrNotFound), err)
	}
	// Output:
	// "": not found false, error httpapi: 401 unauthorized: httpapi: unauthorized
	// "token-a": not found true, error httpapi: 404 not_found: processes: session not found
	// "token-b": not found false, error <nil>
}

// A Start function names sessions with SessionID, so that each workspace
// has IDs of its own: two teams both start "build", and each reaches its
// own. DecodeJSON reads the request with messages fit for the caller.
func ExampleSessionID() {
	m := processes.NewManager(0)
	srv := httptest.NewServer(httpapi.NewHandler(m, httpapi.Options{
		Authorize: func(r *http.Request) (string, error) { return r.Header.Get("X-Team"), nil },
		Start: func(r *http.Request, m *processes.Manager) (*processes.Session, error) {
			var req struct {
				ID string `json:"id"`
			}
			if err := httpapi.DecodeJSON(r, 1<<10, &req); err != nil {
				return nil, err
			}
			s := &processes.Session{ID: httpapi.SessionID(r, req.ID), WorkspaceID: httpapi.Workspace(r.Context())}
			m.Register(s)
			s.Append("stdout", []byte("built for "+s.WorkspaceID))
			return s, nil
		},
	}))
	defer srv.Close()

	for _, team := range []string{"red", "blue"} {
		c := httpapi.NewClient(srv.URL+httpapi.DefaultPrefix, srv.Client())
		c.Header = http.Header{"X-Team": {team}}
		st, err := c.Start(context.Background(), map[string]string{"id": "build"})
		if err != nil {
			fmt.Println(err)
			return
		}
		out, _ := c.Output(context.Background(), st.ID, 0, 0)
		fmt.Printf("%s: %s %q\n", team, st.ID, out.Chunks[0].Data)
	}
	_, err := httpapi.NewClient(srv.URL+httpapi.DefaultPrefix, srv.Client()).Start(context.Background(), map[string]int{"id": 7})
	fmt.Println(err)
	// Output:
	// red: build "built for red"
	// blue: build "built for blue"
	// httpapi: 400 bad_request: httpapi: field "id" must be a string
}

// FollowCursor resumes from a cursor kept from an earlier run; when the
// session under that ID is another one by now, it says so instead of
// skipping or repeating output, and the error names the current
// invocation, from whose start the client may follow the new session.
func ExampleClient_FollowCursor() {
	m := processes.NewManager(0)
	srv := httptest.NewServer(httpapi.NewHandler(m, httpapi.Options{}))
	defer srv.Close()
	c := httpapi.NewClient(srv.URL+httpapi.DefaultPrefix, srv.Client())

	first := &processes.Session{ID: "build"}
	m.Register(first)
	first.Append("stdout", []byte("compiling\n"))
	out, _ := c.Output(context.Background(), "build", 0, 0)
	cur := httpapi.Cursor{InvocationID: out.InvocationID, Seq: out.Chunks[0].Seq}

	second := &processes.Session{ID: "build"} // replaces the first
	m.Register(second)
	second.Append("stdout", []byte("another build\n"))
	second.SetExit(0)

	_, err := c.FollowCursor(context.Background(), "build", cur, func(processes.Output) error { return nil })
	fmt.Println(errors.Is(err, httpapi.ErrInvocationChanged))

	var ae *httpapi.APIError
	if !errors.As(err, &ae) {
		return
	}
	exit, err := c.FollowCursor(context.Background(), "build", httpapi.Cursor{InvocationID: ae.InvocationID}, func(out processes.Output) error {
		for _, ch := range out.Chunks {
			fmt.Printf("%q\n", ch.Data)
		}
		return nil
	})
	fmt.Println(exit, err, ae.InvocationID == second.InvocationID())
	// Output:
	// true
	// "another build\n"
	// 0 <nil> true
}

// List finds the sessions of the caller's workspace after a page reload,
// with what a client needs to reattach: the ID, whether the program still
// runs, and how long until the idle close.
func ExampleClient_List() {
	clk := clock.NewMock() // so that "shell" is older than "build"
	m := processes.NewManager(10*time.Minute, processes.WithClock(clk))
	for _, id := range []string{"shell", "build"} {
		m.Register(&processes.Session{ID: id})
		clk.Add(time.Second)
	}
	done, _ := m.Get("build")
	done.SetExit(2)
	srv := httptest.NewServer(httpapi.NewHandler(m, httpapi.Options{}))
	defer srv.Close()

	c := httpapi.NewClient(srv.URL+httpapi.DefaultPrefix, srv.Client())
	list, err := c.List(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, st := range list {
		exit := "running"
		if st.Exit != nil {
			exit = fmt.Sprint("exit ", *st.Exit)
		}
		fmt.Printf("%s: %s, idle close after %.0f s\n", st.ID, exit, *st.IdleTimeoutSeconds)
	}
	// Output:
	// shell: running, idle close after 600 s
	// build: exit 2, idle close after 600 s
}
