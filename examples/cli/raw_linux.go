//go:build linux

package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// isTerminal reports whether f is a terminal: whether it has terminal
// attributes (TCGETS).
func isTerminal(f *os.File) bool {
	var t syscall.Termios
	return ioctl(f, syscall.TCGETS, unsafe.Pointer(&t)) == nil
}

// terminalSize returns the size of terminal f (TIOCGWINSZ). It returns an
// error for a file that is not a terminal.
func terminalSize(f *os.File) (rows, cols uint16, err error) {
	var ws struct{ rows, cols, x, y uint16 }
	if err := ioctl(f, syscall.TIOCGWINSZ, unsafe.Pointer(&ws)); err != nil {
		return 0, 0, fmt.Errorf("cli: terminal size: %w", err)
	}
	return ws.rows, ws.cols, nil
}

// makeRaw puts terminal f in raw mode, as cfmakeraw(3) does: no echo, no
// line editing, no signals from Ctrl-C or Ctrl-Z and no output processing,
// so that every key goes to the program under the pseudo-terminal as is and
// its output reaches the screen unchanged. It returns the function that
// restores the previous mode, safe to call more than once, or an error if f
// is not a terminal or its mode cannot be changed.
func makeRaw(f *os.File) (restore func() error, err error) {
	var old syscall.Termios
	if err := ioctl(f, syscall.TCGETS, unsafe.Pointer(&old)); err != nil {
		return nil, fmt.Errorf("cli: read terminal mode: %w", err)
	}
	raw := old
	raw.Iflag &^= syscall.IGNBRK | syscall.BRKINT | syscall.PARMRK | syscall.ISTRIP |
		syscall.INLCR | syscall.IGNCR | syscall.ICRNL | syscall.IXON
	raw.Oflag &^= syscall.OPOST
	raw.Lflag &^= syscall.ECHO | syscall.ECHONL | syscall.ICANON | syscall.ISIG | syscall.IEXTEN
	raw.Cflag &^= syscall.CSIZE | syscall.PARENB
	raw.Cflag |= syscall.CS8
	raw.Cc[syscall.VMIN] = 1
	raw.Cc[syscall.VTIME] = 0
	if err := ioctl(f, syscall.TCSETS, unsafe.Pointer(&raw)); err != nil {
		return nil, fmt.Errorf("cli: set raw mode: %w", err)
	}
	return sync.OnceValue(func() error {
		if err := ioctl(f, syscall.TCSETS, unsafe.Pointer(&old)); err != nil {
			return fmt.Errorf("cli: restore terminal mode: %w", err)
		}
		return nil
	}), nil
}

// ioctl runs the ioctl req with argument arg on f's descriptor, through
// SyscallConn so that f keeps its blocking mode.
func ioctl(f *os.File, req uintptr, arg unsafe.Pointer) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(arg))
	}); err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	return nil
}

// sameTerminal reports whether a and b are both the same terminal device,
// such as a user's stdout and stderr on one terminal window.
func sameTerminal(a, b io.Writer) bool {
	fa, ok := a.(*os.File)
	if !ok || !isTerminal(fa) {
		return false
	}
	fb, ok := b.(*os.File)
	if !ok || !isTerminal(fb) {
		return false
	}
	return rdev(fa) == rdev(fb) && rdev(fa) != 0
}

// rdev returns the device number of the terminal f, 0 if unknown.
func rdev(f *os.File) uint64 {
	fi, err := f.Stat()
	if err != nil {
		return 0
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0
	}
	return st.Rdev
}
