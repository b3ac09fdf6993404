//go:build unix

package fleet

import (
	"os"
	"syscall"
)

// signals are the names a KindSignal command accepts, without the SIG
// prefix.
var signals = map[string]os.Signal{
	"INT": syscall.SIGINT, "TERM": syscall.SIGTERM, "HUP": syscall.SIGHUP, "KILL": syscall.SIGKILL,
	"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "QUIT": syscall.SIGQUIT,
}
