package pgfleet_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/pgtest"
	"github.com/sessionkit/sessionkit/processes/fleet"
)

// Benchmarks of the PostgreSQL fleet, each beside a bare baseline: the
// same work written directly with pgx on a minimal table, in the same
// run. The server is the test's throwaway one (Unix socket, fsync off).

// reportLatencies reports the median and 90th percentile of d in ms.
func reportLatencies(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2])/float64(time.Millisecond), "ms-median")
	b.ReportMetric(float64(d[len(d)*9/10])/float64(time.Millisecond), "ms-p90")
	b.ReportMetric(0, "ns/op") // the latency is the result, not the loop's pace
}

// BenchmarkEnqueueToClaim: from DispatchCommand to the host's Claim
// returning the command: INSERT, the dispatcher's queue and worker, Send
// (sent, leased, NOTIFY), the host's LISTEN connection waking, and Claim
// (FOR UPDATE SKIP LOCKED). One command at a time.
func BenchmarkEnqueueToClaim(b *testing.B) {
	st, _ := newStore(b)
	ctx := context.Background()
	d := fleet.NewCommandDispatcher(st, fleet.DispatcherOptions{Workers: 2})
	done := make(chan struct{})
	go func() { defer close(done); d.Start() }()
	defer func() { d.Stop(); <-done }()
	sub, err := st.Subscribe(ctx, fleet.HostTopic("h"))
	require.NoError(b, err)
	defer sub.Close()
	claimed := make(chan time.Time)
	go func() {
		for range sub.C() {
			for {
				got, err := st.Claim(ctx, "h", 16, time.Now(), time.Minute)
				if err != nil || len(got) == 0 {
					break
				}
				at := time.Now()
				for range got {
					claimed <- at
				}
			}
		}
	}()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		require.NoError(b, d.DispatchCommand(&fleet.Command{ID: "c" + strconv.Itoa(i), HostID: "h", Kind: fleet.KindSignal}))
		lat = append(lat, (<-claimed).Sub(start))
	}
	b.StopTimer()
	reportLatencies(b, lat)
}

// bareTable creates the baseline's table: the columns a claim needs,
// keyed and ordered as pgfleet's.
func bareTable(b *testing.B, db *pgtest.DB) {
	b.Helper()
	_, err := db.Pool.Exec(context.Background(), `CREATE TABLE bare_cmds (
		id text PRIMARY KEY DEFAULT md5(random()::text), seq bigint GENERATED ALWAYS AS IDENTITY,
		host text NOT NULL, state text NOT NULL, lease_until timestamptz)`)
	require.NoError(b, err)
	_, err = db.Pool.Exec(context.Background(), `CREATE INDEX ON bare_cmds (host, seq) WHERE state = 'sent'`)
	require.NoError(b, err)
}

const bareClaim = `WITH c AS (SELECT id FROM bare_cmds WHERE host = 'h' AND state = 'sent' ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED)
UPDATE bare_cmds t SET state = 'ack', lease_until = now() + interval '1 minute' FROM c WHERE t.id = c.id RETURNING t.id`

// BenchmarkEnqueueToClaimBare: the baseline: one INSERT that NOTIFYs, a
// LISTEN connection, and the same SKIP LOCKED claim, in bare pgx.
func BenchmarkEnqueueToClaimBare(b *testing.B) {
	_, db := newStore(b)
	bareTable(b, db)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.URL)
	require.NoError(b, err)
	_, err = conn.Exec(ctx, "LISTEN bare_"+db.Schema)
	require.NoError(b, err)
	lctx, cancel := context.WithCancel(ctx)
	claimed := make(chan time.Time)
	listened := make(chan struct{})
	go func() {
		defer close(listened)
		for {
			if _, err := conn.WaitForNotification(lctx); err != nil {
				return
			}
			rows, err := db.Pool.Query(ctx, bareClaim, 16)
			if err != nil {
				return
			}
			n := 0
			for rows.Next() {
				n++
			}
			rows.Close()
			at := time.Now()
			for range n {
				claimed <- at
			}
		}
	}()
	defer func() { cancel(); <-listened; conn.Close(ctx) }()
	insert := `WITH i AS (INSERT INTO bare_cmds (host, state, lease_until) VALUES ('h', 'sent', now() + interval '1 minute') RETURNING id)
SELECT pg_notify('bare_` + db.Schema + `', '') FROM i`
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		_, err := db.Pool.Exec(ctx, insert)
		require.NoError(b, err)
		lat = append(lat, (<-claimed).Sub(start))
	}
	b.StopTimer()
	reportLatencies(b, lat)
}

// fillSent stores n commands of host h and marks them sent, in bulk.
func fillSent(b testing.TB, st fleet.Store, db *pgtest.DB, n int) {
	b.Helper()
	ctx := context.Background()
	cmds := make([]*fleet.Command, 0, 1000)
	for i := range n {
		cmds = append(cmds, &fleet.Command{ID: fmt.Sprintf("f%07d", i), HostID: "h", Kind: fleet.KindSignal})
		if len(cmds) == cap(cmds) || i == n-1 {
			require.NoError(b, st.Enqueue(ctx, time.Now(), cmds...))
			cmds = cmds[:0]
		}
	}
	_, err := db.Pool.Exec(ctx, `UPDATE sessionkit_fleet_commands SET state = 'sent', attempts = 1, sent_at = now(), lease_until = now() + interval '1 hour'`)
	require.NoError(b, err)
	_, err = db.Pool.Exec(ctx, `VACUUM ANALYZE sessionkit_fleet_commands`)
	require.NoError(b, err)
}

