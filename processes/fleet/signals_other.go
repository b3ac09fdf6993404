//go:build !unix

package fleet

import "os"

// signals are the names a KindSignal command accepts, without the SIG
// prefix: only the two that package os offers everywhere.
var signals = map[string]os.Signal{
	"INT":  os.Interrupt,
	"KILL": os.Kill,
}
