package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessionkit/sessionkit/activity"
)

// table holds the sessions; see migrations/0001_sessions.sql.
const table = "sessionkit_activity_sessions"

// Store is an [activity.Store] and [activity.BatchRecorder] in a PostgreSQL
// table. Make one with [New] over a pool whose schema [Migrate] prepared;
// the zero Store is not usable. It is safe for concurrent use, by any number
// of goroutines and of servers sharing the database: every write is one
// statement, and compare-and-set is decided by the database.
//
// Times are stored at microsecond precision, PostgreSQL's, truncating any
// nanoseconds, and are returned in UTC; an IdleTimeout keeps its
// nanoseconds. A time outside PostgreSQL's range, 4714-11-24 BC to
// 294276-12-31 AD, is stored as the nearest end of it.
//
// Namespaces, names and states are compared byte by byte (collation "C")
// and must be valid UTF-8 without NUL bytes, as PostgreSQL's text is: no
// session has any other, so Get of such a namespace or name returns an
// error wrapping [activity.ErrNotFound], List returns none, RecordActivity
// ignores its stamps, and Update refuses to create one with an error
// wrapping [ErrInvalidText]. Namespace and name together longer than about
// 2,700 bytes exceed PostgreSQL's index entries: Update refuses them with
// the database's error.
type Store struct {
	pool *pgxpool.Pool
}

var (
	_ activity.Store         = (*Store)(nil)
	_ activity.BatchRecorder = (*Store)(nil)
)

// New returns a Store over pool. It does not touch the database: run
// [Migrate] once before using it. It panics if pool is nil.
func New(pool *pgxpool.Pool) *Store {
	if pool == nil {
		panic("pgstore: nil pool")
	}
	return &Store{pool: pool}
}

// ErrInvalidText is returned, wrapped, by [Store.Update] for a session
// whose Namespace, Name or State is not valid UTF-8 or holds a NUL byte,
// which PostgreSQL's text cannot store. Nothing is stored.
var ErrInvalidText = errors.New("pgstore: namespace, name or state is not valid UTF-8 without NUL bytes")

