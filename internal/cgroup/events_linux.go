package cgroup

import (
	"context"
	"errors"
	"os"
	"sync"
	"syscall"
	"time"
)

// maxWatched bounds the pidfds one WaitEmpty watches beside cgroup.events.
const maxWatched = 64

// exitingRecheck is how often WaitEmpty reads cgroup.events again while the
// group is populated by processes that are all exiting: cgroup.procs no
// longer lists them, so they have no pidfd to watch, and the kernel may drop
// the notification of their end (see WaitEmpty). It is longer than the
// kernel's rate limit, so that the notification normally comes first.
const exitingRecheck = 20 * time.Millisecond

// epollET is EPOLLET as the uint32 of EpollEvent.Events (syscall.EPOLLET is
// a negative constant).
const epollET = 1 << 31

// WaitEmpty returns nil once cgroup.events says "populated 0": no live
// process is left in the group or its descendants (zombies do not count).
// It returns at once if that is already so, even if ctx is done; otherwise
// it returns ctx.Err() when ctx ends first.
//
// It does not poll on a timer. The kernel wakes poll(2) and inotify(7)
// watchers of cgroup.events when a value in it changes (cgroup-v2.rst,
// "Un-populated Notification"), and WaitEmpty waits for that in an epoll
// set that waits in the Go runtime's network poller, so a waiting call
// holds no OS thread. The kernel rate-limits these notifications to one per
// 10 ms per file (CGROUP_FILE_NOTIFY_MIN_INTV: 3 jiffies, 12 ms, at
// HZ=250), so the end of a group that became populated or was frozen just
// before would be reported up to that late. WaitEmpty therefore also
// watches pidfds of up to 64 members, which become readable the moment each
// one exits (pidfd_open(2)), and reads cgroup.events again then.
//
// Processes that are already exiting when WaitEmpty lists the members are
// no longer in cgroup.procs and have no pidfd to watch, so their end is
// known only from the held-back notification, and that one the kernel drops
// if the group is removed meanwhile (by another waiter that saw it empty).
// While the group is populated only by such processes, and only then,
// WaitEmpty reads cgroup.events again every 20 ms.
//
// The error wraps fs.ErrNotExist once the group is removed (it was empty
// then) and for the root group, which has no cgroup.events.
func (g *Group) WaitEmpty(ctx context.Context) error {
	return g.do(func(dirfd int) error {
		return waitEvents(ctx, dirfd, g.path, func(ev []byte) bool {
			n, ok := flatKeyed(ev, "populated")
			return ok && n == 0
		}, true)
	})
}

// Freeze writes "1" to cgroup.freeze, which stops every process in the group
// and its descendants, and returns once cgroup.events says "frozen 1": all
// of them have stopped (cgroup-v2.rst, "Core Interface Files",
// cgroup.freeze; Linux 5.2). A frozen process keeps its state and memory,
// receives signals when thawed, and still dies of SIGKILL and [Group.Kill].
// Processes that join the group later are frozen too.
//
// It waits as [Group.WaitEmpty] does, without its pidfds. When ctx ends
// first it returns ctx.Err() and the group stays freezing: call
// [Group.Thaw] to undo it.
func (g *Group) Freeze(ctx context.Context) error { return g.freeze(ctx, "1") }

// Thaw writes "0" to cgroup.freeze and returns once cgroup.events says
// "frozen 0", or ctx.Err(). A group whose ancestor is frozen stays frozen
// (cgroup-v2.rst, "Core Interface Files", cgroup.freeze), so Thaw then waits
// until ctx ends.
func (g *Group) Thaw(ctx context.Context) error { return g.freeze(ctx, "0") }

// ThawNow writes "0" to cgroup.freeze and returns without waiting: the
// group's processes run again once the kernel has thawed them, unless an
// ancestor is frozen. Signals sent to them meanwhile are pending, and
// SIGKILL kills them even frozen.
func (g *Group) ThawNow() error {
	return g.do(func(dirfd int) error { return writeAt(dirfd, g.path, "cgroup.freeze", "0") })
}

func (g *Group) freeze(ctx context.Context, v string) error {
	return g.do(func(dirfd int) error {
		if err := writeAt(dirfd, g.path, "cgroup.freeze", v); err != nil {
			return err
		}
		return waitEvents(ctx, dirfd, g.path, func(ev []byte) bool {
			n, ok := flatKeyed(ev, "frozen")
			return ok && n == int64(v[0]-'0')
		}, false)
	})
}

// watchPidfds is false only in benchmarks that show what the pidfds save.
var watchPidfds = true

// testHookEventsRead, when set by a test, is called with every read of
// cgroup.events that a wait makes.
var testHookEventsRead func(ev []byte)

