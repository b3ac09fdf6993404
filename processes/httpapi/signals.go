package httpapi

import (
	"os"
	"strings"
)

// signalByName returns the signal named name, such as "INT" or "SIGINT", in
// any case, and false for a name it does not know.
func signalByName(name string) (os.Signal, bool) {
	name = strings.ToUpper(name)
	sig, ok := signals[strings.TrimPrefix(name, "SIG")]
	return sig, ok
}
