package processes

import (
	"syscall"
	"unsafe"
)

// siginfo is the part of Linux's siginfo_t that waitid fills for a child.
type siginfo struct {
	signo int32
	errno int32
	code  int32
	chld  sigchld
	_     [128]byte // the rest: the kernel writes up to SI_MAX_SIZE, 128 bytes
}

// sigchld is the part of siginfo_t that waitid fills for a child. In C it
// is a member of a union that holds pointers, so it is aligned as a
// pointer: at offset 16 on 64-bit platforms, 12 on 32-bit ones. The
// zero-length array gives it that alignment here.
type sigchld struct {
	_      [0]uintptr
	pid    int32
	uid    uint32
	status int32
}

const (
	pPid   = 1 // P_PID
	pPidfd = 3 // P_PIDFD
	// wNowait leaves the child waitable: waitid(2)'s WNOWAIT.
	wNowait = 0x01000000
)

// awaitExit returns once the child has exited, without reaping it: its pid
// stays reserved until reap. With a pidfd it waits through the runtime
// poller (no thread held); otherwise it blocks a thread in waitid.
func (p *process) awaitExit() {
	if p.pidfd == nil {
		for {
			var info siginfo
			_, _, e := syscall.Syscall6(syscall.SYS_WAITID, pPid, uintptr(p.pid), uintptr(unsafe.Pointer(&info)), syscall.WEXITED|wNowait, 0, 0)
			if e != syscall.EINTR {
				return
			}
		}
	}
	rc, err := p.pidfd.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Read(func(fd uintptr) bool {
		for {
			var info siginfo
			_, _, e := syscall.Syscall6(syscall.SYS_WAITID, pPidfd, fd, uintptr(unsafe.Pointer(&info)), syscall.WEXITED|syscall.WNOHANG|wNowait, 0, 0)
			switch {
			case e == syscall.EINTR:
				continue
			case e == 0 && info.chld.pid == 0:
				return false // still running: wait for the poller
			}
			return true // exited, or not our child any more (ECHILD)
		}
	})
}

// reap finishes the caller's command as os/exec expects, with cmd.Wait: it
// reaps the child (at once: it has exited), sets cmd.ProcessState, and
// retires the goroutine that exec.CommandContext's context watch keeps. It
// holds reapMu so that no group signal is in flight when the pid is freed.
func (p *process) reap() ExitStatus {
	p.reapMu.Lock()
	err := p.cmd.Wait()
	p.reaped.Store(true)
	p.reapMu.Unlock()
	st := p.cmd.ProcessState
	if st == nil {
		// ECHILD: something else in this program reaped the child, so
		// its status is lost.
		p.m.logger().Warn("processes: exit status lost", "id", p.s.ID, "pid", p.pid, "err", err)
		return ExitStatus{Code: -1, Lost: true}
	}
	ws, _ := st.Sys().(syscall.WaitStatus)
	switch {
	case ws.Signaled():
		return ExitStatus{Code: -1, Signal: ws.Signal(), CoreDump: ws.CoreDump()}
	case ws.Exited():
		return ExitStatus{Code: ws.ExitStatus()}
	}
	return ExitStatus{Code: -1, Lost: true}
}

// wait reaps the child, waits for its output to be read (for at most the
// Manager's wait delay once the child exited, after which the pipes are
// closed under descendants that still hold them), then records the exit,
// and completes a termination in progress.
func (p *process) wait() {
	p.awaitExit()
	st := p.reap()
	if p.pidfd != nil {
		p.pidfd.Close()
	}
	if p.cg != nil {
		if u, err := p.cg.Usage(); err == nil && u.OOMKillsOK {
			st.OOMKills = u.OOMKills
		}
	}

	select {
	case <-p.outDone:
	default:
		t := p.m.clock().Timer(p.m.waitDelay())
		select {
		case <-p.outDone:
		case <-t.C:
			p.m.logger().Debug("processes: closing output held open by descendants", "id", p.s.ID, "pid", p.pid)
			for _, f := range p.outs {
				f.Close() // interrupts the readers
			}
			<-p.outDone
		}
		t.Stop()
	}
	p.closeStdin()
	if p.tty != nil {
		p.tty.Close()
	}
	p.m.logger().Debug("processes: process exited", "id", p.s.ID, "pid", p.pid, "exit", st.String())
	p.finished.Store(true)
	p.s.setExit(st)

	p.stopMu.Lock()
	p.exitSeen = true
	// An exited session is not paused: what is left of its tree, frozen
	// or stopped, is killed when the session is terminated or closed.
	p.paused.Store(false)
	complete := p.armed
	p.stopMu.Unlock()
	if complete {
		p.complete()
	}
}
