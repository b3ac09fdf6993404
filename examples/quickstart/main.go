// Command quickstart is the README's quick start as a program: it starts a
// command as a session of a Manager, waits until the command exited and all
// of its output is in, and prints that output by stream.
//
// Its body is ExampleManager_Start in processes/example_linux_test.go, with
// the README's comments; main_test.go checks that the three stay the same.
package main

import (
	"context"
	"fmt"
	"os/exec"
	"time"

	"github.com/sessionkit/sessionkit/processes"
)

func main() {
	m := processes.NewManager(5 * time.Minute) // evict sessions idle for 5 minutes
	m.Run()                                    // sweep in the background
	defer m.Shutdown(context.Background())     // and leave no process behind

	s, err := m.Start(exec.Command("sh", "-c", "echo hello; echo oops >&2"), processes.StartOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	<-s.Done() // exited, and all of its output is in
	chunks, exit, alive := s.OutputSince(0)
	out := map[string]string{}
	for _, c := range chunks {
		out[c.Stream] += string(c.Data)
	}
	fmt.Printf("%q %q %d %v\n", out["stdout"], out["stderr"], *exit, alive)
	// "hello\n" "oops\n" 0 false
}
