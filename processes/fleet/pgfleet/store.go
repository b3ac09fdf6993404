package pgfleet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessionkit/sessionkit/processes/fleet"
)

// Tables; see migrations/0001_fleet.sql.
const (
	hostsTable    = "sessionkit_fleet_hosts"
	sessionsTable = "sessionkit_fleet_sessions"
	commandsTable = "sessionkit_fleet_commands"
)

// Store is a [fleet.Store] in PostgreSQL tables, over a pgx pool whose
// schema [Migrate] prepared. Make one with [New]; the zero Store is not
// usable. It is safe for concurrent use by any number of goroutines and
// processes sharing the database: every method is one statement or one
// transaction, and the database decides every race (a seat, a claim).
//
// Times are kept at microsecond precision, in UTC.
type Store struct {
	pool *pgxpool.Pool
}

var _ fleet.Store = (*Store)(nil)

// New returns a Store over pool. It does not touch the database: run
// [Migrate] once first. It panics if pool is nil.
func New(pool *pgxpool.Pool) *Store {
	if pool == nil {
		panic("pgfleet: nil pool")
	}
	return &Store{pool: pool}
}

// wrap adds what the Store was doing to a database error, and
// ErrNotMigrated when a table is missing; a context error stays one.
func wrap(op string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
		return fmt.Errorf("pgfleet: %s: %w: %w", op, ErrNotMigrated, err)
	}
	return fmt.Errorf("pgfleet: %s: %w", op, err)
}

// deadlockRetries bounds how many times a statement that PostgreSQL
// aborted to break a deadlock is run again.
const deadlockRetries = 8

// retryDeadlocks runs a one-statement transaction, again when PostgreSQL
// aborted it to break a deadlock (40P01) or a serialization failure
// (40001): it had no effect, so running it again is safe. Placements
// deadlock when hosts fill up: each sorts the hosts on its own snapshot
// and locks the first that fits; one whose first host is full once
// locked keeps that lock and moves to the next, which another placement
// may hold while it wants the first.
func retryDeadlocks(ctx context.Context, run func() error) error {
	for i := 0; ; i++ {
		err := run()
		var pgErr *pgconn.PgError
		if err == nil || i == deadlockRetries || ctx.Err() != nil ||
			!errors.As(err, &pgErr) || pgErr.Code != "40P01" && pgErr.Code != "40001" {
			return err
		}
	}
}

// errBadText is the ErrInvalid of text PostgreSQL's text cannot hold.
var errBadText = fmt.Errorf("text must be valid UTF-8 without NUL bytes: %w", fleet.ErrInvalid)

// storable reports whether every s is text PostgreSQL's text holds:
// valid UTF-8 without NUL bytes. Another string is refused where it
// would be stored, and names nothing where it is looked up: passed to
// the database, it fails the statement with an encoding error.
func storable(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return false
		}
	}
	return true
}

// storableOnly returns the storable strings of ss, and whether there
// were any strings to begin with.
func storableOnly(ss []string) (out []string, some bool) {
	out = make([]string, 0, len(ss))
	for _, s := range ss {
		if storable(s) {
			out = append(out, s)
		}
	}
	return out, len(ss) > 0
}

// message returns s with what PostgreSQL's text cannot hold (NUL bytes,
// invalid UTF-8) replaced by U+FFFD: reasons and error texts are
// messages, kept as well as they can be.
func message(s string) string {
	if storable(s) {
		return s
	}
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", "\uFFFD"), "\uFFFD")
}

