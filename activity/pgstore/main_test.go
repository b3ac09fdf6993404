package pgstore_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/sessionkit/sessionkit/internal/pgtest"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "monitor" {
		os.Exit(monitorHelper())
	}
	goleak.VerifyTestMain(pgtest.Wrap(m))
}
