package ptyterm

import "syscall"

// setControllingTerminal makes the child a session leader whose controlling
// terminal is its stdin, the terminal's slave side.
func setControllingTerminal(attr *syscall.SysProcAttr) {
	attr.Setsid, attr.Setctty, attr.Ctty = true, true, 0
}