// storable reports whether PostgreSQL's text can hold s.
func storable(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// The first and last microseconds a timestamptz holds.
var (
	minTime = time.Date(-4713, 11, 24, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(294276, 12, 31, 23, 59, 59, 999999000, time.UTC)
)

// storedTime is how the table keeps a time: microseconds, UTC, within
// PostgreSQL's range. Sent as is, a time past the range fails the
// statement, or, far enough past, wraps around to another time.
func storedTime(t time.Time) time.Time {
	switch {
	case t.Before(minTime):
		return minTime
	case t.After(maxTime):
		return maxTime
	}
	return t.Truncate(time.Microsecond).UTC()
}

// wrap adds what the Store was doing to a database error, and ErrNotMigrated
// when the table is missing.
func wrap(op string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
		return fmt.Errorf("pgstore: %s: %w: %w", op, ErrNotMigrated, err)
	}
	return fmt.Errorf("pgstore: %s: %w", op, err)
}

const getSQL = `SELECT state, idle_timeout, last_activity, created_at, version
FROM ` + table + ` WHERE namespace = $1 AND name = $2`

// Get returns the session, or an error wrapping [activity.ErrNotFound] when
// there is none (as for a namespace or name that is not valid UTF-8 or
// holds a NUL byte), ctx.Err() when ctx is done, or the database's error.
func (s *Store) Get(ctx context.Context, namespace, name string) (activity.Session, error) {
	if err := ctx.Err(); err != nil {
		return activity.Session{}, err
	}
	if !storable(namespace) || !storable(name) {
		return activity.Session{}, fmt.Errorf("pgstore: %s/%s: %w", namespace, name, activity.ErrNotFound)
	}
	out := activity.Session{Namespace: namespace, Name: name}
	var idle int64
	err := s.pool.QueryRow(ctx, getSQL, namespace, name).Scan(&out.State, &idle, &out.LastActivity, &out.CreatedAt, &out.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		return activity.Session{}, fmt.Errorf("pgstore: %s/%s: %w", namespace, name, activity.ErrNotFound)
	}
	if err != nil {
		return activity.Session{}, wrap("get "+namespace+"/"+name, err)
	}
	normalize(&out, idle)
	return out, nil
}

// normalize sets the IdleTimeout and makes the scanned times UTC.
func normalize(s *activity.Session, idle int64) {
	s.IdleTimeout = time.Duration(idle)
	s.CreatedAt = s.CreatedAt.UTC()
	if s.LastActivity != nil {
		t := s.LastActivity.UTC()
		s.LastActivity = &t
	}
}

const listSQL = `SELECT name, state, idle_timeout, last_activity, created_at, version
FROM ` + table + ` WHERE namespace = $1 ORDER BY name`

// List returns the sessions of the namespace, sorted by name byte by byte,
// or nil when there are none. The rows are decoded one by one as they
// arrive, straight into the returned slice, which is all the memory the
// result takes; [Store.Each] does not even keep that. It returns ctx.Err()
// when ctx is done, or the database's error.
func (s *Store) List(ctx context.Context, namespace string) ([]activity.Session, error) {
	var out []activity.Session
	err := s.Each(ctx, namespace, func(sess activity.Session) error {
		out = append(out, sess)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Each calls fn with each session of the namespace, sorted by name byte by
// byte, streaming the rows from the database: it holds one row at a time,
// whatever the number of sessions. The rows hold one connection of the
// pool until Each returns, so an fn that calls the Store uses another. It
// stops at the first error fn returns and returns it; once ctx ends it
// calls fn no more and returns ctx.Err() (possibly wrapped); else the
// database's error.
func (s *Store) Each(ctx context.Context, namespace string, fn func(activity.Session) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !storable(namespace) {
		return nil // no session has it
	}
	rows, err := s.pool.Query(ctx, listSQL, namespace)
	if err != nil {
		return wrap("list "+namespace, err)
	}
	defer rows.Close()
	var idle int64
	for rows.Next() {
		// pgx cancels the query when ctx ends, but the rows it has
		// received already would still come: stop at once.
		if err := ctx.Err(); err != nil {
			return err
		}
		sess := activity.Session{Namespace: namespace}
		if err := rows.Scan(&sess.Name, &sess.State, &idle, &sess.LastActivity, &sess.CreatedAt, &sess.Version); err != nil {
			return wrap("list "+namespace, err)
		}
		normalize(&sess, idle)
		if err := fn(sess); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return wrap("list "+namespace, err)
	}
	return nil
}

const insertSQL = `INSERT INTO ` + table + ` (namespace, name, state, idle_timeout, last_activity, created_at, version)
VALUES ($1, $2, $3, $4, $5, $6, 1)
ON CONFLICT (namespace, name) DO NOTHING`

// updateSQL is the compare-and-set: it updates the row if its version is $7
// and returns the new version, else nothing.
const updateSQL = `UPDATE ` + table + ` SET state = $3, idle_timeout = $4, last_activity = $5, created_at = $6, version = version + 1
WHERE namespace = $1 AND name = $2 AND version = $7
RETURNING version`

// versionSQL tells a conflict (a row) from an absent session (none) after
// updateSQL changed nothing. No Store deletes rows, so the answer holds.
const versionSQL = `SELECT version FROM ` + table + ` WHERE namespace = $1 AND name = $2`

// Update stores in with compare-and-set, in one statement: an absent session
// with Version 0 is inserted with Version 1, and an existing one is updated
// only if its stored version is in.Version, getting the next one (UPDATE …
// WHERE version = $v RETURNING version); when that changes nothing, a
// second query tells a conflict from an absent session. It returns what it
// stored: in with its times
// truncated to microseconds in UTC (and brought within PostgreSQL's range)
// and the new Version.
//
// It returns an error wrapping [activity.ErrConflict] when the stored
// version differs (including Version 0 for an existing session), one
// wrapping [activity.ErrNotFound] for an absent session with a Version
// other than 0 (as is every session whose namespace or name PostgreSQL
// cannot store), one wrapping [ErrInvalidText] for a Namespace, Name or
// State that is not valid UTF-8 or holds a NUL byte, ctx.Err() when ctx
// is done before it starts, or the database's error. A context that ends during the statement may leave it
// applied or not.
func (s *Store) Update(ctx context.Context, in activity.Session) (activity.Session, error) {
	if err := ctx.Err(); err != nil {
		return activity.Session{}, err
	}
	id := in.Namespace + "/" + in.Name
	if !storable(in.Namespace) || !storable(in.Name) || !storable(in.State) {
		if in.Version != 0 && (!storable(in.Namespace) || !storable(in.Name)) {
			return activity.Session{}, fmt.Errorf("pgstore: update %s: %w", id, activity.ErrNotFound)
		}
		return activity.Session{}, fmt.Errorf("pgstore: update %s: %w", id, ErrInvalidText)
	}
	out := in
	out.CreatedAt = storedTime(in.CreatedAt)
	if in.LastActivity != nil {
		t := storedTime(*in.LastActivity)
		out.LastActivity = &t
	}
	if in.Version == 0 {
		tag, err := s.pool.Exec(ctx, insertSQL, in.Namespace, in.Name, in.State, int64(in.IdleTimeout), out.LastActivity, out.CreatedAt)
		if err != nil {
			return activity.Session{}, wrap("create "+id, err)
		}
		if tag.RowsAffected() == 0 {
			return activity.Session{}, fmt.Errorf("pgstore: create %s: exists: %w", id, activity.ErrConflict)
		}
		out.Version = 1
		return out, nil
	}
	var version int64
	err := s.pool.QueryRow(ctx, updateSQL, in.Namespace, in.Name, in.State, int64(in.IdleTimeout), out.LastActivity, out.CreatedAt, in.Version).Scan(&version)
	if errors.Is(err, pgx.ErrNoRows) {
		err = s.pool.QueryRow(ctx, versionSQL, in.Namespace, in.Name).Scan(&version)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return activity.Session{}, fmt.Errorf("pgstore: update %s: %w", id, activity.ErrNotFound)
		case err == nil:
			return activity.Session{}, fmt.Errorf("pgstore: update %s: version %d, stored %d: %w", id, in.Version, version, activity.ErrConflict)
		}
	}
	if err != nil {
		return activity.Session{}, wrap("update "+id, err)
	}
	out.Version = version
	return out, nil
}
