//go:build !linux

package processes_test

import "time"

// pauseBriefly pauses the helper briefly; see the Linux version.
func pauseBriefly() {
	time.Sleep(15 * time.Microsecond)
}
