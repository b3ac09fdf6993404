//go:build linux

package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
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

// terminalMode is a terminal that cli put in raw mode, with the mode it
// had before, to restore at exit and while cli is stopped.
type terminalMode struct {
	f        *os.File
	old, raw syscall.Termios
}

// makeRaw puts terminal f in raw mode, as cfmakeraw(3) does: no echo, no
// line editing, no signals from Ctrl-C or Ctrl-Z and no output processing,
// so that every key goes to the program under the pseudo-terminal as is and
// its output reaches the screen unchanged. It returns the terminal, whose
// restore gives it back its previous mode, or an error if f is not a
// terminal or its mode cannot be changed.
func makeRaw(f *os.File) (*terminalMode, error) {
	m := &terminalMode{f: f}
	if err := ioctl(f, syscall.TCGETS, unsafe.Pointer(&m.old)); err != nil {
		return nil, fmt.Errorf("cli: read terminal mode: %w", err)
	}
	raw := m.old
	raw.Iflag &^= syscall.IGNBRK | syscall.BRKINT | syscall.PARMRK | syscall.ISTRIP |
		syscall.INLCR | syscall.IGNCR | syscall.ICRNL | syscall.IXON
	raw.Oflag &^= syscall.OPOST
	raw.Lflag &^= syscall.ECHO | syscall.ECHONL | syscall.ICANON | syscall.ISIG | syscall.IEXTEN
	raw.Cflag &^= syscall.CSIZE | syscall.PARENB
	raw.Cflag |= syscall.CS8
	raw.Cc[syscall.VMIN] = 1
	raw.Cc[syscall.VTIME] = 0
	m.raw = raw
	if err := m.enter(); err != nil {
		return nil, err
	}
	return m, nil
}

// enter puts the terminal in raw mode (again, once cli is continued).
func (m *terminalMode) enter() error {
	if err := ioctl(m.f, syscall.TCSETS, unsafe.Pointer(&m.raw)); err != nil {
		return fmt.Errorf("cli: set raw mode: %w", err)
	}
	return nil
}

// restore gives the terminal back the mode it had before makeRaw. It may
// be called more than once.
func (m *terminalMode) restore() error {
	if err := ioctl(m.f, syscall.TCSETS, unsafe.Pointer(&m.old)); err != nil {
		return fmt.Errorf("cli: restore terminal mode: %w", err)
	}
	return nil
}

// canStop reports whether cli's process group is not orphaned: whether
// the first of its ancestors outside the group (the shell that started the
// job) is in the same session, where job control can continue it. The
// kernel ignores a SIGTSTP to an orphaned group, which nobody could
// continue, and so does cli. Other members of the group are not looked at.
func canStop() bool {
	_, pgid, sid, ok := procStat(os.Getpid())
	if !ok {
		return false
	}
	for pid := os.Getppid(); pid > 1; {
		ppid, pg, s, ok := procStat(pid)
		switch {
		case !ok || s != sid:
			return false
		case pg != pgid:
			return true
		}
		pid = ppid
	}
	return false
}

// procStat returns the parent, process group and session of process pid,
// from /proc/pid/stat; ok is false if it cannot be read.
func procStat(pid int) (ppid, pgid, sid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, 0, false
	}
	// "pid (comm) state ppid pgrp session ...": comm may hold spaces and
	// parentheses, so the fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 4 {
		return 0, 0, 0, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	pgid, err2 := strconv.Atoi(f[2])
	sid, err3 := strconv.Atoi(f[3])
	return ppid, pgid, sid, err1 == nil && err2 == nil && err3 == nil
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
