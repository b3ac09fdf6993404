package processes

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/benbjohnson/clock"
)

// process is what runs behind a session started by Manager.Start: the
// child, the ends of its stdio that the session holds, and the goroutines
// that read its output and wait for its exit.
type process struct {
	m          *Manager
	s          *Session
	cmd        *exec.Cmd
	pid        int
	cookie     string
	ownSession bool           // a session leader (terminals): its session is its tree too
	stopSig    syscall.Signal // the graceful stop: SIGTERM, SIGHUP for terminals
	pidfd      *os.File       // nil where pidfds are not supported
	tty        *os.File       // the terminal's master, nil for pipes

	stdin       *os.File    // the write end of the stdin pipe, or the terminal
	stdinClosed atomic.Bool // CloseStdin was called or the process exited

	outs     []*os.File
	outLeft  atomic.Int32
	outDone  chan struct{} // closed when every output reader has finished
	reaped   atomic.Bool   // the child was reaped: its pid may be reused
	finished atomic.Bool   // SetExit was called

	batch   atomic.Pointer[stopBatch] // set once termination began
	counted atomic.Bool               // the batch counted this process as reaped
}

// maxRead is the most one read takes into the ring at once.
const maxRead = 1 << 20

// start launches the reader and waiter goroutines.
func (p *process) start() {
	p.outDone = make(chan struct{})
	p.outLeft.Store(int32(len(p.outs)))
	streams := []string{"stdout", "stderr"}
	p.m.procs.Add(1 + len(p.outs))
	for i, f := range p.outs {
		go p.read(f, streams[i])
	}
	go p.wait()
}

// read appends everything f yields to the session until EOF or an error
// (EIO on a terminal whose child exited, or f closed by wait). It waits
// through the runtime poller, so an idle reader holds no thread, and reads
// straight into the session's ring, sized by FIONREAD, so that the ring holds
// the only copy and an idle reader holds no buffer.
func (p *process) read(f *os.File, stream string) {
	defer p.m.procs.Done()
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
				var one [1]byte
				n, err = syscall.Read(int(fd), one[:])
				if n > 0 {
					p.s.Append(stream, one[:n])
				}
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
	pPidfd    = 3 // P_PIDFD
	cldExited = 1 // CLD_EXITED
)

// waitExit reaps the child and returns its exit code, 128+N for a child
// killed by signal N. With a pidfd it waits through the runtime poller;
// otherwise it blocks a thread in wait4.
func (p *process) waitExit() int {
	if p.pidfd == nil {
		var ws syscall.WaitStatus
		for {
			_, err := syscall.Wait4(p.pid, &ws, 0, nil)
			if err != syscall.EINTR {
				break
			}
		}
		return exitCode(ws)
	}
	code := -1
	rc, err := p.pidfd.SyscallConn()
	if err != nil {
		return code
	}
	_ = rc.Read(func(fd uintptr) bool {
		for {
			var info siginfo
			_, _, e := syscall.Syscall6(syscall.SYS_WAITID, pPidfd, fd, uintptr(unsafe.Pointer(&info)), syscall.WEXITED|syscall.WNOHANG, 0, 0)
			switch {
			case e == syscall.EINTR:
				continue
			case e != 0:
				// ECHILD: something else in this program reaped the
				// child, so its status is lost.
				p.m.logger().Warn("processes: exit status lost", "id", p.s.ID, "pid", p.pid, "err", e)
				return true
			case info.pid == 0:
				return false // still running: wait for the poller
			case info.code == cldExited:
				code = int(info.status)
			default:
				code = 128 + int(info.status)
			}
			return true
		}
	})
	return code
}

func exitCode(ws syscall.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return -1
}