// int32Of returns n within int32, the range of the tables' int columns:
// a capacity or session count past it is kept as its end (2^31−1 seats
// is no limit), where PostgreSQL refused the statement.
func int32Of(n int) int32 {
	return int32(max(min(int64(n), math.MaxInt32), math.MinInt32))
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

func ts(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }

// channelSQL is the NOTIFY channel of a topic ($n): a hash of the
// connection's schema and the topic, so that stores in different schemas
// of one database never wake each other (notifications are per
// database), and any topic fits in an identifier.
func channelSQL(n int) string { return channelOf(fmt.Sprintf("$%d", n)) }

// channelOf is channelSQL of a topic given as an SQL expression.
func channelOf(topic string) string {
	return "'fleet_' || md5(current_schema() || chr(31) || " + topic + ")"
}

const hostCols = `id, cluster_id, cluster_name, region, platform, capacity, addr, connected, sessions, seats, beats, last_heartbeat, registered_at`

func scanHost(row pgx.Row) (fleet.Host, error) {
	var h fleet.Host
	err := row.Scan(&h.ID, &h.ClusterID, &h.ClusterName, &h.Region, &h.Platform, &h.Capacity, &h.Addr,
		&h.Connected, &h.Sessions, &h.Seats, &h.Beats, &h.LastHeartbeat, &h.RegisteredAt)
	h.LastHeartbeat, h.RegisteredAt = h.LastHeartbeat.UTC(), h.RegisteredAt.UTC()
	return h, err
}

const registerSQL = `INSERT INTO ` + hostsTable + ` (id, cluster_id, cluster_name, region, platform, capacity, addr, connected, last_heartbeat, registered_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, true, $8, $8)
ON CONFLICT (id) DO UPDATE SET cluster_id = EXCLUDED.cluster_id, cluster_name = EXCLUDED.cluster_name,
	region = EXCLUDED.region, platform = EXCLUDED.platform, capacity = EXCLUDED.capacity, addr = EXCLUDED.addr,
	connected = true, last_heartbeat = EXCLUDED.last_heartbeat`

// RegisterHost: see [fleet.Store].
func (s *Store) RegisterHost(ctx context.Context, h fleet.Host, now time.Time) error {
	if h.ID == "" {
		return fmt.Errorf("pgfleet: register host: empty ID: %w", fleet.ErrInvalid)
	}
	if !storable(h.ID, h.ClusterID, h.ClusterName, h.Region, h.Platform, h.Addr) {
		return fmt.Errorf("pgfleet: register host %q: %w", h.ID, errBadText)
	}
	_, err := s.pool.Exec(ctx, registerSQL, h.ID, h.ClusterID, h.ClusterName, h.Region, h.Platform, int32Of(h.Capacity), h.Addr, ts(now))
	if err != nil {
		return wrap("register host "+h.ID, err)
	}
	return nil
}

func notFound(what, id string) error {
	return fmt.Errorf("pgfleet: %s %q: %w", what, id, fleet.ErrNotFound)
}

// Heartbeat: see [fleet.Store].
func (s *Store) Heartbeat(ctx context.Context, hostID string, sessions int, now time.Time) error {
	if !storable(hostID) {
		return notFound("host", hostID)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE `+hostsTable+` SET sessions = $2, last_heartbeat = $3, beats = beats + 1 WHERE id = $1`, hostID, int32Of(sessions), ts(now))
	if err != nil {
		return wrap("heartbeat "+hostID, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("host", hostID)
	}
	return nil
}

// SetConnected: see [fleet.Store].
func (s *Store) SetConnected(ctx context.Context, hostID string, connected bool) error {
	if !storable(hostID) {
		return notFound("host", hostID)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE `+hostsTable+` SET connected = $2 WHERE id = $1`, hostID, connected)
	if err != nil {
		return wrap("set connected "+hostID, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("host", hostID)
	}
	return nil
}

// Host: see [fleet.Store].
func (s *Store) Host(ctx context.Context, hostID string) (fleet.Host, error) {
	if !storable(hostID) {
		return fleet.Host{}, notFound("host", hostID)
	}
	h, err := scanHost(s.pool.QueryRow(ctx, `SELECT `+hostCols+` FROM `+hostsTable+` WHERE id = $1`, hostID))
	if errors.Is(err, pgx.ErrNoRows) {
		return fleet.Host{}, notFound("host", hostID)
	}
	if err != nil {
		return fleet.Host{}, wrap("host "+hostID, err)
	}
	return h, nil
}

// Hosts: see [fleet.Store].
func (s *Store) Hosts(ctx context.Context) ([]fleet.Host, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+hostCols+` FROM `+hostsTable+` ORDER BY id`)
	if err != nil {
		return nil, wrap("hosts", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (fleet.Host, error) { return scanHost(r) })
	if err != nil {
		return nil, wrap("hosts", err)
	}
	return out, nil
}

// placeSQL is the placement, in one statement: the least loaded fitting
// host is chosen and locked (choice), the session's record inserted on
// it, or a final record of the same ID replaced (ins: nothing when a
// record of the ID holds a seat), and the host's seat taken only if the
// record was written (upd). The load is compared as float8, which orders
// seats/capacity exactly for counts below 2^53 (IEEE division is
// correctly rounded). Under READ COMMITTED a host row changed by a
// concurrent placement is re-checked once locked and skipped if it no
// longer fits, and the next row is taken (see "Read Committed Isolation
// Level" in the PostgreSQL documentation), so a host is never overfilled.
// The skipped row stays locked, so two placements near full can wait on
// each other; PostgreSQL aborts one, and Place runs it again.
// The last column tells ErrNoAgent (no choice) from ErrExists.
const placeSQL = `WITH choice AS (
	SELECT id FROM ` + hostsTable + `
	WHERE seats < capacity AND last_heartbeat >= $1 AND last_heartbeat <= $9
		AND ($2 = '' OR cluster_id = $2) AND ($3 = '' OR region = $3) AND ($4 = '' OR platform = $4)
		AND (connected OR NOT $5)
	ORDER BY seats::float8 / capacity, seats, id
	LIMIT 1
	FOR UPDATE
), ins AS (
	INSERT INTO ` + sessionsTable + ` AS s (id, workspace_id, host_id, state, reason, created_at, updated_at)
	SELECT $6, $7, choice.id, 'pending', '', $8, $8 FROM choice
	ON CONFLICT (id) DO UPDATE SET workspace_id = EXCLUDED.workspace_id, host_id = EXCLUDED.host_id, state = 'pending',
		reason = '', created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at
	WHERE s.state NOT IN ('pending', 'running', 'terminating')
	RETURNING s.host_id
), upd AS (
	UPDATE ` + hostsTable + ` h SET seats = h.seats + 1 FROM ins WHERE h.id = ins.host_id
	RETURNING ` + "h.id, h.cluster_id, h.cluster_name, h.region, h.platform, h.capacity, h.addr, h.connected, h.sessions, h.seats, h.beats, h.last_heartbeat, h.registered_at" + `
)
SELECT upd.*, (SELECT count(*) FROM choice) FROM (SELECT 1) one LEFT JOIN upd ON true`

// Place: see [fleet.Store]. One statement.
func (s *Store) Place(ctx context.Context, p fleet.Placement) (fleet.Host, error) {
	if p.SessionID == "" {
		return fleet.Host{}, fmt.Errorf("pgfleet: place: empty session ID: %w", fleet.ErrInvalid)
	}
	if !storable(p.SessionID, p.WorkspaceID) {
		return fleet.Host{}, fmt.Errorf("pgfleet: place %q: %w", p.SessionID, errBadText)
	}
	c := p.Criteria
	if c == nil {
		c = &fleet.SelectionCriteria{}
	}
	if !storable(c.ClusterID, c.Region, c.Platform) {
		// No host is named so: ErrNoAgent, or ErrExists (see below).
		return fleet.Host{}, s.noPlace(ctx, p.SessionID)
	}
	now := ts(p.Now)
	var (
		id, clusterID, clusterName, region, platform, addr *string
		capacity, sessions, seats                          *int
		connected                                          *bool
		beats                                              *int64
		last, registered                                   *time.Time
		chosen                                             int64
	)
	err := retryDeadlocks(ctx, func() error {
		return s.pool.QueryRow(ctx, placeSQL, now.Add(-p.TTL), c.ClusterID, c.Region, c.Platform, c.RequireConnected,
			p.SessionID, p.WorkspaceID, now, now.Add(p.TTL)).Scan(&id, &clusterID, &clusterName, &region, &platform, &capacity, &addr,
			&connected, &sessions, &seats, &beats, &last, &registered, &chosen)
	})
	switch {
	case err != nil:
		return fleet.Host{}, wrap("place "+p.SessionID, err)
	case chosen == 0:
		return fleet.Host{}, s.noPlace(ctx, p.SessionID)
	case id == nil:
		return fleet.Host{}, fmt.Errorf("pgfleet: place %q: %w", p.SessionID, fleet.ErrExists)
	}
	return fleet.Host{ID: *id, ClusterID: *clusterID, ClusterName: *clusterName, Region: *region, Platform: *platform,
		Capacity: *capacity, Addr: *addr, Connected: *connected, Sessions: *sessions, Seats: *seats, Beats: *beats,
		LastHeartbeat: last.UTC(), RegisteredAt: registered.UTC()}, nil
}

// noPlace is Place's error when no host fits: a session holding a seat
// is still ErrExists, as for any Store; else ErrNoAgent.
func (s *Store) noPlace(ctx context.Context, id string) error {
	var state string
	err := s.pool.QueryRow(ctx, `SELECT state FROM `+sessionsTable+` WHERE id = $1`, id).Scan(&state)
	if err == nil && fleet.HoldsSeat(state) {
		return fmt.Errorf("pgfleet: place %q: %w", id, fleet.ErrExists)
	}
	return fmt.Errorf("pgfleet: place %q: %w", id, fleet.ErrNoAgent)
}

const sessionCols = `id, workspace_id, host_id, state, reason, created_at, updated_at`

func scanSession(row pgx.Row) (fleet.SessionRecord, error) {
	var r fleet.SessionRecord
	err := row.Scan(&r.ID, &r.WorkspaceID, &r.HostID, &r.State, &r.Reason, &r.CreatedAt, &r.UpdatedAt)
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return r, err
}

// Session: see [fleet.Store].
func (s *Store) Session(ctx context.Context, id string) (fleet.SessionRecord, error) {
	if !storable(id) {
		return fleet.SessionRecord{}, notFound("session", id)
	}
	r, err := scanSession(s.pool.QueryRow(ctx, `SELECT `+sessionCols+` FROM `+sessionsTable+` WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return fleet.SessionRecord{}, notFound("session", id)
	}
	if err != nil {
		return fleet.SessionRecord{}, wrap("session "+id, err)
	}
	return r, nil
}

// Sessions: see [fleet.Store].
func (s *Store) Sessions(ctx context.Context, f fleet.SessionFilter) ([]fleet.SessionRecord, error) {
	states, some := storableOnly(f.States)
	if !storable(f.HostID) || some && len(states) == 0 {
		return nil, nil // no record holds such text
	}
	rows, err := s.pool.Query(ctx, `SELECT `+sessionCols+` FROM `+sessionsTable+`
WHERE ($1 = '' OR host_id = $1) AND (cardinality($2::text[]) = 0 OR state = ANY($2)) ORDER BY id`, f.HostID, states)
	if err != nil {
		return nil, wrap("sessions", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (fleet.SessionRecord, error) { return scanSession(r) })
	if err != nil {
		return nil, wrap("sessions", err)
	}
	return out, nil
}

// transitionSQL is Transition in one statement: the record is locked
// (old), changed if its state is one of $2 and, unless $7 is empty, it
// is on host $7 (upd), and its host's seat count moved by the
// difference the change makes (h).
const transitionSQL = `WITH old AS (
	SELECT id, state, host_id FROM ` + sessionsTable + ` WHERE id = $1 FOR UPDATE
), upd AS (
	UPDATE ` + sessionsTable + ` s SET state = $3, reason = $4, updated_at = $5 FROM old
	WHERE s.id = old.id AND (cardinality($2::text[]) = 0 OR old.state = ANY($2)) AND ($7 = '' OR old.host_id = $7)
	RETURNING old.host_id, (CASE WHEN $6 THEN 1 ELSE 0 END) -
		(CASE WHEN old.state IN ('pending', 'running', 'terminating') THEN 1 ELSE 0 END) AS delta
), h AS (
	UPDATE ` + hostsTable + ` SET seats = greatest(seats + upd.delta, 0) FROM upd
	WHERE ` + hostsTable + `.id = upd.host_id AND upd.delta <> 0
	RETURNING 1
)
SELECT (SELECT count(*) FROM old), (SELECT count(*) FROM upd), (SELECT count(*) FROM h)`

// Transition: see [fleet.Store]. One statement.
func (s *Store) Transition(ctx context.Context, id string, from []string, to, reason string, now time.Time) (bool, error) {
	return s.TransitionOn(ctx, id, "", from, to, reason, now)
}

// TransitionOn: see [fleet.Store]. One statement; an empty hostID is any
// host (Transition).
func (s *Store) TransitionOn(ctx context.Context, id, hostID string, from []string, to, reason string, now time.Time) (bool, error) {
	if !storable(to) {
		return false, fmt.Errorf("pgfleet: transition %q to %q: %w", id, to, errBadText)
	}
	if !storable(id) {
		return false, notFound("session", id)
	}
	from, some := storableOnly(from)
	if some && len(from) == 0 || !storable(hostID) {
		// No record is in a state, or on a host, named so.
		if _, err := s.Session(ctx, id); err != nil {
			return false, err
		}
		return false, nil
	}
	reason = message(reason)
	var found, changed, seats int64
	// A transition locks the record, then its host's row; a placement of
	// the same ID locks a host, then the record: they may deadlock.
	err := retryDeadlocks(ctx, func() error {
		return s.pool.QueryRow(ctx, transitionSQL, id, from, to, reason, ts(now), fleet.HoldsSeat(to), hostID).Scan(&found, &changed, &seats)
	})
	if err != nil {
		return false, wrap("transition "+id, err)
	}
	if found == 0 {
		return false, notFound("session", id)
	}
	return changed > 0, nil
}

const commandCols = `id, host_id, session_id, kind, payload, state, attempts, error, result, created_at, sent_at, acked_at, done_at, lease_until`

func scanCommand(row pgx.Row) (fleet.Command, error) { return scanCommandExtra(row) }

// scanCommandExtra scans a command and then the extra columns after it.
func scanCommandExtra(row pgx.Row, extra ...any) (fleet.Command, error) {
	var c fleet.Command
	var sent, acked, done, lease *time.Time
	err := row.Scan(append([]any{&c.ID, &c.HostID, &c.SessionID, &c.Kind, &c.Payload, &c.State, &c.Attempts, &c.Error, &c.Result,
		&c.CreatedAt, &sent, &acked, &done, &lease}, extra...)...)
	c.CreatedAt = c.CreatedAt.UTC()
	for _, p := range []struct {
		from *time.Time
		to   *time.Time
	}{{sent, &c.SentAt}, {acked, &c.AckedAt}, {done, &c.DoneAt}, {lease, &c.LeaseUntil}} {
		if p.from != nil {
			*p.to = p.from.UTC()
		}
	}
	return c, err
}

func collectCommands(rows pgx.Rows) ([]fleet.Command, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (fleet.Command, error) { return scanCommand(r) })
}

// Enqueue: see [fleet.Store]. One INSERT from arrays, whatever the
// number of commands.
func (s *Store) Enqueue(ctx context.Context, now time.Time, cmds ...*fleet.Command) error {
	n := len(cmds)
	ids, hosts, sessions, kinds := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	payloads := make([][]byte, n)
	for i, c := range cmds {
		if c == nil || c.ID == "" || c.HostID == "" {
			return fmt.Errorf("pgfleet: enqueue: a command needs an ID and a HostID: %w", fleet.ErrInvalid)
		}
		if !storable(c.ID, c.HostID, c.SessionID, c.Kind) {
			return fmt.Errorf("pgfleet: enqueue %q: %w", c.ID, errBadText)
		}
		ids[i], hosts[i], sessions[i], kinds[i], payloads[i] = c.ID, c.HostID, c.SessionID, c.Kind, c.Payload
	}
	if n == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO `+commandsTable+` (id, host_id, session_id, kind, payload, state, created_at)
SELECT id, host_id, session_id, kind, payload, 'pending', $6
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[]) WITH ORDINALITY AS t(id, host_id, session_id, kind, payload, n)
ORDER BY n`, ids, hosts, sessions, kinds, payloads, ts(now))
	if isUniqueViolation(err) {
		return fmt.Errorf("pgfleet: enqueue: %w: %w", fleet.ErrExists, err)
	}
	if err != nil {
		return wrap("enqueue", err)
	}
	return nil
}

// Command: see [fleet.Store].
func (s *Store) Command(ctx context.Context, id string) (fleet.Command, error) {
	if !storable(id) {
		return fleet.Command{}, notFound("command", id)
	}
	c, err := scanCommand(s.pool.QueryRow(ctx, `SELECT `+commandCols+` FROM `+commandsTable+` WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return fleet.Command{}, notFound("command", id)
	}
	if err != nil {
		return fleet.Command{}, wrap("command "+id, err)
	}
	return c, nil
}

// Commands: see [fleet.Store].
func (s *Store) Commands(ctx context.Context, f fleet.CommandFilter) ([]fleet.Command, error) {
	states, some := storableOnly(f.States)
	if !storable(f.HostID, f.SessionID) || some && len(states) == 0 {
		return nil, nil // no command holds such text
	}
	rows, err := s.pool.Query(ctx, `SELECT `+commandCols+` FROM `+commandsTable+`
WHERE ($1 = '' OR host_id = $1) AND ($2 = '' OR session_id = $2) AND (cardinality($3::text[]) = 0 OR state = ANY($3))
ORDER BY seq`, f.HostID, f.SessionID, states)
	if err != nil {
		return nil, wrap("commands", err)
	}
	out, err := collectCommands(rows)
	if err != nil {
		return nil, wrap("commands", err)
	}
	return out, nil
}

// sendSQL is Send in one statement: the command is locked, the step
// decided from its state, lease and attempts, applied, and its host (or
// DoneTopic) notified; NOTIFY is delivered at commit (see NOTIFY in the
// PostgreSQL documentation).
// sendSQL is Send in one statement: the command is locked (c), the step
// decided from its state, lease and attempts (d), applied (u), and its
// host (or DoneTopic) notified (n); NOTIFY is delivered at commit (see
// NOTIFY in the PostgreSQL documentation). It returns the row as it is
// after the step, and the notifications sent.
var sendSQL = `WITH c AS (
	SELECT ` + commandCols + ` FROM ` + commandsTable + ` WHERE id = $1 FOR UPDATE
), d AS (
	SELECT id, host_id, CASE
		WHEN state = 'pending' OR (state IN ('sent', 'ack') AND lease_until < $2) THEN
			CASE WHEN attempts >= $4 THEN 'fail' ELSE 'send' END
		WHEN state = 'sent' THEN 'renotify'
		ELSE 'none' END AS act
	FROM c
), u AS (
	UPDATE ` + commandsTable + ` t SET
		state = CASE d.act WHEN 'fail' THEN 'failed' ELSE 'sent' END,
		attempts = t.attempts + CASE d.act WHEN 'send' THEN 1 ELSE 0 END,
		sent_at = CASE d.act WHEN 'send' THEN $2 ELSE t.sent_at END,
		lease_until = CASE d.act WHEN 'send' THEN $3 ELSE t.lease_until END,
		done_at = CASE d.act WHEN 'fail' THEN $2 ELSE t.done_at END,
		error = CASE d.act WHEN 'fail' THEN 'fleet: no completion after ' || t.attempts || ' attempts' ELSE t.error END
	FROM d WHERE t.id = d.id AND d.act IN ('send', 'fail')
	RETURNING ` + prefixed("t.", commandCols) + `
), n AS (
	SELECT pg_notify(CASE d.act WHEN 'fail' THEN ` + channelSQL(5) + ` ELSE ` + channelOf("'host:' || d.host_id") + ` END,
		CASE d.act WHEN 'fail' THEN d.id ELSE '' END)
	FROM d WHERE d.act IN ('send', 'fail', 'renotify')
)
SELECT *, (SELECT count(*) FROM n) FROM u
UNION ALL
SELECT *, (SELECT count(*) FROM n) FROM c WHERE NOT EXISTS (SELECT 1 FROM u)`

// prefixed returns the comma-separated columns cols, each with p before.
func prefixed(p, cols string) string {
	f := strings.Split(cols, ", ")
	for i := range f {
		f[i] = p + f[i]
	}
	return strings.Join(f, ", ")
}

// Send: see [fleet.Store]. One statement.
func (s *Store) Send(ctx context.Context, id string, now time.Time, lease time.Duration, maxAttempts int) (fleet.Command, error) {
	if !storable(id) {
		return fleet.Command{}, notFound("command", id)
	}
	now = ts(now)
	rows, err := s.pool.Query(ctx, sendSQL, id, now, ts(now.Add(lease)), maxAttempts, string(fleet.DoneTopic))
	if err != nil {
		return fleet.Command{}, wrap("send "+id, err)
	}
	var notified int64
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (fleet.Command, error) {
		return scanCommandExtra(r, &notified)
	})
	if err != nil {
		return fleet.Command{}, wrap("send "+id, err)
	}
	if len(out) == 0 {
		return fleet.Command{}, notFound("command", id)
	}
	return out[0], nil
}

// claimSQL acknowledges up to $2 sent commands of host $1, oldest first,
// each locked with FOR UPDATE SKIP LOCKED so that concurrent claimers
// skip each other's rows rather than wait or take them twice ("The
// Locking Clause" in the SELECT documentation of PostgreSQL). The lease
// never ends before the one the send gave (see fleet.Store.Claim).
const claimSQL = `WITH c AS (
	SELECT id FROM ` + commandsTable + ` WHERE host_id = $1 AND state = 'sent' ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED
)
UPDATE ` + commandsTable + ` t SET state = 'ack', acked_at = greatest(t.sent_at, $3), lease_until = greatest(t.lease_until, $4)
FROM c WHERE t.id = c.id
RETURNING t.seq, ` + "t.id, t.host_id, t.session_id, t.kind, t.payload, t.state, t.attempts, t.error, t.result, t.created_at, t.sent_at, t.acked_at, t.done_at, t.lease_until"

// Claim: see [fleet.Store]. One statement.
func (s *Store) Claim(ctx context.Context, hostID string, max int, now time.Time, lease time.Duration) ([]fleet.Command, error) {
	if max <= 0 || !storable(hostID) {
		return nil, nil
	}
	now = ts(now)
	rows, err := s.pool.Query(ctx, claimSQL, hostID, max, now, ts(now.Add(lease)))
	if err != nil {
		return nil, wrap("claim", err)
	}
	type seqCmd struct {
		seq int64
		c   fleet.Command
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (seqCmd, error) {
		var sc seqCmd
		var sent, acked, done, lease *time.Time
		c := &sc.c
		err := r.Scan(&sc.seq, &c.ID, &c.HostID, &c.SessionID, &c.Kind, &c.Payload, &c.State, &c.Attempts, &c.Error, &c.Result,
			&c.CreatedAt, &sent, &acked, &done, &lease)
		c.CreatedAt = c.CreatedAt.UTC()
		if sent != nil {
			c.SentAt = sent.UTC()
		}
		if acked != nil {
			c.AckedAt = acked.UTC()
		}
		if done != nil {
			c.DoneAt = done.UTC()
		}
		if lease != nil {
			c.LeaseUntil = lease.UTC()
		}
		return sc, err
	})
	if err != nil {
		return nil, wrap("claim", err)
	}
	slices.SortFunc(got, func(a, b seqCmd) int { return cmp.Compare(a.seq, b.seq) })
	out := make([]fleet.Command, len(got))
	for i, g := range got {
		out[i] = g.c
	}
	return out, nil
}

var completeSQL = `WITH u AS (
	UPDATE ` + commandsTable + ` SET state = CASE WHEN $4 = '' THEN 'completed' ELSE 'failed' END,
		result = $3, error = $4, done_at = greatest(acked_at, $5)
	WHERE id = $1 AND host_id = $2 AND state = 'ack'
	RETURNING id
)
SELECT pg_notify(` + channelSQL(6) + `, id) FROM u`

// Complete: see [fleet.Store]. One statement, and a read when it changed
// nothing, to tell why.
func (s *Store) Complete(ctx context.Context, id, hostID string, result []byte, errText string, now time.Time) error {
	if !storable(id) {
		return notFound("command", id)
	}
	if storable(hostID) { // else no host holds it: tell why below
		tag, err := s.pool.Exec(ctx, completeSQL, id, hostID, result, message(errText), ts(now), string(fleet.DoneTopic))
		if err != nil {
			return wrap("complete "+id, err)
		}
		if tag.RowsAffected() > 0 {
			return nil
		}
	}
	c, err := s.Command(ctx, id)
	if err != nil {
		return err
	}
	if fleet.CommandDone(c.State) {
		return nil
	}
	return fmt.Errorf("pgfleet: complete %q (%s, host %q): %w", id, c.State, c.HostID, fleet.ErrNotHeld)
}

// Recoverable: see [fleet.Store].
func (s *Store) Recoverable(ctx context.Context, now time.Time, limit int) ([]fleet.Command, error) {
	if limit <= 0 {
		return nil, nil // as in memory; PostgreSQL refuses a negative LIMIT
	}
	rows, err := s.pool.Query(ctx, `SELECT `+commandCols+` FROM `+commandsTable+`
WHERE state IN ('pending', 'sent', 'ack') AND (state = 'pending' OR lease_until < $1)
ORDER BY seq LIMIT $2`, ts(now), limit)
	if err != nil {
		return nil, wrap("recoverable", err)
	}
	out, err := collectCommands(rows)
	if err != nil {
		return nil, wrap("recoverable", err)
	}
	return out, nil
}
