package processes_test

import (
	"context"
	"fmt"
	"os/exec"
	"time"

	"github.com/sessionkit/sessionkit/processes"
)

// Start runs a program as a session; Done closes once it exited and all of
// its output is in.
func ExampleManager_Start() {
	m := processes.NewManager(5 * time.Minute)
	m.Run()
	defer m.Shutdown(context.Background())

	s, err := m.Start(exec.Command("sh", "-c", "echo hello; echo oops >&2"), processes.StartOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	<-s.Done()
	chunks, exit, alive := s.OutputSince(0)
	out := map[string]string{}
	for _, c := range chunks {
		out[c.Stream] += string(c.Data)
	}
	fmt.Printf("%q %q %d %v\n", out["stdout"], out["stderr"], *exit, alive)
	// Output:
	// "hello\n" "oops\n" 0 false
}
