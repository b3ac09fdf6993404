package cgroup

import (
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
)

var probeSeq atomic.Uint64

// Writable reports whether dir is a cgroup2 directory in which this process
// may create child groups and start processes: one delegated to it, or any
// as root (cgroup-v2.rst, "Delegation"). It finds out by creating a child
// group named probe-<pid>-<n>, checking that its cgroup.procs is writable
// and removing it again.
func Writable(dir string) bool {
	g, err := Open(dir)
	if err != nil {
		return false
	}
	defer g.Close()
	ok := false
	_ = g.do(func(dirfd int) error {
		name := "probe-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatUint(probeSeq.Add(1), 10)
		if err := syscall.Mkdirat(dirfd, name, 0o755); err != nil {
			return err
		}
		ok = syscall.Access(g.path+"/"+name+"/cgroup.procs", 2 /* W_OK */) == nil
		if err := rmdir(g.path + "/" + name); err != nil {
			ok = false
		}
		return nil
	})
	return ok
}