// BenchmarkClaim: Claim of sent commands, one per call ("single") or 100
// per call ("batched"); an op is one command claimed.
func BenchmarkClaim(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run(map[int]string{1: "single", 100: "batched"}[batch], func(b *testing.B) {
			st, db := newStore(b)
			fillSent(b, st, db, b.N)
			ctx := context.Background()
			b.ResetTimer()
			for n := 0; n < b.N; {
				got, err := st.Claim(ctx, "h", min(batch, b.N-n), time.Now(), time.Minute)
				require.NoError(b, err)
				require.NotEmpty(b, got)
				n += len(got)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "claims/s")
		})
	}
}

// BenchmarkClaimBare: the same claims on the baseline's table.
func BenchmarkClaimBare(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run(map[int]string{1: "single", 100: "batched"}[batch], func(b *testing.B) {
			_, db := newStore(b)
			bareTable(b, db)
			ctx := context.Background()
			_, err := db.Pool.Exec(ctx, `INSERT INTO bare_cmds (host, state) SELECT 'h', 'sent' FROM generate_series(1, $1)`, b.N)
			require.NoError(b, err)
			_, err = db.Pool.Exec(ctx, `VACUUM ANALYZE bare_cmds`)
			require.NoError(b, err)
			b.ResetTimer()
			for n := 0; n < b.N; {
				rows, err := db.Pool.Query(ctx, bareClaim, min(batch, b.N-n))
				require.NoError(b, err)
				k := 0
				for rows.Next() {
					k++
				}
				rows.Close()
				require.NoError(b, rows.Err())
				require.NotZero(b, k)
				n += k
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "claims/s")
		})
	}
}

// registerHosts registers n hosts of a large capacity.
func registerHosts(b *testing.B, st fleet.Store, n int) {
	b.Helper()
	for i := range n {
		require.NoError(b, st.RegisterHost(context.Background(), fleet.Host{ID: fmt.Sprintf("h%03d", i), Capacity: 1 << 30}, time.Now()))
	}
}

// BenchmarkPlace: placement decisions over 100 hosts, each one
// transaction (lock the session's row, choose and lock the least loaded
// host, take a seat, write the record); "parallel" runs GOMAXPROCS×4
// placers at once.
func BenchmarkPlace(b *testing.B) {
	for _, parallel := range []bool{false, true} {
		b.Run(map[bool]string{false: "serial", true: "parallel"}[parallel], func(b *testing.B) {
			st, _ := newStore(b)
			registerHosts(b, st, 100)
			ctx := context.Background()
			var seq atomic.Int64
			place := func() {
				_, err := st.Place(ctx, fleet.Placement{SessionID: "s" + strconv.FormatInt(seq.Add(1), 10), Now: time.Now(), TTL: time.Hour})
				if err != nil {
					b.Error(err)
				}
			}
			b.ResetTimer()
			if parallel {
				b.SetParallelism(4)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						place()
					}
				})
			} else {
				for b.Loop() {
					place()
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
		})
	}
}

// BenchmarkPlaceBare: the baseline: the least loaded of 100 hosts locked,
// its count raised and a row inserted, in one transaction of bare pgx.
func BenchmarkPlaceBare(b *testing.B) {
	for _, parallel := range []bool{false, true} {
		b.Run(map[bool]string{false: "serial", true: "parallel"}[parallel], func(b *testing.B) {
			_, db := newStore(b)
			ctx := context.Background()
			_, err := db.Pool.Exec(ctx, `CREATE TABLE bare_hosts (id text PRIMARY KEY, seats int NOT NULL, capacity int NOT NULL);
CREATE TABLE bare_sessions (id text PRIMARY KEY, host text NOT NULL);
INSERT INTO bare_hosts SELECT 'h' || i, 0, 1 << 30 FROM generate_series(1, 100) i`)
			require.NoError(b, err)
			var seq atomic.Int64
			place := func() {
				err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
					var id string
					if err := tx.QueryRow(ctx, `SELECT id FROM bare_hosts WHERE seats < capacity ORDER BY seats::float8 / capacity, seats, id LIMIT 1 FOR UPDATE`).Scan(&id); err != nil {
						return err
					}
					if _, err := tx.Exec(ctx, `UPDATE bare_hosts SET seats = seats + 1 WHERE id = $1`, id); err != nil {
						return err
					}
					_, err := tx.Exec(ctx, `INSERT INTO bare_sessions VALUES ($1, $2)`, "s"+strconv.FormatInt(seq.Add(1), 10), id)
					return err
				})
				if err != nil {
					b.Error(err)
				}
			}
			b.ResetTimer()
			if parallel {
				b.SetParallelism(4)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						place()
					}
				})
			} else {
				for b.Loop() {
					place()
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
		})
	}
}

