package cgroup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"syscall"
	"time"
)

// signalBatch bounds how many pidfds one pass over a group holds open.
const signalBatch = 256

// killFreezeWait bounds how long [Group.Kill] waits for the group to freeze
// where the kernel has no cgroup.kill, before it kills what it finds anyway.
const killFreezeWait = time.Second

// errNoPidfd is returned where pidfd_open(2) does not exist (before Linux 5.3).
var errNoPidfd = fmt.Errorf("cgroup: signalling a group's members needs pidfd_open (Linux 5.3): %w", errors.ErrUnsupported)

func pidfdOpen(pid int) (int, error) {
	for {
		fd, _, e := syscall.Syscall(sysPidfdOpen, uintptr(pid), 0, 0)
		switch e {
		case 0:
			return int(fd), nil // pidfds are always close-on-exec
		case syscall.EINTR:
			continue
		case syscall.ENOSYS:
			return -1, errNoPidfd
		}
		return -1, e
	}
}

func pidfdSendSignal(pidfd int, sig syscall.Signal) error {
	for {
		_, _, e := syscall.Syscall6(sysPidfdSendSignal, uintptr(pidfd), uintptr(sig), 0, 0, 0, 0)
		switch e {
		case 0:
			return nil
		case syscall.EINTR:
			continue
		}
		return e
	}
}

// Signal sends sig to every process in the group and in its descendant
// groups, and returns how many it signalled.
//
// It reads each group's cgroup.procs, opens a pidfd for each pid
// (pidfd_open(2), Linux 5.3), reads cgroup.procs again and signals through
// the pidfd (pidfd_send_signal(2)) only the pids listed both times. A pidfd
// names one process for good, and a pid listed after its pidfd was opened
// belonged to that process while it was a member (or that process has
// exited and the signal is lost on it), so a pid that a member freed and
// another process took is never signalled. Processes that join between the
// reads are left out: Signal is a snapshot, and [Group.Kill] the way to end
// everything.
//
// A frozen member receives the signal when thawed; SIGKILL kills it frozen
// (cgroup-v2.rst, "Core Interface Files", cgroup.freeze). The error wraps
// errors.ErrUnsupported before Linux 5.3, fs.ErrNotExist once the group is
// removed, and [ErrRoot] for the root group, which would be every process
// of the system; members that exit meanwhile are no error.
func (g *Group) Signal(sig syscall.Signal) (int, error) {
	n := 0
	err := g.do(func(dirfd int) error {
		// Every group but the root has cgroup.events (cgroup-v2.rst,
		// "Core Interface Files").
		if err := syscall.Faccessat(dirfd, "cgroup.events", 0, 0); err == syscall.ENOENT {
			if _, perr := readAt(dirfd, g.path, "cgroup.procs", nil); perr == nil {
				return fmt.Errorf("%w: %s", ErrRoot, g.path)
			}
		}
		return walk(dirfd, g.path, func(dirfd int, dir string) error {
			m, err := signalMembers(dirfd, dir, sig, nil)
			n += m
			return err
		})
	})
	return n, err
}

