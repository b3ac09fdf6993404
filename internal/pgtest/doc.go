// Package pgtest gives tests a PostgreSQL database of their own: a
// throwaway server per test binary, and a schema per test.
//
// [New] returns a [DB] whose pool's connections use a fresh schema (their
// search_path), dropped when the test ends, so tests never see each other's
// tables. The first call starts the server: a cluster made by initdb in a
// temporary directory, served by a postgres child of the test binary that
// listens only on a Unix socket in that directory (no TCP), with fsync,
// synchronous_commit and full_page_writes off, since nothing in it has to
// survive a crash. When the environment variable SESSIONKIT_POSTGRES_URL
// ([EnvURL]) holds a connection string, New uses that server instead and
// starts none.
//
// # Lifecycle
//
// A package that uses New wraps its tests with [Wrap] in TestMain, so that
// the server stops and its directory is removed once the tests have run and
// before goleak looks for leaked goroutines:
//
//	func TestMain(m *testing.M) {
//		goleak.VerifyTestMain(pgtest.Wrap(m))
//	}
//
// The server runs with a parent-death signal: if the test binary dies, so
// does the server, and the next start removes the directory it left.
//
// # Platform support
//
// The throwaway server needs Linux and the PostgreSQL server binaries, found
// under /usr/lib/postgresql/*/bin (Debian's layout, the highest version
// first) or on PATH. initdb refuses to run as root, so as root the cluster
// belongs to the system user "postgres" (or, without one, "nobody") and
// the server runs as that user. Without the binaries New skips the test with
// a message naming the Debian package to install, postgresql, except when
// the environment variable CI is "true", where it fails the test instead.
//
// # Concurrency
//
// New may be called from parallel tests; each call gets its own schema and
// pool. Several test binaries (go test ./...) each start their own server,
// in their own directories.
//
// # What it does not do
//
// It is for tests only. It does not tune the server for speed beyond the
// durability switches above, keep data between test binaries, or drop the
// schemas of a test binary that was killed while using SESSIONKIT_POSTGRES_URL.
package pgtest
