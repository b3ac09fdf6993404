package pgstore

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sessionkit/sessionkit/activity"
)

// recordSQL writes a batch of stamps, one per session, in one statement:
// each session moves forward to its stamp and gets the next version; the
// WHERE is checked again on the row it locks, so a newer stamp written
// meanwhile is never overwritten.
const recordSQL = `UPDATE ` + table + ` s SET last_activity = u.at, version = s.version + 1
FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(namespace, name, at)
WHERE s.namespace = u.namespace AND s.name = u.name
	AND (s.last_activity IS NULL OR s.last_activity < u.at)`

// maxBatch is the most stamps RecordActivity sends in one statement; a
// larger batch is split. A variable for tests.
var maxBatch = 50_000

// recordAttempts bounds the statements RecordActivity runs for one chunk
// when the database aborts it as a deadlock victim or for serialization.
const recordAttempts = 10

// RecordActivity implements [activity.BatchRecorder] in one UPDATE statement
// per 50,000 sessions (for a Tracker's flush, usually one): each named
// session's last activity moves forward to its latest stamp, truncated to
// microseconds (and brought within PostgreSQL's range), where that is later
// than the stored one, and the session gets the next version; sessions
// whose stored activity is as recent or more, and stamps of absent
// sessions, are left alone. Stamps whose namespace or name is not valid
// UTF-8 or holds a NUL byte name no session and are ignored too.
//
// The stamps are sent sorted by namespace and name, so that servers
// flushing overlapping batches at once lock rows in the same order; a
// statement the database still aborts as a deadlock victim (40P01) or for
// serialization (40001) is run again, which the forward-only rule makes
// harmless. It returns ctx.Err() when ctx is done before it starts, or the
// database's error, in which case the statements before the failing one
// have been applied.
func (s *Store) RecordActivity(ctx context.Context, stamps []activity.Stamp) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	stamps = latestSorted(storableStamps(stamps))
	for len(stamps) > 0 {
		n := min(len(stamps), maxBatch)
		namespaces, names, ats := make([]string, n), make([]string, n), make([]time.Time, n)
		for i, st := range stamps[:n] {
			namespaces[i], names[i], ats[i] = st.Namespace, st.Name, storedTime(st.At)
		}
		for attempt := 1; ; attempt++ {
			_, err := s.pool.Exec(ctx, recordSQL, namespaces, names, ats)
			if err == nil {
				break
			}
			if attempt == recordAttempts || !retryable(err) || ctx.Err() != nil {
				return wrap("record activity", err)
			}
		}
		stamps = stamps[n:]
	}
	return nil
}

// storableStamps returns the stamps whose namespace and name PostgreSQL's
// text can hold: stamps itself when that is all of them, else a copy. No
// session has another, and one such stamp would fail the whole statement,
// and so every flush of a Tracker that keeps it pending.
func storableStamps(stamps []activity.Stamp) []activity.Stamp {
	i := slices.IndexFunc(stamps, func(st activity.Stamp) bool { return !storable(st.Namespace) || !storable(st.Name) })
	if i < 0 {
		return stamps
	}
	out := slices.Clone(stamps[:i])
	for _, st := range stamps[i+1:] {
		if storable(st.Namespace) && storable(st.Name) {
			out = append(out, st)
		}
	}
	return out
}

// latestSorted returns stamps sorted by namespace and name with one stamp
// per session, its latest: stamps itself when it is so already, else a
// sorted copy.
func latestSorted(stamps []activity.Stamp) []activity.Stamp {
	if slices.IsSortedFunc(stamps, func(a, b activity.Stamp) int {
		if c := cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name)); c != 0 {
			return c
		}
		return -1 // a duplicate: not sorted as wanted
	}) {
		return stamps // a Tracker's flush: sorted, one per session
	}
	out := slices.Clone(stamps)
	slices.SortFunc(out, func(a, b activity.Stamp) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name), b.At.Compare(a.At)) // latest first
	})
	return slices.CompactFunc(out, func(a, b activity.Stamp) bool { // keeps the first of each session's run
		return a.Namespace == b.Namespace && a.Name == b.Name
	})
}

// retryable reports a statement the database aborted for a deadlock or a
// serialization failure, which succeeds when run again.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
}
