package processes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/benbjohnson/clock"
)

// process is what runs behind a session started by Manager.Start: the
// child, the ends of its stdio that the session holds, the goroutines that
// read its output and wait for its exit, and its termination.
type process struct {
	m          *Manager
	s          *Session
	cmd        *exec.Cmd // the caller's; only the wait goroutine calls its Wait
	pid        int
	cookie     string
	ownSession bool           // a session leader (terminals): its session is its tree too
	stopSig    syscall.Signal // the graceful stop: SIGTERM, SIGHUP for terminals
	pidfd      *os.File       // nil where pidfds are not supported
	tty        *os.File       // the terminal's master, nil for pipes

	stdin       *os.File      // the write end of the stdin pipe, or the terminal
	stdinClosed atomic.Bool   // CloseStdin was called or the process exited
	writing     chan struct{} // a one-slot semaphore: one write at a time

	outs    []*os.File
	outLeft atomic.Int32
	outDone chan struct{} // closed when every output reader has finished

	// reapMu is held for reading while the process group is signalled by
	// its ID, and for writing while the leader is reaped: an unreaped
	// leader, zombie or not, keeps its pid and so its group ID from being
	// reused, so a group signal can never reach a stranger.
	reapMu   sync.RWMutex
	reaped   atomic.Bool // the leader was reaped: its pid may be reused
	finished atomic.Bool // SetExit was called

	// Termination, under stopMu. Exactly one of terminate and wait sees
	// both stopping set up and the exit recorded, and completes.
	stopMu   sync.Mutex
	stopping bool          // terminate began
	armed    bool          // terminate finished its first step
	exitSeen bool          // wait recorded the exit
	found    []procRef     // descendants found at the graceful signal
	timer    *clock.Timer  // SIGKILL after the grace
	gone     chan struct{} // closed once terminated, reaped and every found descendant is gone
}

// maxRead is the most one read takes into the ring at once.
const maxRead = 1 << 20

// maxScans bounds the scans of /proc that complete one batch of
// terminations: each kills what it finds, and the last finds nothing.
const maxScans = 8

// start registers the process as live and launches the reader and waiter
// goroutines.
func (p *process) start() {
	p.outDone = make(chan struct{})
	p.gone = make(chan struct{})
	p.writing = make(chan struct{}, 1)
	p.outLeft.Store(int32(len(p.outs)))
	p.m.addLive(p)
	streams := []string{"stdout", "stderr"}
	for i, f := range p.outs {
		go p.read(f, streams[i])
	}
	go p.wait()
}

// addLive records p until it is gone, for Shutdown to wait on.
func (m *Manager) addLive(p *process) {
	m.liveMu.Lock()
	defer m.liveMu.Unlock()
	if m.live == nil {
		m.live = make(map[*process]struct{})
	}
	m.live[p] = struct{}{}
}

// liveProcs returns the processes started and not yet gone.
func (m *Manager) liveProcs() []*process {
	m.liveMu.Lock()
	defer m.liveMu.Unlock()
	out := make([]*process, 0, len(m.live))
	for p := range m.live {
		out = append(out, p)
	}
	return out
}

// read appends everything f yields to the session until EOF or an error
// (EIO on a terminal whose child exited, or f closed by wait). It waits
// through the runtime poller, so an idle reader holds no thread, and reads
// straight into the session's ring, sized by FIONREAD, so that the ring holds
// the only copy and an idle reader holds no buffer.
func (p *process) read(f *os.File, stream string) {
	defer func() {
		if p.outLeft.Add(-1) == 0 {
			close(p.outDone)
		}
	}()
	if p.tty == nil {
		defer f.Close()
	}
	// A terminal's master stays open until wait reaped the child: closing
	// it hangs the terminal up, which would send SIGHUP to a child that
	// closed its side (EIO here) and has yet to exit.
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	var sysRead func([]byte) (int, error) // made once: fd does not change
	_ = rc.Read(func(fd uintptr) bool {
		if sysRead == nil {
			sysRead = func(b []byte) (int, error) { return syscall.Read(int(fd), b) }
		}
		for {
			var n int
			var err error
			if avail := readable(fd); avail > 0 {
				n, err = p.s.appendRead(stream, min(avail, maxRead), sysRead)
			} else {
				// Nothing buffered: learn whether this is EOF, EAGAIN or a
				// byte that just arrived.
				n, err = p.s.appendRead(stream, 1, sysRead)
			}
			switch {
			case n > 0, err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				return false // wait for the poller
			default:
				return true // EOF or error
			}
		}
	})
}

