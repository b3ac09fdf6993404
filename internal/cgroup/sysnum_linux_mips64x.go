//go:build linux && (mips64 || mips64le)

package cgroup

// System call numbers missing from package syscall: the n64 ABI's, 5000 +
// the generic number.
const (
	sysPidfdSendSignal = 5424 // Linux 5.1
	sysPidfdOpen       = 5434 // Linux 5.3
)
