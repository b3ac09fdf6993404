package processes

import (
	"context"
	"syscall"
	"time"
)

// pauseCheck is how often pause and resume look at the members' states
// while they wait for signals to take effect, where no cgroup tells.
const pauseCheck = time.Millisecond

// pause stops the tree: it freezes its cgroup and waits for cgroup.events
// to say frozen, or in the fallback sends SIGSTOP to the group and every
// descendant found, then waits until each of them is stopped, rescanning
// for members forked meanwhile.
func (p *process) pause(ctx context.Context) error {
	p.pauseMu.Lock()
	defer p.pauseMu.Unlock()
	if p.paused.Load() {
		return nil
	}
	p.paused.Store(true)
	if p.cg != nil {
		return p.cg.Freeze(ctx)
	}
	return p.settle(ctx, syscall.SIGSTOP, func(st procStat) bool { return st.stopped })
}

// resume continues the tree: it thaws its cgroup, or in the fallback sends
// SIGCONT to the group and every descendant found, then waits until none
// is stopped.
func (p *process) resume(ctx context.Context) error {
	p.pauseMu.Lock()
	defer p.pauseMu.Unlock()
	if !p.paused.Load() {
		return nil
	}
	p.paused.Store(false)
	if p.cg != nil {
		return p.cg.Thaw(ctx)
	}
	return p.settle(ctx, syscall.SIGCONT, func(st procStat) bool { return !st.stopped })
}

// settle sends sig to the tree until every member found is in the state
// done says, or ctx ends. Signals take effect within microseconds, so it
// checks every pauseCheck; it is what the process group and /proc offer
// without a cgroup, whose freezer reports the state itself.
func (p *process) settle(ctx context.Context, sig syscall.Signal, done func(procStat) bool) error {
	var t *time.Timer
	for {
		refs := signalTrees([]*process{p}, sig)[p]
		all := true
		buf := make([]byte, 1024)
		for _, r := range refs {
			if st, ok := readStat(r.pid, buf); ok && st.start == r.start && !st.dead && !done(st) {
				all = false
				break
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
