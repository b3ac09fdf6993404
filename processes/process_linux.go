package processes

import (
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/benbjohnson/clock"

	"github.com/sessionkit/sessionkit/internal/cgroup"
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
	cg         *cgroup.Group  // the session's cgroup, nil in the fallback

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
	reaped   atomic.Bool  // the leader was reaped: its pid may be reused
	finished atomic.Bool  // SetExit was called
	pauseMu  sync.Mutex   // one Pause or Resume at a time
	paused   atomic.Bool  // Pause stopped the tree and Resume did not continue it
	lastCPU  atomic.Int64 // CPU time at the previous sweep, for ActivityCPU

	// Termination, under stopMu. Exactly one of terminate and wait sees
	// both stopping set up and the exit recorded, and completes.
	stopMu   sync.Mutex
	stopping bool          // terminate began
	pauseEnd func()        // ends a Pause in progress, nil when none is
	armed    bool          // terminate finished its first step
	exitSeen bool          // wait recorded the exit
	found    []procRef     // descendants found at the graceful signal
	emptied  bool          // complete found the cgroup empty and closed gone
	timer    *clock.Timer  // SIGKILL after the grace
	gone     chan struct{} // closed once terminated, reaped and every found descendant is gone
}

// start registers the process as live and launches the reader and waiter
// goroutines.
func (p *process) start() {
	p.outDone = make(chan struct{})
	p.writing = make(chan struct{}, 1)
	p.outLeft.Store(int32(len(p.outs)))
	streams := []string{"stdout", "stderr"}
	for i, f := range p.outs {
		go p.read(f, streams[i])
	}
	go p.wait()
}

// addLive records p, before it is forked, until it is gone: Shutdown waits
// on it, and the forker lives while any is recorded.
func (m *Manager) addLive(p *process) {
	p.gone = make(chan struct{})
	m.liveMu.Lock()
	defer m.liveMu.Unlock()
	if m.live == nil {
		m.live = make(map[*process]struct{})
	}
	m.live[p] = struct{}{}
}

// removeLive forgets p, which is gone or was never started, closes its gone
// and, when it was the last, lets the forker end.
func (m *Manager) removeLive(p *process) {
	m.liveMu.Lock()
	delete(m.live, p)
	last := len(m.live) == 0
	m.liveMu.Unlock()
	if last {
		m.stopForkerIfIdle() // before gone: Shutdown then finds it ending
	}
	close(p.gone)
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
