package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// cgroup2Magic is CGROUP2_SUPER_MAGIC, statfs(2)'s f_type of a cgroup2 mount.
const cgroup2Magic = 0x63677270

// A Group is an open cgroup v2 directory: its path and a descriptor of the
// directory, opened O_RDONLY|O_DIRECTORY|O_CLOEXEC, which [Group.FD] hands
// to syscall.SysProcAttr.CgroupFD so that a child starts inside the group.
//
// Every operation reaches the group's files through that descriptor
// (openat(2)), so a Group keeps naming the directory it opened even if
// another directory later takes its path; once the directory is removed,
// operations fail with an error wrapping fs.ErrNotExist.
//
// A Group is safe for concurrent use, [Group.Close] included: methods called
// after Close return [ErrClosed]. The zero Group is closed.
type Group struct {
	path string
	dir  *os.File        // the directory; nil in the zero Group
	rc   syscall.RawConn // dir's, which keeps the descriptor alive during a call
}

// Create makes the directory dir (mkdir(2), mode 0755), which on a cgroup2
// file system creates a child group of its parent directory, and opens it
// as [Open] does (cgroup-v2.rst, "Processes").
//
// The error wraps fs.ErrExist when dir exists, fs.ErrNotExist when its
// parent does not, fs.ErrPermission when the parent is not delegated to this
// process, and [ErrNotCgroup] (after removing the directory again) when dir
// is not on a cgroup2 file system.
func Create(dir string) (*Group, error) {
	dir = filepath.Clean(dir)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	g, err := Open(dir)
	if err != nil {
		_ = syscall.Rmdir(dir)
		return nil, err
	}
	return g, nil
}

// Open returns the existing group dir. It keeps an
// O_RDONLY|O_DIRECTORY|O_CLOEXEC descriptor of the directory until
// [Group.Close].
//
// The error wraps fs.ErrNotExist when dir does not exist and [ErrNotCgroup]
// when dir is not on a cgroup2 file system (statfs(2) f_type
// CGROUP2_SUPER_MAGIC).
func Open(dir string) (*Group, error) { return open(dir, true) }

// open is Open with the file system check optional, so that tests can run
// the parsing and writing code on a fake cgroupfs tree in a temporary
// directory.
func open(dir string, check bool) (*Group, error) {
	dir = filepath.Clean(dir)
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	for err == syscall.EINTR {
		fd, err = syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	if check {
		var st syscall.Statfs_t
		if err := syscall.Fstatfs(fd, &st); err != nil {
			syscall.Close(fd)
			return nil, &os.PathError{Op: "statfs", Path: dir, Err: err}
		}
		if int64(st.Type) != cgroup2Magic {
			syscall.Close(fd)
			return nil, fmt.Errorf("%w: %s", ErrNotCgroup, dir)
		}
	}
	f := os.NewFile(uintptr(fd), dir)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Group{path: dir, dir: f, rc: rc}, nil
}

// do runs fn with the group's directory descriptor, which stays open while
// fn runs even if Close is called meanwhile. It returns ErrClosed after
// Close.
func (g *Group) do(fn func(dirfd int) error) error {
	if g.dir == nil {
		return ErrClosed
	}
	var ferr error
	if err := g.rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return fmt.Errorf("%w: %s", ErrClosed, g.path)
	}
	return ferr
}

// FD returns the group's directory descriptor for
// syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: g.FD()}: the child is
// created inside the group by clone3(2) with CLONE_INTO_CGROUP (Linux 5.7),
// so it runs no instruction, and forks nothing, outside it. The descriptor
// belongs to the Group, which closes it in [Group.Close]; FD returns -1
// after Close.
func (g *Group) FD() int {
	fd := -1
	_ = g.do(func(dirfd int) error { fd = dirfd; return nil })
	return fd
}

// Close releases the directory descriptor; it neither kills the group's
// processes nor removes the directory. Calls in flight keep the descriptor
// until they return; later calls return [ErrClosed]. Close returns
// ErrClosed when the group was closed already.
func (g *Group) Close() error {
	if g.dir == nil {
		return ErrClosed
	}
	if err := g.dir.Close(); err != nil {
		return fmt.Errorf("%w: %s", ErrClosed, g.path)
	}
	return nil
}

