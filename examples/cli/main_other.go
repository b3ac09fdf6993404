//go:build !linux

// Command cli attaches a ptyterm terminal to the user's terminal; it needs
// Linux, where ptyterm is supported.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "cli: terminals are supported on Linux only")
	os.Exit(1)
}
