package processes

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// signalGroup sends sig to the process group while the leader is not
// reaped, and reports whether it did: once it is, its pid, and so the
// group ID, may belong to a stranger.
func (p *process) signalGroup(sig syscall.Signal) bool {
	p.reapMu.RLock()
	defer p.reapMu.RUnlock()
	if p.reaped.Load() {
		return false
	}
	_ = syscall.Kill(-p.pid, sig)
	return true
}

// signal sends sig to the process group, or, for the keyboard's signals on
// a terminal (SIGINT, SIGQUIT, SIGTSTP), to the terminal's foreground
// process group, as the terminal's line discipline does when the user types
// ^C, ^\ or ^Z (termios(3), ISIG).
func (p *process) signal(sig os.Signal) error {
	ss, ok := sig.(syscall.Signal)
	if !ok {
		return fmt.Errorf("%w: signal %v", ErrInvalid, sig)
	}
	p.reapMu.RLock()
	defer p.reapMu.RUnlock()
	if p.reaped.Load() {
		return ErrExited // the group ID may belong to a stranger now
	}
	pgid := p.pid
	if p.tty != nil && (ss == syscall.SIGINT || ss == syscall.SIGQUIT || ss == syscall.SIGTSTP) {
		if fg, ok := p.foreground(); ok {
			pgid = fg
		}
	}
	if err := syscall.Kill(-pgid, ss); err != nil {
		if err == syscall.ESRCH {
			return ErrExited
		}
		return fmt.Errorf("processes: signal %v: %w", sig, err)
	}
	return nil
}

// foreground returns the terminal's foreground process group (TIOCGPGRP,
// tcgetpgrp(3)), which lies in the leader's session.
func (p *process) foreground() (int, bool) {
	rc, err := p.tty.SyscallConn()
	if err != nil {
		return 0, false
	}
	var pgrp int32
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCGPGRP, uintptr(unsafe.Pointer(&pgrp)))
	}); err != nil || errno != 0 || pgrp <= 0 {
		return 0, false
	}
	return int(pgrp), true
}

// resize sets the terminal's window size with TIOCSWINSZ (tty_ioctl(4)).
// It is not creack/pty's Setsize, which calls os.File.Fd: that puts the
// master into blocking mode (O_NONBLOCK is shared by every descriptor of
// the open file), and the reader would then hold a thread and no longer
// stop when the master is closed.
func (p *process) resize(rows, cols uint16) error {
	rc, err := p.tty.SyscallConn()
	if err != nil {
		return ErrExited
	}
	ws := struct{ rows, cols, x, y uint16 }{rows, cols, 0, 0}
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCSWINSZ, uintptr(unsafe.Pointer(&ws)))
	}); err != nil {
		return ErrExited
	}
	if errno != 0 {
		return fmt.Errorf("processes: resize: %w", errno)
	}
	return nil
}

// size reads the terminal's window size with TIOCGWINSZ.
func (p *process) size() (rows, cols uint16, err error) {
	rc, err := p.tty.SyscallConn()
	if err != nil {
		return 0, 0, ErrExited
	}
	var ws struct{ rows, cols, x, y uint16 }
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCGWINSZ, uintptr(unsafe.Pointer(&ws)))
	}); err != nil {
		return 0, 0, ErrExited
	}
	if errno != 0 {
		return 0, 0, fmt.Errorf("processes: terminal size: %w", errno)
	}
	return ws.rows, ws.cols, nil
}
