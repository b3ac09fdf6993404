//go:build !unix

package httpapi

import "os"

// signals are the names POST {sid}/signal accepts, without the SIG prefix:
// only the two that package os offers everywhere.
var signals = map[string]os.Signal{
	"INT":  os.Interrupt,
	"KILL": os.Kill,
}
