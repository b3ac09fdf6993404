package processes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// pauseCheck is how often pause and resume look at the members' states
// while they wait for signals to take effect, where no cgroup tells.
const pauseCheck = time.Millisecond

// pause stops the tree as Pause does: PauseAuto.
func (p *process) pause(ctx context.Context) error { return p.pauseWith(ctx, PauseAuto) }

// pauseWith stops the tree: with PauseAuto or PauseFreeze, it freezes its
// cgroup and waits for cgroup.events to say frozen; with PauseSignal, or
// PauseAuto in the fallback, it sends SIGSTOP to every member (the
// cgroup's, or the group and every descendant found) and waits until every
// thread of each is stopped, rescanning for members forked meanwhile.
func (p *process) pauseWith(ctx context.Context, how PauseMethod) error {
	p.pauseMu.Lock()
	defer p.pauseMu.Unlock()
	if p.paused.Load() {
		return nil
	}
	if how == PauseFreeze && p.cg == nil {
		return fmt.Errorf("processes: freeze needs the session's cgroup, and it has none: %w", errors.ErrUnsupported)
	}
	// A termination that begins meanwhile ends the wait and undoes the
	// pause: it thaws and continues the tree before its graceful signal,
	// but a freeze or a SIGSTOP of this Pause may land after that.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p.stopMu.Lock()
	switch {
	case p.exitSeen:
		p.stopMu.Unlock()
		return ErrExited
	case p.stopping:
		p.stopMu.Unlock()
		return ErrTerminating
	}
	p.pauseEnd = cancel
	p.stopMu.Unlock()
	p.paused.Store(true)
	var err error
	if p.cg != nil && how != PauseSignal {
		err = p.cg.Freeze(ctx)
	} else {
		err = p.settle(ctx, syscall.SIGSTOP, true)
	}
	p.stopMu.Lock()
	p.pauseEnd = nil
	stopping, exited := p.stopping, p.exitSeen
	p.stopMu.Unlock()
	if stopping || exited {
		p.paused.Store(false)
		p.undoPause(how)
		if stopping {
			return ErrTerminating
		}
		return ErrExited
	}
	return err
}

// undoPause continues a tree that pauseWith stopped, at once, without
// waiting: it writes 0 to cgroup.freeze, and sends SIGCONT to every member
// (the cgroup's, or the group and every descendant found).
func (p *process) undoPause(how PauseMethod) {
	if p.cg != nil {
		if how != PauseSignal {
			_ = p.cg.ThawNow()
		}
		_, _ = p.cg.Signal(syscall.SIGCONT)
		return
	}
	signalTrees([]*process{p}, syscall.SIGCONT)
}

// resume continues the tree: it thaws its cgroup (a no-op for one not
// frozen, and the undoing of a freeze that a Pause cut short by its ctx
// left in progress), then, if a member is stopped by a signal, sends
// SIGCONT to every member (the cgroup's, or in the fallback the group and
// every descendant found) and waits until none is stopped.
func (p *process) resume(ctx context.Context) error {
	p.pauseMu.Lock()
	defer p.pauseMu.Unlock()
	if !p.paused.Load() {
		return nil
	}
	p.paused.Store(false)
	if p.cg != nil {
		if err := p.cg.Thaw(ctx); err != nil {
			return err
		}
		if !p.memberStopped() {
			return nil
		}
	}
	return p.settle(ctx, syscall.SIGCONT, false)
}

// memberStopped reports whether a member of p's cgroup is stopped by a
// signal, by the state of its main thread.
func (p *process) memberStopped() bool {
	pids, err := p.cg.Procs()
	if err != nil {
		return false
	}
	buf := make([]byte, 1024)
	for _, pid := range pids {
		if st, ok := readStat(pid, buf); ok && st.stopped {
			return true
		}
	}
	return false
}

// settle sends sig to the tree until every thread of every member found
// is stopped (stopped true) or running (false), or ctx ends. Signals take
// effect within microseconds, so it checks every pauseCheck; it is what
// signals and /proc offer, where a cgroup's freezer reports the state
// itself.
func (p *process) settle(ctx context.Context, sig syscall.Signal, stopped bool) error {
	var t *time.Timer
	buf := make([]byte, 1024)
	for {
		var all bool
		if p.cg != nil {
			all = p.settleCgroup(sig, stopped, buf)
		} else {
			all = true
			for _, r := range signalTrees([]*process{p}, sig)[p] {
				if !threadsIn(r, stopped, buf) {
					all = false
					break
				}
			}
		}
		if all {
			return nil
		}
		if t == nil {
			t = time.NewTimer(pauseCheck)
			defer t.Stop()
		} else {
			t.Reset(pauseCheck)
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// settleCgroup sends sig to every member of p's cgroup and reports whether
// every thread of every member is in the state wanted.
func (p *process) settleCgroup(sig syscall.Signal, stopped bool, buf []byte) bool {
	_, _ = p.cg.Signal(sig)
	pids, err := p.cg.Procs()
	if err != nil {
		return true // removed: nothing is left to stop or continue
	}
	for _, pid := range pids {
		if !threadsIn(procRef{pid: pid}, stopped, buf) {
			return false
		}
	}
	return true
}

// threadsIn reports whether every live thread of r's process is stopped
// (stopped true) or not stopped (false); a process gone, a zombie, or
// another incarnation of the pid (r.start set and different) counts as
// done.
func threadsIn(r procRef, stopped bool, buf []byte) bool {
	st, ok := readStat(r.pid, buf)
	if !ok || st.dead || (r.start != 0 && st.start != r.start) {
		return true
	}
	dir := "/proc/" + strconv.Itoa(r.pid) + "/task"
	f, err := os.Open(dir)
	if err != nil {
		return true
	}
	names, _ := f.Readdirnames(-1)
	f.Close()
	for _, name := range names {
		tid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		// /proc/<tid> names a thread too, and its stat gives that
		// thread's state (proc(5), /proc/pid/task).
		tst, ok := readStat(tid, buf)
		if ok && !tst.dead && tst.stopped != stopped {
			return false
		}
	}
	return true
}
