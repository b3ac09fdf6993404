//go:build linux

package proctest_test

import (
	"fmt"
	"os/exec"

	"github.com/sessionkit/sessionkit/internal/proctest"
)

// Alive tells a running child, or one killed but not yet reaped, from one
// that is gone.
func ExampleAlive() {
	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		fmt.Println(err)
		return
	}
	pid := cmd.Process.Pid
	fmt.Println(proctest.Alive(pid))
	_ = cmd.Process.Kill()
	fmt.Println(proctest.Alive(pid)) // a zombie of this process: not reaped yet
	_ = cmd.Wait()
	fmt.Println(proctest.Alive(pid))
	// Output:
	// true
	// true
	// false
}