// Remove removes the group's directory, rmdir(2), which the kernel allows
// once the group has no live process and no child group (cgroup-v2.rst,
// "Processes": zombies do not count). It does not close the Group.
//
// While the group is populated or has children the error wraps [ErrBusy]
// and syscall.EBUSY. When the path no longer names this group (it was
// removed, perhaps by [ReapStale], and maybe created again by someone else)
// the error wraps fs.ErrNotExist and nothing is removed.
func (g *Group) Remove() error {
	return g.do(func(dirfd int) error {
		var mine, there syscall.Stat_t
		if err := syscall.Fstat(dirfd, &mine); err != nil {
			return &os.PathError{Op: "fstat", Path: g.path, Err: err}
		}
		if err := syscall.Stat(g.path, &there); err != nil {
			return &os.PathError{Op: "rmdir", Path: g.path, Err: err}
		}
		if mine.Ino != there.Ino || mine.Dev != there.Dev {
			return &os.PathError{Op: "rmdir", Path: g.path, Err: syscall.ENOENT}
		}
		return rmdir(g.path)
	})
}

func rmdir(dir string) error {
	err := syscall.Rmdir(dir)
	for err == syscall.EINTR {
		err = syscall.Rmdir(dir)
	}
	switch {
	case err == syscall.EBUSY || err == syscall.ENOTEMPTY:
		return fmt.Errorf("%w: rmdir %s: %w", ErrBusy, dir, syscall.EBUSY)
	case err != nil:
		return &os.PathError{Op: "rmdir", Path: dir, Err: err}
	}
	return nil
}

// Procs returns the pids listed in the group's cgroup.procs: the processes
// in this group only, not in its child groups (cgroup-v2.rst, "Core
// Interface Files"). The slice is the caller's, sorted, without duplicates;
// it is a snapshot that may be stale as soon as it is returned.
func (g *Group) Procs() ([]int, error) {
	var pids []int
	err := g.do(func(dirfd int) (err error) {
		pids, err = readProcs(dirfd, g.path)
		return err
	})
	return pids, err
}

func readProcs(dirfd int, dir string) ([]int, error) {
	var stack [512]byte
	b, err := readAt(dirfd, dir, "cgroup.procs", stack[:0])
	if err != nil {
		return nil, err
	}
	return parsePids(b)
}

// Populated reports the "populated" field of cgroup.events: whether the
// group or any of its descendants has a live process (cgroup-v2.rst,
// "Un-populated Notification").
func (g *Group) Populated() (bool, error) { return g.event("populated") }

// Frozen reports the "frozen" field of cgroup.events: whether the group is
// frozen, by its own cgroup.freeze or an ancestor's, and every process in it
// has stopped (cgroup-v2.rst, "Core Interface Files", cgroup.freeze).
func (g *Group) Frozen() (bool, error) { return g.event("frozen") }

func (g *Group) event(key string) (bool, error) {
	var v bool
	err := g.do(func(dirfd int) error {
		var stack [128]byte
		b, err := readAt(dirfd, g.path, "cgroup.events", stack[:0])
		if err != nil {
			return err
		}
		n, ok := flatKeyed(b, key)
		if !ok {
			return fmt.Errorf("cgroup: no %q in %s/cgroup.events", key, g.path)
		}
		v = n != 0
		return nil
	})
	return v, err
}

// Controllers returns the controllers listed in the group's
// cgroup.controllers: those its parent's cgroup.subtree_control enables,
// whose interface files (memory.max, pids.max, cpu.max, ...) the group
// therefore has (cgroup-v2.rst, "Enabling and Disabling"). An empty list is
// not an error: cpu.stat's usage and the core files work without any
// controller.
func (g *Group) Controllers() ([]string, error) {
	var names []string
	err := g.do(func(dirfd int) (err error) {
		names, err = readControllers(dirfd, g.path)
		return err
	})
	return names, err
}

func readControllers(dirfd int, dir string) ([]string, error) {
	var stack [256]byte
	b, err := readAt(dirfd, dir, "cgroup.controllers", stack[:0])
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(b)), nil
}

// walk calls fn for the group dirfd and then for each of its descendants,
// parents before children. A child group removed meanwhile is skipped.
func walk(dirfd int, dir string, fn func(dirfd int, dir string) error) error {
	if err := fn(dirfd, dir); err != nil {
		return err
	}
	names, err := subdirs(dirfd, dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		fd, err := openAt(dirfd, dir, name, syscall.O_RDONLY|syscall.O_DIRECTORY)
		if err != nil {
			if !isNotExist(err) {
				errs = append(errs, err)
			}
			continue
		}
		err = walk(fd, dir+"/"+name, fn)
		syscall.Close(fd)
		if err != nil && !isNotExist(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