// wait reaps the child, waits for its output to be read (for at most the
// Manager's wait delay once the child exited, after which the pipes are
// closed under descendants that still hold them), then records the exit.
func (p *process) wait() {
	defer p.m.procs.Done()
	code := p.waitExit()
	p.reaped.Store(true)
	if p.pidfd != nil {
		p.pidfd.Close()
	}
	// The child is reaped: let os.Process drop its own handle.
	_ = p.cmd.Process.Release()

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
	p.m.logger().Debug("processes: process exited", "id", p.s.ID, "pid", p.pid, "exit", code)
	p.finished.Store(true)
	p.s.SetExit(code)
	if b := p.batch.Load(); b != nil {
		b.reaped(p)
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

// write writes to the child's stdin. It holds no lock of the session, so a
// child that does not read blocks only its writers, until it exits or stdin
// is closed; os.File serializes concurrent writers.
func (p *process) write(b []byte) (int, error) {
	if p.stdinClosed.Load() {
		return 0, ErrExited
	}
	n, err := p.stdin.Write(b)
	if err != nil && (p.stdinClosed.Load() || errors.Is(err, syscall.EPIPE) || errors.Is(err, os.ErrClosed) || errors.Is(err, syscall.EIO)) {
		err = ErrExited
	}
	return n, err
}

// signalGroup sends sig to the process group, unless the leader was
// reaped: its pid, and so the group ID, may then belong to a stranger.
func (p *process) signalGroup(sig syscall.Signal) {
	if !p.reaped.Load() {
		_ = syscall.Kill(-p.pid, sig)
	}
}

// stopBatch terminates processes together: the graceful signal now, SIGKILL
// when the grace ends or when asked, and a last SIGKILL to whatever is left
// of their trees once every leader is reaped. One scan of /proc serves the
// whole batch at each step.
type stopBatch struct {
	m     *Manager
	ps    []*process
	left  atomic.Int32
	timer *clock.Timer
	once  sync.Once
	end   chan struct{} // closed once the batch finished

	// found are the descendants signalled at the start, set before any
	// process of the batch can finish it.
	found   []procRef
	scanned bool
}

// terminate begins terminating ps, skipping any that already are, and
// returns the batch. The grace timer is armed before any signal is sent, so
// that whoever sees a signal's effect knows the grace is running.
func (m *Manager) terminate(ps []*process) *stopBatch {
	b := &stopBatch{m: m, end: make(chan struct{})}
	for _, p := range ps {
		if p.batch.CompareAndSwap(nil, b) {
			b.ps = append(b.ps, p)
		}
	}
	m.batches.Add(1)
	m.liveMu.Lock()
	if m.live == nil {
		m.live = make(map[*stopBatch]struct{})
	}
	m.live[b] = struct{}{}
	m.liveMu.Unlock()
	b.left.Store(int32(len(b.ps)) + 1) // +1 until the setup below is done
	b.timer = m.clock().AfterFunc(m.killGrace(), b.kill)
	// The graceful signal goes to processes still running; what is left of
	// exited ones gets SIGKILL when the batch finishes.
	bySig := map[syscall.Signal][]*process{}
	for _, p := range b.ps {
		if !p.finished.Load() {
			bySig[p.stopSig] = append(bySig[p.stopSig], p)
		}
	}
	for sig, group := range bySig {
		b.found = append(b.found, signalTrees(group, sig)...)
		b.scanned = true
	}
	for _, p := range b.ps {
		if p.finished.Load() {
			b.reaped(p)
		}
	}
	b.done()
	return b
}

// killAll escalates every termination in progress to SIGKILL now.
func (m *Manager) killAll() {
	m.liveMu.Lock()
	live := make([]*stopBatch, 0, len(m.live))
	for b := range m.live {
		live = append(live, b)
	}
	m.liveMu.Unlock()
	for _, b := range live {
		b.kill()
	}
}

// reaped counts p as reaped, once: both terminate and wait may report it.
func (b *stopBatch) reaped(p *process) {
	if p.counted.CompareAndSwap(false, true) {
		b.done()
	}
}

// done counts one more process of the batch as reaped; the last one
// finishes the batch.
func (b *stopBatch) done() {
	if b.left.Add(-1) == 0 {
		b.finish()
	}
}

// kill escalates to SIGKILL now.
func (b *stopBatch) kill() {
	var live []*process
	for _, p := range b.ps {
		if !p.finished.Load() {
			live = append(live, p)
		}
	}
	if len(live) > 0 {
		for _, p := range live {
			b.m.logger().Info("processes: escalating to SIGKILL", "id", p.s.ID, "pid", p.pid)
		}
		signalTrees(live, syscall.SIGKILL)
	}
}

// finish runs once: it stops the grace timer and kills what is left of the
// trees: descendants that outlived their leader.
func (b *stopBatch) finish() {
	b.once.Do(func() {
		b.timer.Stop()
		if b.scanned {
			// What the first scan found, if it is still the same
			// process: a second scan per termination would make closing
			// many sessions one by one quadratic. Every leader is reaped
			// by now, so no group is signalled by its leader's pid.
			signalRefs(b.found, syscall.SIGKILL)
		} else {
			signalTrees(b.ps, syscall.SIGKILL)
		}
		b.m.liveMu.Lock()
		delete(b.m.live, b)
		b.m.liveMu.Unlock()
		close(b.end)
		b.m.batches.Done()
	})
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

// signal sends sig to the process group.
func (p *process) signal(sig os.Signal) error {
	ss, ok := sig.(syscall.Signal)
	if !ok {
		return fmt.Errorf("%w: signal %v", ErrInvalid, sig)
	}
	if p.reaped.Load() {
		return ErrExited // the group ID may belong to a stranger now
	}
	if err := syscall.Kill(-p.pid, ss); err != nil {
		if err == syscall.ESRCH {
			return ErrExited
		}
		return fmt.Errorf("processes: signal %v: %w", sig, err)
	}
	return nil
}
