package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// EnvURL names the environment variable that points the tests at an existing
// PostgreSQL server, as a pgx connection string (a URL or key=value pairs).
// Its user must be allowed to create and drop schemas.
const EnvURL = "SESSIONKIT_POSTGRES_URL"

// MaxConns is the size of the pool of every [DB], enough for 16 concurrent
// updaters to reach the server at once.
const MaxConns = 20

// DB is one test's schema on the test server. It is a plain value; its Pool
// is safe for concurrent use.
type DB struct {
	// Pool connects with search_path set to Schema, so unqualified names
	// resolve there. It is closed when the test ends.
	Pool *pgxpool.Pool
	// URL is a connection string for the same database and schema, for
	// other pools, such as those of child processes.
	URL string
	// Schema is the schema's name: lower-case letters, digits and
	// underscores.
	Schema string
}

// New creates a schema for the test on the test server (starting the server
// on first use, or using [EnvURL]) and returns it with a pool. The schema is
// dropped, with everything in it, and the pool closed when the test ends.
//
// It skips the test when the PostgreSQL binaries are missing, with a message
// naming the package to install, or fails it when CI=true. It fails the test
// when the server cannot be started or reached.
func New(tb testing.TB) *DB {
	tb.Helper()
	base, err := baseURL()
	if err != nil {
		giveUp(tb, err)
	}
	schema := schemaName(tb.Name())
	ctx := context.Background()
	if err := admin(ctx, base, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("pgtest: create schema: %v", err)
	}
	tb.Cleanup(func() {
		if err := admin(context.Background(), base, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("pgtest: drop schema: %v", err)
		}
	})
	u, err := withSearchPath(base, schema)
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := pgxpool.ParseConfig(u)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	cfg.MaxConns = MaxConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(pool.Close) // runs before the DROP SCHEMA above: cleanups run last in, first out
	return &DB{Pool: pool, URL: u, Schema: schema}
}

// giveUp skips the test when there is no PostgreSQL to use, except under
// CI=true, and fails it for any other error.
func giveUp(tb testing.TB, err error) {
	tb.Helper()
	if errors.Is(err, errNoServer) && os.Getenv("CI") != "true" {
		tb.Skip(err)
	}
	tb.Fatal(err)
}

// admin runs one statement on a connection of its own.
func admin(ctx context.Context, connString, sql string) error {
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

var (
	schemaSeq atomic.Int64
	notIdent  = regexp.MustCompile(`[^a-z0-9]+`)
)

// schemaName returns a schema name unique to this process and call, with as
// much of the test's name as fits in PostgreSQL's 63-byte identifiers.
func schemaName(test string) string {
	name := fmt.Sprintf("t%d_%d_%s", os.Getpid(), schemaSeq.Add(1), notIdent.ReplaceAllString(strings.ToLower(test), "_"))
	return strings.TrimRight(name[:min(len(name), 63)], "_")
}

// withSearchPath returns connString with its search_path set to schema.
func withSearchPath(connString, schema string) (string, error) {
	if strings.HasPrefix(connString, "postgres://") || strings.HasPrefix(connString, "postgresql://") {
		u, err := url.Parse(connString)
		if err != nil {
			return "", fmt.Errorf("pgtest: %s: %w", EnvURL, err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return connString + " search_path=" + schema, nil
}

// The server of this process, started by the first baseURL.
var (
	srvMu  sync.Mutex
	srv    *server
	srvErr error
)

// baseURL returns the connection string of the server to use: EnvURL's, or
// that of this process's throwaway server, started if need be.
func baseURL() (string, error) {
	if u := os.Getenv(EnvURL); u != "" {
		return u, nil
	}
	srvMu.Lock()
	defer srvMu.Unlock()
	if srv == nil && srvErr == nil {
		srv, srvErr = start()
	}
	if srvErr != nil {
		return "", srvErr
	}
	return srv.url, nil
}

// M runs a package's tests and then stops the test server; see [Wrap].
type M struct{ m *testing.M }

// Wrap returns m with a Run that stops the test server after the tests, for
// goleak.VerifyTestMain or os.Exit(pgtest.Wrap(m).Run()).
func Wrap(m *testing.M) M { return M{m} }

// Run runs the tests, then stops the server they started, if any, and
// removes its directory. It returns m.Run's exit code, or 1 when the tests
// passed but the server could not be stopped cleanly.
func (w M) Run() int {
	code := w.m.Run()
	srvMu.Lock()
	s := srv
	srv, srvErr = nil, nil
	srvMu.Unlock()
	if s == nil {
		return code
	}
	if err := s.stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// External reports whether the tests use a server named by [EnvURL] rather
// than a throwaway one.
func External() bool { return os.Getenv(EnvURL) != "" }
