//go:build linux

package ptyterm_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"

	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/ptyterm"
)

// A terminal runs its program under a pseudo-terminal of the size asked for.
func ExampleStart() {
	m := processes.NewManager(0)
	defer m.Shutdown(context.Background())

	term, err := ptyterm.Start(m, exec.Command("stty", "size"), ptyterm.Options{Rows: 30, Cols: 100})
	if err != nil {
		fmt.Println(err)
		return
	}
	<-term.Session().Done()
	chunks, exit, _ := term.Session().OutputSince(0)
	var out strings.Builder
	for _, c := range chunks {
		out.Write(c.Data)
	}
	fmt.Printf("%q exit %d\n", strings.TrimSpace(out.String()), *exit)
	// Output:
	// "30 100" exit 0
}

// A client that reconnects attaches to the same terminal by ID and replays
// what it printed.
func ExampleAttach() {
	m := processes.NewManager(0)
	defer m.Shutdown(context.Background())

	term, err := ptyterm.Start(m, exec.Command("echo", "hello from before"), ptyterm.Options{ID: "tab-7"})
	if err != nil {
		fmt.Println(err)
		return
	}
	<-term.Session().Done()

	// Later, with only the ID:
	again, err := ptyterm.Attach(m, "tab-7")
	if err != nil {
		fmt.Println(err)
		return
	}
	chunks, _, _ := again.Session().OutputSince(0)
	fmt.Println(again == term, strings.TrimSpace(string(chunks[0].Data)))
	// Output:
	// true hello from before
}
