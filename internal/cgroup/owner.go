package cgroup

import (
	"path/filepath"
	"strconv"
	"strings"
)

// An Owner names a process for good, pid reuse notwithstanding: its pid and
// its start time.
//
// The ownership record of a group is its directory's name,
// owner-<pid>-<start>-<n>, which [CreateOwned] makes with mkdir(2) in one
// step, so an owned group never exists without its record. (cgroupfs lets
// no one create files in a group's directory, and renames are refused on
// cgroup2.) <n> tells apart several groups of one process.
//
// The zero Owner names no process.
type Owner struct {
	PID   int
	Start uint64 // clock ticks after boot: field 22 (starttime) of /proc/<pid>/stat, proc(5)
}

// name returns the directory name of o's n-th owned group.
func (o Owner) name(n uint64) string {
	return "owner-" + strconv.Itoa(o.PID) + "-" + strconv.FormatUint(o.Start, 10) + "-" + strconv.FormatUint(n, 10)
}

// Owned returns the owner recorded in the name of dir (its last element),
// and false when the name is no ownership record. It reads nothing.
func Owned(dir string) (Owner, bool) {
	rest, ok := strings.CutPrefix(filepath.Base(dir), "owner-")
	if !ok {
		return Owner{}, false
	}
	f := strings.Split(rest, "-")
	if len(f) != 3 {
		return Owner{}, false
	}
	pid, err1 := strconv.Atoi(f[0])
	start, err2 := strconv.ParseUint(f[1], 10, 64)
	_, err3 := strconv.ParseUint(f[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || pid <= 0 || strconv.Itoa(pid) != f[0] {
		return Owner{}, false
	}
	return Owner{PID: pid, Start: start}, true
}
