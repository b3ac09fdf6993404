package pgtest_test

import (
	"context"
	"fmt"
	"testing"

	"go.uber.org/goleak"

	"github.com/sessionkit/sessionkit/internal/pgtest"
)

// countSessions is a test's body: it gets a schema of its own, creates a
// table there and uses it. The schema is dropped when the test ends. (An
// example needs a *testing.T, so this one is compiled, not run; the tests of
// this package run the same calls.)
func countSessions(t *testing.T) {
	db := pgtest.New(t) // skips without PostgreSQL, fails under CI=true
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, "CREATE TABLE sessions (id text PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.Pool.QueryRow(ctx, "SELECT count(*) FROM sessions").Scan(&n); err != nil {
		t.Fatal(err)
	}
	fmt.Println(n, "sessions in schema", db.Schema)
}

// The TestMain of a package whose tests call New: the server stops once the
// tests have run, before goleak looks for leaks.
func ExampleWrap() {
	testMain := func(m *testing.M) {
		goleak.VerifyTestMain(pgtest.Wrap(m))
	}
	_, _ = testMain, countSessions
}
