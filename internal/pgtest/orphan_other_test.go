//go:build !linux

package pgtest

import (
	"fmt"
	"os"
)

// orphan is the "orphan" helper mode, which needs Linux.
func orphan() {
	fmt.Println("error: the orphan helper needs Linux")
	os.Exit(1)
}
