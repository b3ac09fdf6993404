package processes

import (
	"os/exec"
	"runtime"
)

// forkReq asks the forker to start one command.
type forkReq struct {
	cmd *exec.Cmd
	err chan error
}

// startCmd starts cmd from the Manager's forker: one goroutine locked to
// one OS thread, which lives while any process of the Manager does. Linux
// ties a child's parent-death signal (PR_SET_PDEATHSIG, which the children
// get as SIGKILL) to the thread that forked it, not to the process
// (prctl(2); golang/go issue 27505): forked from a thread the Go runtime
// may retire, a child would be killed while the host lives on. From the
// forker, children die when the host process dies, and only then. The
// process being started must be recorded live (addLive) first.
func (m *Manager) startCmd(cmd *exec.Cmd) error {
	m.forkMu.Lock()
	defer m.forkMu.Unlock()
	if m.forks == nil {
		m.forks = make(chan forkReq)
		m.forkDone = make(chan struct{})
		go forker(m.forks, m.forkDone)
	}
	req := forkReq{cmd: cmd, err: make(chan error, 1)}
	m.forks <- req
	return <-req.err
}

// forker starts the commands it is given, on its own thread, until forks
// is closed. Its thread ends with it, which is safe only once every child
// it started is gone.
func forker(forks <-chan forkReq, done chan<- struct{}) {
	runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
	defer close(done)
	for req := range forks {
		req.err <- req.cmd.Start()
	}
}

// stopForkerIfIdle ends the forker if no process of the Manager is live:
// the next Start makes a new one.
func (m *Manager) stopForkerIfIdle() {
	m.forkMu.Lock()
	defer m.forkMu.Unlock()
	m.liveMu.Lock()
	idle := len(m.live) == 0
	m.liveMu.Unlock()
	if idle && m.forks != nil {
		close(m.forks)
		m.forks = nil
	}
}

// waitForker waits until a forker that was told to end has ended.
func (m *Manager) waitForker() {
	m.forkMu.Lock()
	done := m.forkDone
	if m.forks == nil {
		m.forkDone = nil
	} else {
		done = nil // still needed: a process is live
	}
	m.forkMu.Unlock()
	if done != nil {
		<-done
	}
}
