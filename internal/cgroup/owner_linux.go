package cgroup

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
)

var ownedSeq atomic.Uint64

// CurrentOwner returns this process as an [Owner], from /proc/self/stat.
func CurrentOwner() (Owner, error) { return currentOwner() }

var currentOwner = sync.OnceValues(func() (Owner, error) {
	pid := os.Getpid()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Owner{}, err
	}
	_, start, ok := parseStat(b)
	if !ok {
		return Owner{}, errors.New("cgroup: cannot parse /proc/self/stat")
	}
	return Owner{PID: pid, Start: start}, nil
})

// Alive reports whether the process o names is alive: its pid exists, is
// not a zombie and started at o.Start. It reads /proc/<pid>/stat of this
// process's /proc, so the owner and the one asking must share a pid
// namespace. A process this one may not see (/proc mounted with hidepid)
// but that kill(pid, 0) finds is counted alive, since it cannot be told
// from o.
func (o Owner) Alive() bool {
	if o.PID <= 0 {
		return false // kill(0, 0) would ask about this process group
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(o.PID) + "/stat")
	if err != nil {
		return syscall.Kill(o.PID, 0) != syscall.ESRCH
	}
	state, start, ok := parseStat(b)
	if !ok {
		return true // unreadable: do not call it dead
	}
	return start == o.Start && state != 'Z' && state != 'X'
}

// CreateOwned creates a group under parent whose name records this process
// as its owner (see [Owner]) and opens it, as [Create] does; its errors are
// Create's. A process with groups to manage (a session manager, say) makes
// one such group and its groups below it; once the process is gone,
// [ReapStale] of parent kills and removes them all.
func CreateOwned(parent string) (*Group, error) {
	o, err := CurrentOwner()
	if err != nil {
		return nil, err
	}
	for {
		g, err := Create(parent + "/" + o.name(ownedSeq.Add(1)))
		if !errors.Is(err, os.ErrExist) {
			return g, err
		}
	}
}

// Stale reports whether dir is an owned group (see [Owned]) whose owner is
// no longer alive (see [Owner.Alive]). It reads only /proc.
func Stale(dir string) bool {
	o, ok := Owned(dir)
	return ok && !o.Alive()
}

// ReapStale cleans up after owners that are gone: for each stale group
// directly under parent (see [Stale]) it kills every process in the group
// and its descendants ([Group.Kill]), waits until they are gone
// ([Group.WaitEmpty]) and removes the group's directories, children first.
// Other entries of parent are left alone.
//
// It returns the directories it removed, in the order removed. Several
// reapers may run at once, in one process or many: what another removed
// first is neither reported nor an error. The error joins one error per
// group it could not clean up; ctx bounds the waits, and once it ends the
// remaining groups are left for a later call.
func ReapStale(ctx context.Context, parent string) ([]string, error) {
	ents, err := os.ReadDir(parent)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, e := range ents {
		dir := parent + "/" + e.Name()
		if !e.IsDir() || !Stale(dir) {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		r, err := reap(ctx, dir)
		removed = append(removed, r...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return removed, errors.Join(errs...)
}

// reap kills, waits for and removes the group tree dir.
func reap(ctx context.Context, dir string) ([]string, error) {
	g, err := Open(dir)
	if err != nil {
		return nil, ignoreGone(err)
	}
	defer g.Close()
	if err := g.Kill(); err != nil {
		return nil, ignoreGone(err)
	}
	if err := g.WaitEmpty(ctx); err != nil {
		return nil, ignoreGone(err)
	}
	var dirs []string
	err = g.do(func(dirfd int) error {
		return walk(dirfd, g.path, func(_ int, dir string) error {
			dirs = append(dirs, dir)
			return nil
		})
	})
	if err != nil {
		return nil, ignoreGone(err)
	}
	var removed []string
	for _, d := range slices.Backward(dirs) {
		err := rmdir(d)
		if err != nil && !isNotExist(err) {
			return removed, err
		}
		if err == nil {
			removed = append(removed, d)
		}
	}
	return removed, nil
}

func ignoreGone(err error) error {
	if isNotExist(err) {
		return nil
	}
	return err
}
