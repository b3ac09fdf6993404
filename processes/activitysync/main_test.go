package activitysync_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/sessionkit/sessionkit/internal/pgtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(pgtest.Wrap(m))
}