// readable returns how many bytes fd has buffered for reading, or 64 KiB,
// a pipe's capacity, when FIONREAD does not tell.
func readable(fd uintptr) int {
	var n int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n))); e != 0 {
		return 64 << 10
	}
	return int(n)
}

// siginfo is the part of Linux's siginfo_t that waitid fills for a child.
type siginfo struct {
	signo  int32
	errno  int32
	code   int32
	_      int32
	pid    int32
	uid    uint32
	status int32
	_      [128 - 28]byte
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
			case e == 0 && info.pid == 0:
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
	complete := p.armed
	p.stopMu.Unlock()
	if complete {
		p.complete()
	}
}

// closeStdin closes the child's stdin, once. It takes no lock: closing the
// file interrupts a Write blocked on a child that does not read.
func (p *process) closeStdin() error {
	if !p.stdinClosed.CompareAndSwap(false, true) {
		return nil
	}
	if p.tty != nil {
		return nil // the terminal stays open for output
	}
	return p.stdin.Close()
}

// longAgo is a deadline in the past, which interrupts a pending write.
var longAgo = time.Unix(1, 0)

// write writes to the child's stdin, one writer at a time, until ctx ends.
// It holds no lock of the session, so a child that does not read blocks
// only its writers, until it exits, stdin is closed or their ctx ends.
func (p *process) write(ctx context.Context, b []byte) (int, error) {
	if p.stdinClosed.Load() {
		return 0, ErrExited
	}
	select {
	case p.writing <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	defer func() { <-p.writing }()
	if ctx.Done() != nil {
		if dl, ok := ctx.Deadline(); ok {
			_ = p.stdin.SetWriteDeadline(dl)
		}
		interrupted := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			_ = p.stdin.SetWriteDeadline(longAgo)
			close(interrupted)
		})
		defer func() {
			if !stop() {
				<-interrupted // the next writer must not inherit its deadline
			}
			_ = p.stdin.SetWriteDeadline(time.Time{})
		}()
	}
	n, err := p.stdin.Write(b)
	switch {
	case err == nil:
	case errors.Is(err, os.ErrDeadlineExceeded) && ctx.Done() != nil:
		// Only ctx sets deadlines; its own timer may fire a moment later.
		<-ctx.Done()
		err = ctx.Err()
	case p.stdinClosed.Load() || errors.Is(err, syscall.EPIPE) || errors.Is(err, os.ErrClosed) || errors.Is(err, syscall.EIO):
		err = ErrExited
	}
	return n, err
}

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

