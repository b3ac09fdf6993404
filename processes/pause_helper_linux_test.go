package processes_test

import "syscall"

// pauseBriefly pauses the helper for 15 µs with nanosleep(2) itself:
// time.Sleep waits at least a millisecond here, as the runtime's poller
// counts in milliseconds.
func pauseBriefly() {
	ts := syscall.NsecToTimespec(15_000)
	_ = syscall.Nanosleep(&ts, nil)
}
