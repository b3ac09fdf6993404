//go:build linux && !mips && !mipsle && !mips64 && !mips64le

package cgroup

// System call numbers missing from package syscall, the same on every
// architecture since Linux 5.1 except MIPS.
const (
	sysPidfdSendSignal = 424 // Linux 5.1
	sysPidfdOpen       = 434 // Linux 5.3
)
