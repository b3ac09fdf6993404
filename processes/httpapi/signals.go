package httpapi

import (
	"os"
	"strings"
)

// maxSignalName is the length of the longest name signalByName knows,
// "SIGWINCH".
const maxSignalName = len("SIGWINCH")

// signalByName returns the signal named name, such as "INT" or "SIGINT", in
// any case, and false for a name it does not know. Names compare in ASCII
// only: a letter outside ASCII never matches, even one that Unicode folds
// to an ASCII letter, as U+017F (ſ) folds to S and U+0131 (ı) to I.
func signalByName(name string) (os.Signal, bool) {
	if len(name) > maxSignalName {
		return nil, false
	}
	var up [maxSignalName]byte
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		default:
			return nil, false
		}
		up[i] = c
	}
	sig, ok := signals[strings.TrimPrefix(string(up[:len(name)]), "SIG")]
	return sig, ok
}
