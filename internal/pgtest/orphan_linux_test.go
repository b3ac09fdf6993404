package pgtest

import (
	"fmt"
	"io"
	"os"
)

// orphan is the "orphan" helper mode: it starts a server, prints its
// postmaster's pid and its directory, and waits to be killed.
func orphan() {
	s, err := start()
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println(s.cmd.Process.Pid, s.dir)
	_, _ = io.Copy(io.Discard, os.Stdin) // until killed
	os.Exit(2)
}