// waitEvents returns nil once done is true of the contents of the group's
// cgroup.events, or ctx.Err(). It reads the file, and while done is false
// waits on an epoll set that holds the file (EPOLLPRI: kernfs signals a
// change since the last read of this open file with EPOLLPRI|EPOLLERR) and,
// with members, pidfds of up to maxWatched processes of the group tree
// (EPOLLIN once the process exits). The epoll set's own descriptor waits in
// the Go runtime's poller, with a read deadline for ctx and for the
// exitingRecheck.
func waitEvents(ctx context.Context, dirfd int, dir string, done func(ev []byte) bool, members bool) error {
	evfd, err := openAt(dirfd, dir, "cgroup.events", syscall.O_RDONLY)
	if err != nil {
		return err
	}
	defer syscall.Close(evfd)
	var stack [128]byte
	check := func() (bool, error) {
		b, err := readAll(evfd, dir, "cgroup.events", stack[:0])
		if err != nil {
			return false, err
		}
		if testHookEventsRead != nil {
			testHookEventsRead(b)
		}
		return done(b), nil
	}
	if ok, err := check(); ok || err != nil {
		return err
	}

	w, err := newWatcher(evfd)
	if err != nil {
		return err
	}
	defer w.close()

	// The deadline of w.ep is ctx's once it is done, else the recheck's.
	var mu sync.Mutex
	canceled := false
	setDeadline := func(t time.Time) {
		mu.Lock()
		defer mu.Unlock()
		if !canceled {
			_ = w.ep.SetReadDeadline(t)
		}
	}
	wakeDone := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(wakeDone)
		mu.Lock()
		defer mu.Unlock()
		canceled = true
		_ = w.ep.SetReadDeadline(time.Unix(1, 0)) // wakes the Read below
	})
	defer func() {
		if !stop() {
			<-wakeDone
		}
	}()

	rechecking := false
	for {
		var finished, exiting bool
		var werr error
		err := w.rc.Read(func(uintptr) bool {
			w.drain()
			if members && watchPidfds && len(w.pidfds) < maxWatched {
				// Before reading cgroup.events, so that a member that
				// exits after the read wakes the wait: its pidfd is in
				// the set by then, ready at once if it has exited.
				w.watchMembers(dirfd, dir)
			}
			ok, err := check()
			if ok || err != nil {
				finished, werr = true, err
				return true
			}
			if members && watchPidfds && len(w.pidfds) == 0 && !rechecking {
				exiting = true // populated, yet no member to watch
				return true
			}
			return false
		})
		switch {
		case finished:
			return werr
		case exiting:
			rechecking = true
			setDeadline(time.Now().Add(exitingRecheck))
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, os.ErrDeadlineExceeded) && rechecking:
			rechecking = false
			setDeadline(time.Time{})
		default:
			return err
		}
	}
}

// A watcher is an epoll set of cgroup.events and of pidfds, registered
// with the Go runtime's poller.
type watcher struct {
	ep     *os.File // epfd, once registered with the runtime poller
	rc     syscall.RawConn
	epfd   int
	pidfds map[int]int // pid → pidfd
}

// watchEvents is the user data of cgroup.events in the epoll set; that of
// a pidfd is its pid.
const watchEvents = -1

func newWatcher(evfd int) (*watcher, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLPRI | epollET, Fd: watchEvents}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		syscall.Close(epfd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	w := &watcher{epfd: epfd}
	w.ep = os.NewFile(uintptr(epfd), "epoll") // non-blocking: joins the runtime poller
	if w.rc, err = w.ep.SyscallConn(); err != nil {
		w.ep.Close()
		return nil, err
	}
	return w, nil
}

// drain empties the epoll set's ready list, and closes the pidfds of
// processes that exited.
func (w *watcher) drain() {
	var evs [16]syscall.EpollEvent
	for {
		n, err := syscall.EpollWait(w.epfd, evs[:], 0)
		if err == syscall.EINTR {
			continue
		}
		for _, ev := range evs[:max(n, 0)] {
			if pid := int(ev.Fd); pid > 0 {
				if fd, ok := w.pidfds[pid]; ok {
					_ = syscall.EpollCtl(w.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
					syscall.Close(fd)
					delete(w.pidfds, pid)
				}
			}
		}
		if n < len(evs) {
			return
		}
	}
}

var errWatchFull = errors.New("cgroup: watching as many pidfds as allowed")

// watchMembers adds pidfds of members of the group tree not watched yet, up
// to maxWatched. Errors only cost promptness: cgroup.events is watched
// anyway.
func (w *watcher) watchMembers(dirfd int, dir string) {
	if w.pidfds == nil {
		w.pidfds = make(map[int]int)
	}
	_ = walk(dirfd, dir, func(dirfd int, dir string) error {
		pids, err := readProcs(dirfd, dir)
		if err != nil {
			return err
		}
		for _, pid := range pids {
			if len(w.pidfds) >= maxWatched {
				return errWatchFull
			}
			if _, ok := w.pidfds[pid]; ok {
				continue
			}
			fd, err := pidfdOpen(pid)
			if err != nil {
				if err == errNoPidfd {
					return err
				}
				continue
			}
			// The event carries the pid to find the pidfd again.
			ev := syscall.EpollEvent{Events: syscall.EPOLLIN | epollET, Fd: int32(pid)}
			if err := syscall.EpollCtl(w.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
				syscall.Close(fd)
				continue
			}
			w.pidfds[pid] = fd
		}
		return nil
	})
}

func (w *watcher) close() {
	for _, fd := range w.pidfds {
		syscall.Close(fd)
	}
	w.ep.Close()
}
