package pgfleet_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/sessionkit/sessionkit/internal/pgtest"
	"github.com/sessionkit/sessionkit/internal/proctest"
)

// helperEnv selects a helper mode of the test binary: "host" (a fleet
// host: Manager, httpapi handler on a loopback port, Agent) or
// "dispatch" (a dispatcher process). See helpers_test.go.
const helperEnv = "SESSIONKIT_FLEET_HELPER"

func TestMain(m *testing.M) {
	proctest.QuietRaceExit()
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode))
	}
	goleak.VerifyTestMain(pgtest.Wrap(m))
}