// terminate begins terminating each of ps not already terminating: the
// graceful signal, followed by SIGCONT so that a stopped process runs its
// handler (as systemd.kill(5) does), to the process group and every
// descendant found, and SIGKILL after the kill grace, each process on its
// own timer. One scan of /proc serves all of ps. A process that already
// exited gets SIGKILL for what is left of its tree.
func (m *Manager) terminate(ps []*process) {
	// The grace timers are armed before any signal is sent, so that
	// whoever sees a signal's effect knows the grace is running.
	grace := m.killGrace()
	var mine, running []*process
	for _, p := range ps {
		p.stopMu.Lock()
		if !p.stopping {
			p.stopping = true
			mine = append(mine, p)
			if !p.exitSeen {
				running = append(running, p)
				p.timer = m.clock().AfterFunc(grace, p.kill)
			}
		}
		p.stopMu.Unlock()
	}
	if len(mine) == 0 {
		return
	}
	// The graceful signal goes to processes still running; what is left of
	// exited ones gets SIGKILL when they complete.
	bySig := map[syscall.Signal][]*process{}
	for _, p := range running {
		bySig[p.stopSig] = append(bySig[p.stopSig], p)
	}
	found := map[*process][]procRef{}
	for sig, group := range bySig {
		for p, refs := range signalTrees(group, sig, syscall.SIGCONT) {
			found[p] = refs
		}
	}
	for _, p := range mine {
		p.stopMu.Lock()
		p.found = found[p]
		p.armed = true
		complete := p.exitSeen
		p.stopMu.Unlock()
		if complete {
			p.complete()
		}
	}
}

// kill escalates p's termination to SIGKILL now: the leader, its group and
// every descendant found by a fresh scan. It does nothing once p is gone.
func (p *process) kill() {
	select {
	case <-p.gone:
		return
	default:
	}
	if !p.finished.Load() {
		p.m.logger().Info("processes: escalating to SIGKILL", "id", p.s.ID, "pid", p.pid)
	}
	signalTrees([]*process{p}, syscall.SIGKILL)
}

// killAll escalates every termination in progress to SIGKILL now.
func (m *Manager) killAll() {
	for _, p := range m.liveProcs() {
		p.stopMu.Lock()
		stopping := p.stopping
		p.stopMu.Unlock()
		if stopping {
			p.kill()
		}
	}
}

// complete queues p, once the leader was reaped and terminate armed, for
// the Manager's completer: it stops the grace timer, kills what is left of
// the tree (descendants that outlived the leader: those found at the
// graceful signal and those a last scan finds) and waits until each of them
// is gone, then closes gone. Completions that queue up while a scan runs
// share the next one, so closing many sessions at once scans /proc a few
// times, not once per session.
func (p *process) complete() {
	p.stopMu.Lock()
	if p.timer != nil {
		p.timer.Stop()
	}
	p.stopMu.Unlock()
	m := p.m
	m.doneMu.Lock()
	m.doneQ = append(m.doneQ, p)
	start := !m.completing
	m.completing = true
	m.doneMu.Unlock()
	if start {
		go m.completer()
	}
}

// completer completes the queued processes, batch by batch, and exits once
// the queue is empty.
func (m *Manager) completer() {
	for {
		m.doneMu.Lock()
		batch := m.doneQ
		m.doneQ = nil
		if len(batch) == 0 {
			m.completing = false
			m.doneMu.Unlock()
			return
		}
		m.doneMu.Unlock()
		// Every leader is reaped, so no group is signalled by its pid:
		// only the processes found, each checked to be the same
		// incarnation, and those a scan finds. Scans repeat until one
		// finds nothing alive, so that a descendant forked while the
		// previous one ran (from a SIGTERM handler, or a daemon that forks
		// and exits to hop pids) is caught; the bound stops a fork bomb
		// from holding the completer for ever.
		var killed []*os.File
		for _, p := range batch {
			p.stopMu.Lock()
			found := p.found
			p.stopMu.Unlock()
			killed = append(killed, killRefs(found)...)
		}
		for range maxScans {
			// What was killed is gone before the next scan, which
			// then sees only what is new.
			for _, f := range killed {
				awaitGone(f)
				f.Close()
			}
			killed = killed[:0]
			for _, refs := range treePids(batch) {
				killed = append(killed, killRefs(refs)...)
			}
			if len(killed) == 0 {
				break
			}
		}
		for _, f := range killed {
			awaitGone(f)
			f.Close()
		}
		m.liveMu.Lock()
		for _, p := range batch {
			delete(m.live, p)
		}
		m.liveMu.Unlock()
		for _, p := range batch {
			close(p.gone)
		}
	}
}

// resize sets the terminal's window size with TIOCSWINSZ.
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
