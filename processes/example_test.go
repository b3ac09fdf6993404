package processes_test

import (
	"context"
	"fmt"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/sessionkit/sessionkit/processes"
)

// A session keeps output as sequence-numbered chunks; a poller asks for what
// came after the last Seq it saw.
func ExampleSession_OutputSince() {
	s := &processes.Session{ID: "build-1"}
	s.Append("stdout", []byte("compiling\n"))
	s.Append("stderr", []byte("warning: unused variable\n"))

	chunks, exit, alive := s.OutputSince(0)
	for _, c := range chunks {
		fmt.Printf("%d %s %q\n", c.Seq, c.Stream, c.Data)
	}
	fmt.Println(exit == nil, alive)

	s.Append("stdout", []byte("done\n"))
	s.SetExit(0)
	chunks, exit, alive = s.OutputSince(chunks[len(chunks)-1].Seq)
	fmt.Printf("%d %s %q\n", chunks[0].Seq, chunks[0].Stream, chunks[0].Data)
	fmt.Println(*exit, alive)
	// Output:
	// 1 stdout "compiling\n"
	// 2 stderr "warning: unused variable\n"
	// true true
	// 3 stdout "done\n"
	// 0 false
}

// Output tells a poller exactly how much it missed when output outran it.
func ExampleSession_Output() {
	s := &processes.Session{ID: "flood"}
	s.Append("stdout", []byte("first line\n"))
	big := make([]byte, processes.MaxBufferBytes)
	s.Append("stdout", big) // pushes the first line out of the ring

	out := s.Output(0)
	fmt.Println(len(out.Chunks), out.LostBytes, out.Missed)
	// Output:
	// 1 11 11
}

// WaitOutput long-polls: it returns as soon as output newer than the cursor
// is there.
func ExampleSession_WaitOutput() {
	s := &processes.Session{ID: "tail"}
	go s.Append("stdout", []byte("hello\n"))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitOutput(ctx, 0); err != nil {
		fmt.Println(err)
		return
	}
	chunks, _, _ := s.OutputSince(0)
	fmt.Printf("%q\n", chunks[0].Data)
	// Output:
	// "hello\n"
}

// A Manager evicts sessions idle for longer than its IdleTimeout. A mock
// clock makes that deterministic in tests.
func ExampleManager_Sweep() {
	c := clock.NewMock()
	m := processes.NewManager(5*time.Minute, processes.WithClock(c))
	m.Register(&processes.Session{ID: "a"})
	m.Register(&processes.Session{ID: "b"})

	c.Add(4 * time.Minute)
	b, _ := m.Get("b")
	b.Append("stdout", []byte("still working\n"))

	c.Add(time.Minute + time.Second)
	m.Sweep()
	_, okA := m.Get("a")
	_, okB := m.Get("b")
	fmt.Println(okA, okB)
	// Output:
	// false true
}

// A session reports its idleness in the vocabulary of package activity, so
// one calculator serves process sessions and hibernation alike.
func ExampleSession_ActivityStatus() {
	c := clock.NewMock()
	m := processes.NewManager(5*time.Minute, processes.WithClock(c))
	s := &processes.Session{ID: "dev-env"}
	m.Register(s)

	c.Add(6 * time.Minute)
	st := s.ActivityStatus(2 * time.Minute)
	fmt.Println(st.IsIdle, st.IdleDuration, st.ShouldHibernate)
	c.Add(2 * time.Minute)
	fmt.Println(s.ActivityStatus(2 * time.Minute).ShouldHibernate)
	// Output:
	// true 6m0s false
	// true
}
