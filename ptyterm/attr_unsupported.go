//go:build !linux

package ptyterm

import "syscall"

// setControllingTerminal does nothing where terminals are not supported:
// processes.Manager.Start refuses to start the command there.
func setControllingTerminal(*syscall.SysProcAttr) error { return nil }
