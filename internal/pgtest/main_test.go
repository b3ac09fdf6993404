package pgtest

import (
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
		orphan()
	}
	goleak.VerifyTestMain(Wrap(m))
}
