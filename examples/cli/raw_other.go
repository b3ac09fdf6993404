//go:build !linux

package main

import (
	"errors"
	"fmt"
	"os"
)

// isTerminal reports false: terminal support is Linux only.
func isTerminal(*os.File) bool { return false }

// terminalSize returns an error wrapping errors.ErrUnsupported: terminal
// support is Linux only.
func terminalSize(*os.File) (rows, cols uint16, err error) {
	return 0, 0, fmt.Errorf("cli: terminal size: %w", errors.ErrUnsupported)
}

// makeRaw returns an error wrapping errors.ErrUnsupported: terminal support
// is Linux only.
func makeRaw(*os.File) (restore func() error, err error) {
	return nil, fmt.Errorf("cli: raw mode: %w", errors.ErrUnsupported)
}
