package cgroup

import (
	"bytes"
	"fmt"
	"strconv"
	"time"
)

// Usage reads what the group has used: cpu.stat usage_usec,
// memory.current, memory.peak, memory.events oom_kill and the processes of
// the group tree (see [Usage] for each field and what absent means). The
// CPU time is kept by every cgroup2 group, with or without controllers; the
// memory figures need the memory controller to be enabled for the group.
//
// It returns an error if cpu.stat or a cgroup.procs cannot be read, wrapping
// fs.ErrNotExist once the group is removed.
func (g *Group) Usage() (Usage, error) {
	var u Usage
	err := g.do(func(dirfd int) error { return readUsage(dirfd, g.path, &u) })
	u.At = time.Now()
	return u, err
}

func readUsage(dirfd int, dir string, u *Usage) error {
	var stack [512]byte
	b, err := readAt(dirfd, dir, "cpu.stat", stack[:0])
	if err != nil {
		return err
	}
	usec, ok := flatKeyed(b, "usage_usec")
	if !ok {
		return fmt.Errorf("cgroup: no usage_usec in %s/cpu.stat", dir)
	}
	u.CPU = time.Duration(usec) * time.Microsecond

	// Absent files are the normal case without the memory controller;
	// any error reading them counts as absent.
	if b, err := readAt(dirfd, dir, "memory.current", stack[:0]); err == nil {
		u.Memory, u.MemoryOK = singleValue(b)
	}
	if b, err := readAt(dirfd, dir, "memory.peak", stack[:0]); err == nil {
		u.MemoryPeak, u.MemoryPeakOK = singleValue(b)
	}
	if b, err := readAt(dirfd, dir, "memory.events", stack[:0]); err == nil {
		u.OOMKills, u.OOMKillsOK = flatKeyed(b, "oom_kill")
	}

	u.Procs = 0
	return walk(dirfd, dir, func(dirfd int, dir string) error {
		pids, err := readProcs(dirfd, dir)
		u.Procs += len(pids)
		return err
	})
}

// singleValue parses a single-value file such as memory.current.
func singleValue(data []byte) (int64, bool) {
	n, err := strconv.ParseInt(string(bytes.TrimSpace(data)), 10, 64)
	return n, err == nil
}
