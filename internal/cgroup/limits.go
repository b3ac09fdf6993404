package cgroup

import (
	"fmt"
	"math"
	"strconv"
)

// CPUPeriod is the period of the cpu.max limit that [Group.SetLimits]
// writes.
const CPUPeriod = 100_000 // µs: 100 ms

// Limits are resource limits of a group. The zero value limits nothing, and
// each zero field leaves its file as it is (a new group's is "max").
type Limits struct {
	// MemoryMax is the most memory, in bytes, that the group and its
	// descendants may use before the OOM killer acts in it: memory.max
	// (cgroup-v2.rst, "Memory Interface Files"). The kernel rounds it
	// down to whole pages.
	MemoryMax int64

	// PidsMax is the most processes and threads the group and its
	// descendants may hold; fork and clone fail with EAGAIN beyond it:
	// pids.max (cgroup-v2.rst, "PID Interface Files").
	PidsMax int64

	// CPUMax is how many CPUs' worth of time the group may use, e.g. 0.5
	// for half of one CPU, written as cpu.max "quota period" with a
	// period of CPUPeriod (cgroup-v2.rst, "CPU Interface Files"). The
	// kernel needs a quota of at least 1 ms, so CPUMax is at least 0.01.
	CPUMax float64
}

// limitFile is one file SetLimits writes.
type limitFile struct {
	controller, file, value string
}

// files returns the files l sets, or an error wrapping ErrLimit.
// Validate returns an error wrapping [ErrLimit] for a limit the kernel
// would refuse (as [Group.SetLimits] does, without a group), nil otherwise.
func (l Limits) Validate() error {
	_, err := l.files()
	return err
}

func (l Limits) files() ([]limitFile, error) {
	var fs []limitFile
	if l.MemoryMax < 0 {
		return nil, fmt.Errorf("%w: MemoryMax %d is negative", ErrLimit, l.MemoryMax)
	}
	if l.PidsMax < 0 {
		return nil, fmt.Errorf("%w: PidsMax %d is negative", ErrLimit, l.PidsMax)
	}
	quota := l.CPUMax * CPUPeriod
	if math.IsNaN(l.CPUMax) || l.CPUMax < 0 || (l.CPUMax > 0 && quota < 1000) || quota > math.MaxInt64/2 {
		return nil, fmt.Errorf("%w: CPUMax %g is not 0 or between 0.01 and a sane number of CPUs", ErrLimit, l.CPUMax)
	}
	if l.MemoryMax > 0 {
		fs = append(fs, limitFile{"memory", "memory.max", strconv.FormatInt(l.MemoryMax, 10)})
	}
	if l.PidsMax > 0 {
		fs = append(fs, limitFile{"pids", "pids.max", strconv.FormatInt(l.PidsMax, 10)})
	}
	if l.CPUMax > 0 {
		fs = append(fs, limitFile{"cpu", "cpu.max", strconv.FormatInt(int64(math.Round(quota)), 10) + " " + strconv.Itoa(CPUPeriod)})
	}
	return fs, nil
}
