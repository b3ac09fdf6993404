//go:build linux && (mips || mipsle)

package cgroup

// System call numbers missing from package syscall: the o32 ABI's, 4000 +
// the generic number.
const (
	sysPidfdSendSignal = 4424 // Linux 5.1
	sysPidfdOpen       = 4434 // Linux 5.3
)