// BenchmarkHeartbeat: heartbeats of 1,000 hosts from GOMAXPROCS×4
// goroutines: the write load that hosts put on the database.
func BenchmarkHeartbeat(b *testing.B) {
	st, _ := newStore(b)
	registerHosts(b, st, 1000)
	ctx := context.Background()
	var seq atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := st.Heartbeat(ctx, fmt.Sprintf("h%03d", seq.Add(1)%1000), 10, time.Now()); err != nil {
				b.Error(err)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "beats/s")
}

// BenchmarkCommandLifecycle: the database's work for one command from
// start to end (Enqueue, Send, Claim, Complete), from GOMAXPROCS×4
// goroutines each acting for a host of its own: the command throughput
// one database carries.
func BenchmarkCommandLifecycle(b *testing.B) {
	st, _ := newStore(b)
	ctx := context.Background()
	var seq, hostSeq atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		host := "h" + strconv.FormatInt(hostSeq.Add(1), 10)
		for pb.Next() {
			id := "c" + strconv.FormatInt(seq.Add(1), 10)
			now := time.Now()
			err := st.Enqueue(ctx, now, &fleet.Command{ID: id, HostID: host, Kind: fleet.KindSignal})
			if err == nil {
				_, err = st.Send(ctx, id, now, time.Minute, 5)
			}
			if err == nil {
				_, err = st.Claim(ctx, host, 1, now, time.Minute)
			}
			if err == nil {
				err = st.Complete(ctx, id, host, nil, "", now)
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commands/s")
}

// BenchmarkSessionStart: the database's work for one session started
// through the gateway, from GOMAXPROCS×4 goroutines: Place, Enqueue,
// Send, Claim, the record made running, Complete, and the gateway's read
// of the result (seven statements).
func BenchmarkSessionStart(b *testing.B) {
	st, _ := newStore(b)
	registerHosts(b, st, 100)
	ctx := context.Background()
	var seq atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			sid := "s" + strconv.FormatInt(seq.Add(1), 10)
			now := time.Now()
			h, err := st.Place(ctx, fleet.Placement{SessionID: sid, Now: now, TTL: time.Hour})
			if err == nil {
				err = st.Enqueue(ctx, now, &fleet.Command{ID: "start-" + sid, HostID: h.ID, SessionID: sid, Kind: fleet.KindStart})
			}
			if err == nil {
				_, err = st.Send(ctx, "start-"+sid, now, time.Minute, 5)
			}
			if err == nil {
				// Other goroutines' commands of this host may come first:
				// claim one and complete whatever it is.
				var got []fleet.Command
				got, err = st.Claim(ctx, h.ID, 1, now, time.Minute)
				for _, c := range got {
					if err == nil {
						_, err = st.Transition(ctx, c.SessionID, []string{fleet.SessionPending}, fleet.SessionRunning, "", now)
					}
					if err == nil {
						err = st.Complete(ctx, c.ID, h.ID, nil, "", now)
					}
				}
			}
			if err == nil {
				_, err = st.Command(ctx, "start-"+sid)
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "starts/s")
}

// BenchmarkHostReport: what one host's agent asks of the database at each
// heartbeat (Agent.Sync without changes): the beat, and the records of its
// sessions, for hosts of 100 and 1,000 sessions.
func BenchmarkHostReport(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			st, _ := newStore(b)
			ctx := context.Background()
			require.NoError(b, st.RegisterHost(ctx, fleet.Host{ID: "h", Capacity: n}, time.Now()))
			for i := range n {
				_, err := st.Place(ctx, fleet.Placement{SessionID: fmt.Sprintf("s%05d", i), Now: time.Now(), TTL: time.Hour})
				require.NoError(b, err)
			}
			b.ResetTimer()
			for b.Loop() {
				require.NoError(b, st.Heartbeat(ctx, "h", n, time.Now()))
				recs, err := st.Sessions(ctx, fleet.SessionFilter{HostID: "h", States: []string{fleet.SessionPending, fleet.SessionRunning, fleet.SessionTerminating, fleet.SessionExited}})
				require.NoError(b, err)
				require.Len(b, recs, n)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/session")
		})
	}
}

// BenchmarkReconcilePass: one SessionReconciler pass over 100 hosts and
// 10,000 open sessions with nothing to do: the read of every host and
// open session record.
func BenchmarkReconcilePass(b *testing.B) {
	st, db := newStore(b)
	registerHosts(b, st, 100)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `INSERT INTO sessionkit_fleet_sessions (id, workspace_id, host_id, state, created_at, updated_at)
SELECT 's' || i, '', 'h' || lpad((i % 100)::text, 3, '0'), 'running', now(), now() FROM generate_series(1, 10000) i`)
	require.NoError(b, err)
	r := fleet.NewSessionReconciler(fleet.ReconcilerOptions{Store: st})
	b.ResetTimer()
	for b.Loop() {
		_, err := r.Reconcile(ctx)
		require.NoError(b, err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10000, "ns/session")
}