// signalMembers signals the members of one group as Signal describes,
// skipping the pids in seen and adding those it signals, when seen is not
// nil.
func signalMembers(dirfd int, dir string, sig syscall.Signal, seen map[int]bool) (int, error) {
	pids, err := readProcs(dirfd, dir)
	if err != nil {
		return 0, err
	}
	if seen != nil {
		pids = slices.DeleteFunc(pids, func(pid int) bool { return seen[pid] })
	}
	n := 0
	var fds [signalBatch]int
	var errs []error
	for len(pids) > 0 {
		batch := pids[:min(len(pids), signalBatch)]
		pids = pids[len(batch):]
		if testHookSignalListed != nil {
			testHookSignalListed(batch)
		}
		opened := 0
		for i, pid := range batch {
			fd, err := pidfdOpen(pid)
			if err != nil {
				fd = -1
				if err == errNoPidfd {
					closeAll(fds[:i])
					return n, err
				}
				if !gone(err) {
					errs = append(errs, fmt.Errorf("cgroup: pidfd_open %d: %w", pid, err))
				}
			} else {
				opened++
			}
			fds[i] = fd
		}
		if opened == 0 {
			continue
		}
		again, err := readProcs(dirfd, dir)
		if err != nil {
			closeAll(fds[:len(batch)])
			return n, err
		}
		for i, pid := range batch {
			if fds[i] < 0 {
				continue
			}
			if _, member := slices.BinarySearch(again, pid); member {
				switch err := pidfdSendSignal(fds[i], sig); {
				case err == nil:
					n++
					if seen != nil {
						seen[pid] = true
					}
				case err == syscall.ESRCH:
				default:
					errs = append(errs, fmt.Errorf("cgroup: pidfd_send_signal %d: %w", pid, err))
				}
			}
			syscall.Close(fds[i])
		}
	}
	return n, errors.Join(errs...)
}

// gone reports whether a pidfd call failed because the process is gone:
// ESRCH, as pidfd_open(2) documents, or ENOENT, which Linux 6.18 returns for
// a process that has just exited; EINVAL for a pid that is no longer a
// thread-group leader.
func gone(err error) bool {
	return err == syscall.ESRCH || err == syscall.ENOENT || err == syscall.EINVAL
}

// testHookSignalListed, when set by a test, runs between reading
// cgroup.procs and opening the pidfds.
var testHookSignalListed func(pids []int)

func closeAll(fds []int) {
	for _, fd := range fds {
		if fd >= 0 {
			syscall.Close(fd)
		}
	}
}

// Kill kills every process in the group and its descendants by writing "1"
// to cgroup.kill (Linux 5.14; cgroup-v2.rst, "Core Interface Files"). It
// returns once the kernel has sent the SIGKILLs, not once the processes are
// gone: [Group.WaitEmpty] waits for that. Nothing in the group can escape by
// forking, and frozen members die too.
//
// Where cgroup.kill does not exist, Kill freezes the group (cgroup.freeze,
// waiting at most one second for "frozen 1"), so that no member can fork,
// sends SIGKILL to every member of the group and its descendants through
// pidfds as [Group.Signal] does, repeating until a pass finds no member it
// has not signalled yet, and then thaws the group.
//
// The error wraps fs.ErrNotExist once the group is removed, and
// errors.ErrUnsupported where neither cgroup.kill nor pidfd_open exists.
func (g *Group) Kill() error {
	return g.do(func(dirfd int) error {
		err := writeAt(dirfd, g.path, "cgroup.kill", "1")
		if err == nil || !isNotExist(err) {
			return err
		}
		if _, perr := readAt(dirfd, g.path, "cgroup.procs", nil); perr != nil {
			return err // the group itself is gone
		}
		return killFrozen(dirfd, g.path)
	})
}

// killFrozen is Kill where there is no cgroup.kill (before Linux 5.14).
func killFrozen(dirfd int, dir string) error {
	if err := writeAt(dirfd, dir, "cgroup.freeze", "1"); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), killFreezeWait)
	err := waitEvents(ctx, dirfd, dir, func(ev []byte) bool {
		frozen, _ := flatKeyed(ev, "frozen")
		populated, _ := flatKeyed(ev, "populated")
		return frozen == 1 || populated == 0
	}, false)
	cancel()
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	seen := make(map[int]bool)
	var errs []error
	for range 64 {
		n := 0
		err := walk(dirfd, dir, func(dirfd int, dir string) error {
			m, err := signalMembers(dirfd, dir, syscall.SIGKILL, seen)
			n += m
			return err
		})
		if err != nil {
			errs = append(errs, err)
			break
		}
		if n == 0 {
			break
		}
	}
	if err := writeAt(dirfd, dir, "cgroup.freeze", "0"); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
