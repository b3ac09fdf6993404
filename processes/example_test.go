package processes_test

import (
	"context"
	"errors"
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

// Page bounds what one poll returns, counting each chunk's framing, and
// merges runs of one stream, so a server's answer follows the bytes it
// returns rather than how many small chunks the program made.
func ExampleSession_Page() {
	s := &processes.Session{ID: "dots"}
	for range 1000 {
		s.Append("stdout", []byte{'.'})
	}
	s.Append("stderr", []byte("oops\n"))

	page := s.Page(0, processes.PageOptions{MaxBytes: 600, ChunkOverhead: 40, Merge: true})
	for _, c := range page.Chunks {
		fmt.Println(c.Stream, c.Seq, len(c.Data))
	}
	fmt.Println("more:", page.More)
	next := s.Page(page.Chunks[len(page.Chunks)-1].Seq, processes.PageOptions{MaxBytes: 600, ChunkOverhead: 40, Merge: true})
	for _, c := range next.Chunks {
		fmt.Println(c.Stream, c.Seq, len(c.Data))
	}
	fmt.Println("more:", next.More)
	// Output:
	// stdout 560 560
	// more: true
	// stdout 1000 440
	// stderr 1001 5
	// more: false
}

// Every way a session ends has a reason, usable with errors.Is; each is an
// ErrClosed.
func ExampleSession_CloseReason() {
	c := clock.NewMock()
	m := processes.NewManager(time.Minute, processes.WithClock(c))
	a := &processes.Session{ID: "a"}
	b := &processes.Session{ID: "b"}
	m.Register(a)
	m.Register(b)
	m.Forget("b")
	c.Add(2 * time.Minute)
	m.Sweep()
	fmt.Println(a.CloseReason())
	fmt.Println(errors.Is(b.CloseReason(), processes.ErrForgotten), errors.Is(b.CloseReason(), processes.ErrClosed))
	// Output:
	// processes: session closed: idle timeout
	// true true
}

// A connected client holds a session: the sweep does not evict it while a
// stream or long poll is open, and the idle window starts when it leaves.
func ExampleSession_Hold() {
	c := clock.NewMock()
	m := processes.NewManager(time.Minute, processes.WithClock(c))
	s := &processes.Session{ID: "followed"}
	m.Register(s)

	release := s.Hold() // an event stream opens
	c.Add(time.Hour)
	m.Sweep()
	_, ok := m.Get("followed")
	fmt.Println("while followed:", ok)

	release() // the client leaves
	c.Add(time.Minute + time.Second)
	m.Sweep()
	_, ok = m.Get("followed")
	fmt.Println("a minute after:", ok)
	// Output:
	// while followed: true
	// a minute after: false
}
