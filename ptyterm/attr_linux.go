package ptyterm

import (
	"fmt"
	"syscall"

	"github.com/sessionkit/sessionkit/processes"
)

// setControllingTerminal makes the child a session leader whose controlling
// terminal is its stdin, the terminal's slave side. A session leader leads
// a process group of its own, so the caller's Setpgid asks for nothing more
// and is dropped (setpgid after setsid fails with EPERM); the fields that
// contradict a controlling terminal are refused with processes.ErrInvalid.
func setControllingTerminal(attr *syscall.SysProcAttr) error {
	switch {
	case attr.Setpgid && attr.Pgid != 0:
		return fmt.Errorf("%w: SysProcAttr.Pgid %d: a terminal's program leads a session and a process group of its own; leave Pgid 0", processes.ErrInvalid, attr.Pgid)
	case attr.Noctty:
		return fmt.Errorf("%w: SysProcAttr.Noctty: a terminal's program has the terminal as its controlling terminal; leave Noctty false", processes.ErrInvalid)
	case attr.Foreground:
		return fmt.Errorf("%w: SysProcAttr.Foreground: a terminal's program is already the foreground job of its own terminal; leave Foreground false", processes.ErrInvalid)
	}
	attr.Setpgid, attr.Pgid = false, 0
	attr.Setsid, attr.Setctty, attr.Ctty = true, true, 0
	return nil
}
