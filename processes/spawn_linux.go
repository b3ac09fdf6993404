package processes

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// spawn starts the child and returns its session, not yet registered, and
// its process, not yet read or waited for.
func (m *Manager) spawn(cmd *exec.Cmd, id string, opts StartOptions) (*Session, *process, error) {
	if err := checkAttr(cmd.SysProcAttr, opts.TTY != nil); err != nil {
		return nil, nil, err
	}
	p := &process{m: m, cmd: cmd, cookie: newID(), stopSig: syscall.SIGTERM}
	var childEnds []*os.File
	closeAll := func(fs []*os.File) {
		for _, f := range fs {
			f.Close()
		}
	}
	if opts.TTY != nil {
		master, err := pollable(opts.TTY)
		if err != nil {
			return nil, nil, fmt.Errorf("processes: terminal: %w", err)
		}
		p.tty, p.stdin, p.outs = master, master, []*os.File{master}
		p.stopSig, p.ownSession = syscall.SIGHUP, true
	} else {
		inR, inW, err := os.Pipe()
		if err != nil {
			return nil, nil, fmt.Errorf("processes: stdin pipe: %w", err)
		}
		outR, outW, err := os.Pipe()
		if err != nil {
			closeAll([]*os.File{inR, inW})
			return nil, nil, fmt.Errorf("processes: stdout pipe: %w", err)
		}
		errR, errW, err := os.Pipe()
		if err != nil {
			closeAll([]*os.File{inR, inW, outR, outW})
			return nil, nil, fmt.Errorf("processes: stderr pipe: %w", err)
		}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
		childEnds = []*os.File{inR, outW, errW}
		p.stdin, p.outs = inW, []*os.File{outR, errR}
	}

	attr := syscall.SysProcAttr{}
	if cmd.SysProcAttr != nil {
		attr = *cmd.SysProcAttr
	}
	// The child leads a process group of its own, by which it is
	// signalled: a session leader does already (setpgid(2) after setsid(2)
	// would fail with EPERM).
	attr.Setpgid, attr.Pgid = !attr.Setsid, 0
	if attr.Pdeathsig == 0 {
		attr.Pdeathsig = syscall.SIGKILL // see startCmd
	}
	cg, err := m.sessionCgroup(p.cookie, opts.Limits)
	if err != nil {
		closeAll(childEnds)
		closeAll(p.outs)
		if p.tty == nil {
			closeAll([]*os.File{p.stdin})
		}
		return nil, nil, err
	}
	if cg != nil {
		// The child starts inside its cgroup (clone3 CLONE_INTO_CGROUP):
		// nothing it forks can run outside it, even for a moment.
		attr.UseCgroupFD, attr.CgroupFD = true, cg.FD()
		p.cg = cg
	}
	pidfd := -1
	attr.PidFD = &pidfd
	cmd.SysProcAttr = &attr
	cmd.Env = append(cmd.Environ(), cookieVar+"="+p.cookie)

	m.addLive(p)
	err = m.startCmd(cmd)
	closeAll(childEnds)
	if opts.TTY != nil {
		// The child has its own copies of the slave; the master lives on
		// as the pollable duplicate.
		closeAll([]*os.File{opts.TTY})
	}
	if err != nil {
		m.removeLive(p)
		if cg != nil {
			_ = cg.Remove()
			_ = cg.Close()
		}
		closeAll(p.outs)
		if p.tty == nil {
			closeAll([]*os.File{p.stdin})
		}
		return nil, nil, fmt.Errorf("processes: start %s: %w", cmd.Path, err)
	}
	p.pid = cmd.Process.Pid
	if pidfd >= 0 {
		if err := syscall.SetNonblock(pidfd, true); err == nil {
			p.pidfd = os.NewFile(uintptr(pidfd), "pidfd")
		} else {
			syscall.Close(pidfd)
		}
	}
	s := &Session{
		ID:          id,
		WorkspaceID: opts.WorkspaceID,
		clk:         m.clock(),
		real:        m.clk == nil,
		epoch:       m.epochTime(),
		mgr:         m,
		activity:    opts.Activity,
		idleTimeout: opts.IdleTimeout,
		value:       opts.Value,
		proc:        p,
	}
	s.createdAt = s.clk.Now()
	s.stamp(s.createdAt)
	p.s = s
	return s, p, nil
}

// pollable returns a non-blocking duplicate of f that reads and writes
// through the runtime poller, so that a goroutine waiting on it holds no
// thread and closing it interrupts a pending read. The duplicate is made
// close-on-exec atomically (fcntl F_DUPFD_CLOEXEC), so that a child forked
// by another goroutine meanwhile never inherits it.
func pollable(f *os.File) (*os.File, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(orig uintptr) {
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, orig, syscall.F_DUPFD_CLOEXEC, 0)
		fd = int(r)
		if e != 0 {
			dupErr = e
		}
	}); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, dupErr
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// checkAttr refuses a command's SysProcAttr that contradicts its session
// with an error wrapping [ErrInvalid] that names the field. The session's
// process leads a process group of its own (or a session, with Setsid), by
// which it is signalled and terminated, so a Pgid of another group is
// refused, as is a terminal's command that does not lead a session. On
// pipes it has no terminal, so Setctty, Noctty and Foreground, which act
// on one, are refused too (they fail in the child with ENOTTY).
func checkAttr(a *syscall.SysProcAttr, tty bool) error {
	switch {
	case tty && (a == nil || !a.Setsid):
		return fmt.Errorf("%w: a terminal's command must be a session leader (SysProcAttr.Setsid)", ErrInvalid)
	case a == nil:
		return nil
	case a.Setpgid && a.Pgid != 0:
		return fmt.Errorf("%w: SysProcAttr.Pgid %d: a session's process leads a process group of its own; leave Pgid 0", ErrInvalid, a.Pgid)
	case tty:
		return nil
	case a.Setctty:
		return fmt.Errorf("%w: SysProcAttr.Setctty: a session on pipes has no terminal to control", ErrInvalid)
	case a.Noctty:
		return fmt.Errorf("%w: SysProcAttr.Noctty: a session's stdin is a pipe, not a terminal to detach from", ErrInvalid)
	case a.Foreground:
		return fmt.Errorf("%w: SysProcAttr.Foreground: a session on pipes has no terminal to be the foreground job of", ErrInvalid)
	}
	return nil
}
