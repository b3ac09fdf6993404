package processes

import (
	"context"
	"os"
	"syscall"
	"time"
)

// maxScans bounds the scans of /proc that complete one batch of
// terminations: each kills what it finds, and the last finds nothing.
const maxScans = 64

// terminate begins terminating each of ps not already terminating: the
// graceful signal, followed by SIGCONT so that a stopped process runs its
// handler (as systemd.kill(5) does), to every member of its cgroup (thawed
// first, if paused), or in the fallback to the process group and every
// descendant found, and SIGKILL after the kill grace, each process on its
// own timer. One scan of /proc serves all of the fallback's. A process that
// already exited gets SIGKILL for what is left of its tree.
func (m *Manager) terminate(ps []*process) {
	// The grace timers are armed before any signal is sent, so that
	// whoever sees a signal's effect knows the grace is running.
	grace := m.killGrace()
	var mine, running []*process
	for _, p := range ps {
		p.stopMu.Lock()
		if !p.stopping {
			p.stopping = true
			if p.pauseEnd != nil {
				p.pauseEnd() // a Pause in progress undoes itself
			}
			mine = append(mine, p)
			if !p.exitSeen {
				// The graceful signal is followed by SIGCONT: a paused
				// tree runs again, to handle it.
				p.paused.Store(false)
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
		if p.cg != nil {
			// Frozen members cannot run a handler: thaw, then signal;
			// a signal is pending until the thaw takes effect. It is
			// not waited for: under an ancestor frozen from outside it
			// never comes, and SIGKILL after the grace kills anyway.
			_ = p.cg.ThawNow()
			_, _ = p.cg.Signal(p.stopSig)
			_, _ = p.cg.Signal(syscall.SIGCONT)
			continue
		}
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

// kill escalates p's termination to SIGKILL now: cgroup.kill of its cgroup,
// or in the fallback the leader, its group and every descendant found by a
// fresh scan. It does nothing once p is gone.
func (p *process) kill() {
	select {
	case <-p.gone:
		return
	default:
	}
	if !p.finished.Load() {
		p.m.logger().Info("processes: escalating to SIGKILL", "id", p.s.ID, "pid", p.pid)
	}
	if p.cg != nil {
		_ = p.cg.Kill()
		return
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
	if p.cg != nil {
		// An empty cgroup (the common case: the session's processes
		// exited with it) needs no waiting: the session is gone now,
		// and only the rmdir is left for the completer.
		if populated, err := p.cg.Populated(); err == nil && !populated {
			p.emptied = true
			m.removing.Add(1)
			m.removeLive(p)
		}
	}
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
		// A cgroup holds every process of its session: kill them all at
		// once and wait until it is empty (populated 0). No scan. The
		// empty cgroup is removed once the session is gone, below.
		var walk, empty, emptied []*process
		for _, p := range batch {
			switch {
			case p.cg == nil:
				walk = append(walk, p)
			case p.emptied:
				emptied = append(emptied, p) // gone already
			default:
				if populated, err := p.cg.Populated(); err != nil || populated {
					if err := p.cg.Kill(); err == nil {
						_ = p.cg.WaitEmpty(context.Background())
					}
				}
				empty = append(empty, p)
			}
		}
		// Every leader is reaped, so no group is signalled by its pid:
		// only the processes found, each checked to be the same
		// incarnation, and those a hunt finds. Each is stopped first
		// (SIGSTOP): a stopped process cannot fork, so scans repeat until
		// one finds nothing new, catching what was forked meanwhile (from
		// a SIGTERM handler, or by a daemon that forks and exits to hop
		// pids), and only then is everything held killed. The bound stops
		// a fork bomb from holding the completer for ever.
		held := make(map[procRef]*os.File)
		buf := make([]byte, 1024)
		hold := func(refs []procRef) (added int) {
			var fresh []procRef
			for _, r := range refs {
				if _, ok := held[r]; ok {
					continue
				}
				if f := openRef(r, buf); f != nil {
					_ = pidfdSignal(f, syscall.SIGSTOP)
					held[r] = f
					fresh = append(fresh, r)
				}
			}
			// The next scan must see whatever they were forking as
			// the signal came.
			awaitStopped(fresh, buf)
			return len(fresh)
		}
		for _, p := range walk {
			p.stopMu.Lock()
			found := p.found
			p.stopMu.Unlock()
			hold(found)
		}
		if len(walk) > 0 {
			h := newHunt(walk)
			for range maxScans {
				claimed, pending := h.scan()
				if hold(claimed) == 0 {
					if !pending {
						break
					}
					// Only processes in the middle of an exec may be
					// left: let it end before the next look.
					time.Sleep(100 * time.Microsecond)
				}
			}
		}
		for _, f := range held {
			_ = pidfdSignal(f, syscall.SIGKILL)
		}
		for _, f := range held {
			awaitGone(f)
			f.Close()
		}
		// rmdir(2) of a cgroup costs tens of microseconds: it is done
		// after the sessions are known to be gone, and Shutdown waits for
		// it before it removes the Manager's cgroup.
		m.removing.Add(len(empty))
		for _, p := range walk {
			m.removeLive(p)
		}
		for _, p := range empty {
			m.removeLive(p)
		}
		for _, p := range append(empty, emptied...) {
			if err := p.cg.Remove(); err != nil {
				m.logger().Warn("processes: removing a session's cgroup", "id", p.s.ID, "cgroup", p.cg.Path(), "err", err)
			}
			_ = p.cg.Close()
			m.removing.Done()
		}
	}
}
