// Command quickstart shows the core of sessionkit: a session whose output is
// polled by sequence number, in a Manager that evicts it once idle.
package main

import (
	"fmt"
	"time"

	"github.com/sessionkit/sessionkit/processes"
)

func main() {
	m := processes.NewManager(5 * time.Minute)
	m.Run() // sweep idle sessions in the background
	defer m.Stop()

	s := &processes.Session{ID: "demo"}
	m.Register(s)

	since := 0
	for i := 1; i <= 3; i++ {
		s.Append("stdout", fmt.Appendf(nil, "line %d\n", i))
		chunks, _, _ := s.OutputSince(since)
		for _, c := range chunks {
			fmt.Printf("seq %d %s: %s", c.Seq, c.Stream, c.Data)
			since = c.Seq
		}
	}
	s.SetExit(0)
	_, exit, alive := s.OutputSince(since)
	fmt.Println("exit", *exit, "alive", alive)
}
