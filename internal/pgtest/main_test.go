package pgtest

import (
	"fmt"
	"io"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// helperEnv makes the test binary a helper instead of running the tests:
// "orphan" starts a server, prints its postmaster's pid and its directory,
// and waits to be killed.
const helperEnv = "PGTEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "orphan" {
		s, err := start()
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(s.cmd.Process.Pid, s.dir)
		_, _ = io.Copy(io.Discard, os.Stdin) // until killed
		os.Exit(2)
	}
	goleak.VerifyTestMain(Wrap(m))
}
