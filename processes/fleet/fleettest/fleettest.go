package fleettest

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes/fleet"
)

// Claimers is how many goroutines claim at once in the concurrent claim
// subtest, and Placers how many place at once.
const (
	Claimers = 8
	Placers  = 8
)

// base is the suite's "now": whole microseconds, UTC.
var base = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const ttl = 15 * time.Second

// Run runs the contract suite as subtests of t, each on a fresh Store from
// newStore. It fails t where the Store breaks the contract of
// fleet.Store.
func Run(t *testing.T, newStore func(t *testing.T) fleet.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st fleet.Store)
	}{
		{"RegisterAndHeartbeat", testRegisterAndHeartbeat},
		{"PlaceLeastLoaded", testPlaceLeastLoaded},
		{"PlaceFilters", testPlaceFilters},
		{"PlaceExists", testPlaceExists},
		{"PlaceHeartbeatWindow", testPlaceHeartbeatWindow},
		{"TransitionSeats", testTransitionSeats},
		{"TransitionOnItsHostOnly", testTransitionOn},
		{"EnqueueAndLifecycle", testEnqueueAndLifecycle},
		{"SendRetriesThenFails", testSendRetriesThenFails},
		{"ClaimOrderAndHosts", testClaimOrderAndHosts},
		{"ClaimKeepsTheSendLease", testClaimKeepsTheSendLease},
		{"TimesNeverGoBackwards", testTimesNeverGoBackwards},
		{"CompleteRules", testCompleteRules},
		{"Notifications", testNotifications},
		{"OddText", testOddText},
		{"ConcurrentPlacementsNeverOverfill", testConcurrentPlacements},
		{"ConcurrentClaimersNeverShare", testConcurrentClaimers},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newStore(t)
			require.NotNil(t, st, "newStore returned nil")
			tt.fn(t, st)
		})
	}
}

func host(id string, capacity int) fleet.Host {
	return fleet.Host{ID: id, ClusterID: "c1", ClusterName: "one", Region: "eu", Platform: "linux", Capacity: capacity, Addr: "http://" + id}
}

func place(t *testing.T, st fleet.Store, sid string, c *fleet.SelectionCriteria) (fleet.Host, error) {
	t.Helper()
	return st.Place(t.Context(), fleet.Placement{Criteria: c, SessionID: sid, Now: base, TTL: ttl})
}

func testRegisterAndHeartbeat(t *testing.T, st fleet.Store) {
	ctx := t.Context()
	require.NoError(t, st.RegisterHost(ctx, host("h1", 10), base))
	require.ErrorIs(t, st.RegisterHost(ctx, fleet.Host{}, base), fleet.ErrInvalid)
	require.NoError(t, st.Heartbeat(ctx, "h1", 7, base.Add(time.Second)))
	assert.ErrorIs(t, st.Heartbeat(ctx, "nope", 1, base), fleet.ErrNotFound)
	h, err := st.Host(ctx, "h1")
	require.NoError(t, err)
	assert.Equal(t, 7, h.Sessions)
	assert.Equal(t, int64(1), h.Beats)
	assert.True(t, h.Connected)
	assert.True(t, h.LastHeartbeat.Equal(base.Add(time.Second)), "got LastHeartbeat %v", h.LastHeartbeat)
	assert.True(t, h.RegisteredAt.Equal(base), "got RegisteredAt %v", h.RegisteredAt)
	assert.Equal(t, "http://h1", h.Addr)

	require.NoError(t, st.SetConnected(ctx, "h1", false))
	h, err = st.Host(ctx, "h1")
	require.NoError(t, err)
	assert.False(t, h.Connected)
	// Registering again reconnects and keeps the counters.
	again := host("h1", 20)
	require.NoError(t, st.RegisterHost(ctx, again, base.Add(2*time.Second)))
	h, err = st.Host(ctx, "h1")
	require.NoError(t, err)
	assert.True(t, h.Connected)
	assert.Equal(t, 20, h.Capacity)
	assert.Equal(t, int64(1), h.Beats)
	assert.True(t, h.RegisteredAt.Equal(base), "got RegisteredAt %v after re-registering, want the first", h.RegisteredAt)

	_, err = st.Host(ctx, "nope")
	assert.ErrorIs(t, err, fleet.ErrNotFound)
	assert.ErrorIs(t, st.SetConnected(ctx, "nope", true), fleet.ErrNotFound)
	require.NoError(t, st.RegisterHost(ctx, host("a0", 1), base))
	hs, err := st.Hosts(ctx)
	require.NoError(t, err)
	require.Len(t, hs, 2)
	assert.Equal(t, "a0", hs[0].ID, "got hosts out of ID order")
}

func testPlaceLeastLoaded(t *testing.T, st fleet.Store) {
	ctx := t.Context()
	caps := map[string]int{"a": 2, "b": 4, "c": 6}
	for id, c := range caps {
		require.NoError(t, st.RegisterHost(ctx, host(id, c), base))
	}
	seats := map[string]int{}
	for i := range 12 {
		h, err := place(t, st, fmt.Sprint("s", i), nil)
		require.NoError(t, err, "placement %d", i)
		// The chosen host was (one of) the least loaded before this one.
		for id, c := range caps {
			assert.LessOrEqual(t, seats[h.ID]*c, seats[id]*caps[h.ID],
				"placement %d chose %s at %d/%d while %s was at %d/%d", i, h.ID, seats[h.ID], caps[h.ID], id, seats[id], c)
		}
		seats[h.ID]++
		assert.Equal(t, seats[h.ID], h.Seats, "got the host's seats after placement")
	}
	assert.Equal(t, map[string]int{"a": 2, "b": 4, "c": 6}, seats)
	_, err := place(t, st, "full", nil)
	assert.ErrorIs(t, err, fleet.ErrNoAgent, "got a placement on a full fleet")
	rec, err := st.Session(ctx, "s0")
	require.NoError(t, err)
	assert.Equal(t, fleet.SessionPending, rec.State)
	all, err := st.Sessions(ctx, fleet.SessionFilter{HostID: "a"})
	require.NoError(t, err)
	assert.Len(t, all, 2)
}

func testPlaceFilters(t *testing.T, st fleet.Store) {
	ctx := t.Context()
	us := host("us1", 5)
	us.Region = "us"
	mac := host("mac1", 5)
	mac.Platform = "darwin"
	other := host("other1", 5)
	other.ClusterID = "c2"
	old := host("old1", 5)
	off := host("off1", 5)
	for _, h := range []fleet.Host{us, mac, other, off} {
		require.NoError(t, st.RegisterHost(ctx, h, base))
	}
	require.NoError(t, st.RegisterHost(ctx, old, base.Add(-ttl-time.Second))) // heartbeat too old
	require.NoError(t, st.SetConnected(ctx, "off1", false))

	tests := []struct {
		name string
		c    *fleet.SelectionCriteria
		want []string
	}{
		{"region", &fleet.SelectionCriteria{Region: "us"}, []string{"us1"}},
		{"platform", &fleet.SelectionCriteria{Platform: "darwin"}, []string{"mac1"}},
		{"cluster", &fleet.SelectionCriteria{ClusterID: "c2"}, []string{"other1"}},
		{"connected", &fleet.SelectionCriteria{ClusterID: "c1", Region: "eu", Platform: "linux", RequireConnected: true}, nil},
		{"disconnected allowed", &fleet.SelectionCriteria{ClusterID: "c1", Region: "eu", Platform: "linux"}, []string{"off1"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := place(t, st, fmt.Sprint("f", i), tt.c)
			if tt.want == nil {
				assert.ErrorIs(t, err, fleet.ErrNoAgent, "got host %s, want none", h.ID)
				return
			}
			require.NoError(t, err)
			assert.Contains(t, tt.want, h.ID)
		})
	}
	_, err := st.Place(ctx, fleet.Placement{SessionID: "", Now: base, TTL: ttl})
	assert.ErrorIs(t, err, fleet.ErrInvalid)

	// Hosts without a seat to give (zero or negative capacity) take no
	// session, and do not break the placement among the others.
	for i, c := range []int{0, -1, math.MinInt32} {
		h := host(fmt.Sprint("seatless", i), c)
		h.Region = "seatless"
		require.NoError(t, st.RegisterHost(ctx, h, base))
	}
	_, err = place(t, st, "seatless", &fleet.SelectionCriteria{Region: "seatless"})
	assert.ErrorIs(t, err, fleet.ErrNoAgent, "placed on a host of no capacity")
	h, err := place(t, st, "anywhere", nil)
	require.NoError(t, err)
	assert.Positive(t, h.Capacity)

	// Counts past what a Store holds (int32 in PostgreSQL) are kept as
	// the most it holds: a host of "unlimited" capacity takes sessions.
	huge := host("huge", math.MaxInt)
	huge.Region = "huge"
	require.NoError(t, st.RegisterHost(ctx, huge, base))
	require.NoError(t, st.Heartbeat(ctx, "huge", math.MaxInt, base))
	h, err = place(t, st, "huge", &fleet.SelectionCriteria{Region: "huge"})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, h.Capacity, math.MaxInt32)
	assert.GreaterOrEqual(t, h.Sessions, math.MaxInt32)
}

// testPlaceHeartbeatWindow: a host is online while its last heartbeat is
// within the TTL of the placer's now on either side, edges included: a
// heartbeat stamped further ahead comes from a clock that cannot be
// trusted (a host whose clock runs an hour ahead would otherwise stay
// online for an hour after it died), as one further behind.
func testPlaceHeartbeatWindow(t *testing.T, st fleet.Store) {
	ctx := t.Context()
	for _, tt := range []struct {
		name   string
		beat   time.Duration // the heartbeat's offset from the placer's now
		online bool
	}{
		{"behind by the TTL", -ttl, true},
		{"behind by more", -ttl - time.Microsecond, false},
		{"ahead by the TTL", ttl, true},
		{"ahead by more", ttl + time.Microsecond, false},
		{"ahead by an hour", time.Hour, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := "h " + tt.name
			require.NoError(t, st.RegisterHost(ctx, host(id, 1), base.Add(tt.beat)))
			h, err := place(t, st, "s "+tt.name, nil)
			if !tt.online {
				assert.ErrorIs(t, err, fleet.ErrNoAgent, "placed on a host whose heartbeat is %v from now", tt.beat)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, id, h.ID)
		})
	}
}

func testPlaceExists(t *testing.T, st fleet.Store) {
	ctx := t.Context()
	require.NoError(t, st.RegisterHost(ctx, host("h", 5), base))
	_, err := place(t, st, "s", nil)
	require.NoError(t, err)
	_, err = place(t, st, "s", nil)
	assert.ErrorIs(t, err, fleet.ErrExists, "got a second seat for one session")
	_, err = place(t, st, "s", &fleet.SelectionCriteria{Region: "nowhere"})
	assert.ErrorIs(t, err, fleet.ErrExists, "a session holding a seat is ErrExists even where no host fits")
	ok, err := st.Transition(ctx, "s", nil, fleet.SessionFailed, "x", base)
	require.NoError(t, err)
	require.True(t, ok)
	h, err := place(t, st, "s", nil)
	require.NoError(t, err, "a final record is replaced by a new placement")
	assert.Equal(t, 1, h.Seats)
	rec, err := st.Session(ctx, "s")
	require.NoError(t, err)
	assert.Equal(t, fleet.SessionPending, rec.State)
	assert.Empty(t, rec.Reason)
}

// testTransitionOn: TransitionOn changes a record only while it is on
// the host named, so that what one host did never changes the session
// placed again on another under the same ID.
func testTransitionOn(t *testing.T, st fleet.Store) {
	ctx := t.Context()
	a, b := host("a", 5), host("b", 5)
	b.Region = "b"
	require.NoError(t, st.RegisterHost(ctx, a, base))
	require.NoError(t, st.RegisterHost(ctx, b, base))
	_, err := place(t, st, "s", &fleet.SelectionCriteria{Region: "b"})
	require.NoError(t, err)
	ok, err := st.TransitionOn(ctx, "s", "a", []string{fleet.SessionPending}, fleet.SessionFailed, "a gave up", base)
	require.NoError(t, err)
	assert.False(t, ok, "a record on b changed on a's behalf")
	ok, err = st.TransitionOn(ctx, "s", "a", nil, fleet.SessionTerminated, "a forgot", base)
	require.NoError(t, err)
	assert.False(t, ok, "a record on b changed on a's behalf, from any state")
	rec, err := st.Session(ctx, "s")
	require.NoError(t, err)
	assert.Equal(t, fleet.SessionPending, rec.State)
	assert.Equal(t, 1, seatsOf(t, st, "b"))
	assert.Equal(t, 0, seatsOf(t, st, "a"))

	ok, err = st.TransitionOn(ctx, "s", "b", []string{fleet.SessionPending}, fleet.SessionRunning, "", base)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = st.TransitionOn(ctx, "s", "b", nil, fleet.SessionFailed, "why", base)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, 0, seatsOf(t, st, "b"))
	rec, err = st.Session(ctx, "s")
	require.NoError(t, err)
	assert.Equal(t, fleet.SessionFailed, rec.State)
	assert.Equal(t, "why", rec.Reason)
	_, err = st.TransitionOn(ctx, "nope", "b", nil, fleet.SessionLost, "", base)
	assert.ErrorIs(t, err, fleet.ErrNotFound)
}

func seatsOf(t *testing.T, st fleet.Store, id string) int {
	t.Helper()
	h, err := st.Host(t.Context(), id)
	require.NoError(t, err)
	return h.Seats
}

func testTransitionSeats(t *testing.T, st fleet.Store) {
	ctx := t.Context()
	require.NoError(t, st.RegisterHost(ctx, host("h", 5), base))
	_, err := place(t, st, "s", nil)
	require.NoError(t, err)
	steps := []struct {
		from  []string
		to    string
		ok    bool
		seats int
	}{
		{[]string{fleet.SessionPending}, fleet.SessionRunning, true, 1},
		{[]string{fleet.SessionPending}, fleet.SessionFailed, false, 1}, // not pending any more
		{[]string{fleet.SessionRunning}, fleet.SessionTerminating, true, 1},
		{nil, fleet.SessionExited, true, 0},
		{nil, fleet.SessionExited, true, 0},
		{[]string{fleet.SessionExited}, fleet.SessionLost, true, 0},
	}
	for i, s := range steps {
		ok, err := st.Transition(ctx, "s", s.from, s.to, "why", base.Add(time.Duration(i)*time.Second))
		require.NoError(t, err)
		assert.Equal(t, s.ok, ok, "step %d to %s", i, s.to)
		assert.Equal(t, s.seats, seatsOf(t, st, "h"), "seats after step %d to %s", i, s.to)
	}
	rec, err := st.Session(ctx, "s")
	require.NoError(t, err)
	assert.Equal(t, fleet.SessionLost, rec.State)
	assert.Equal(t, "why", rec.Reason)
	_, err = st.Transition(ctx, "nope", nil, fleet.SessionLost, "", base)
	assert.ErrorIs(t, err, fleet.ErrNotFound)
	_, err = st.Session(ctx, "nope")
	assert.ErrorIs(t, err, fleet.ErrNotFound)
}

const lease = 30 * time.Second

func testEnqueueAndLifecycle(t *testing.T, st fleet.Store) {
	ctx := t.Context()
	c := &fleet.Command{ID: "c1", HostID: "h", SessionID: "s", Kind: fleet.KindStart, Payload: []byte(`{"a":1}`)}
	require.NoError(t, st.Enqueue(ctx, base, c))
	assert.ErrorIs(t, st.Enqueue(ctx, base, &fleet.Command{ID: "c1", HostID: "h"}), fleet.ErrExists)
	assert.ErrorIs(t, st.Enqueue(ctx, base, &fleet.Command{ID: "c2"}), fleet.ErrInvalid)
	assert.ErrorIs(t, st.Enqueue(ctx, base, &fleet.Command{ID: "c3", HostID: "h"}, &fleet.Command{ID: "c1", HostID: "h"}), fleet.ErrExists)
	_, err := st.Command(ctx, "c3")
	assert.ErrorIs(t, err, fleet.ErrNotFound, "got c3 stored by an Enqueue that failed")

	got, err := st.Command(ctx, "c1")
	require.NoError(t, err)
	assert.Equal(t, fleet.CommandPending, got.State)
	assert.Equal(t, `{"a":1}`, string(got.Payload))
	assert.True(t, got.CreatedAt.Equal(base))

	t1 := base.Add(time.Second)
	got, err = st.Send(ctx, "c1", t1, lease, 3)
	require.NoError(t, err)
	assert.Equal(t, fleet.CommandSent, got.State)
	assert.Equal(t, 1, got.Attempts)
	assert.True(t, got.SentAt.Equal(t1))
	assert.True(t, got.LeaseUntil.Equal(t1.Add(lease)))
	// Sending a leased command changes nothing.
	got, err = st.Send(ctx, "c1", t1.Add(time.Second), lease, 3)
	require.NoError(t, err)
	assert.Equal(t, 1, got.Attempts)

	for _, limit := range []int{0, -1} {
		rec, err := st.Recoverable(ctx, t1.Add(time.Hour), limit)
		require.NoError(t, err, "a limit of %d", limit)
		assert.Empty(t, rec, "a limit of %d", limit)
		cl, err := st.Claim(ctx, "h", limit, t1, lease)
		require.NoError(t, err, "a claim of at most %d", limit)
		assert.Empty(t, cl, "a claim of at most %d", limit)
	}
	rec, err := st.Recoverable(ctx, t1, 10)
	require.NoError(t, err)
	assert.Empty(t, rec, "got a leased command as recoverable")
	rec, err = st.Recoverable(ctx, t1.Add(lease+time.Second), 10)
	require.NoError(t, err)
	require.Len(t, rec, 1, "got no recoverable command after the lease")

	t2 := t1.Add(2 * time.Second)
	cl, err := st.Claim(ctx, "h", 10, t2, lease)
	require.NoError(t, err)
	require.Len(t, cl, 1)
	assert.Equal(t, fleet.CommandAck, cl[0].State)
	assert.True(t, cl[0].AckedAt.Equal(t2))
	cl, err = st.Claim(ctx, "h", 10, t2, lease)
	require.NoError(t, err)
	assert.Empty(t, cl, "got an acknowledged command claimed again")

	t3 := t2.Add(time.Second)
	require.NoError(t, st.Complete(ctx, "c1", "h", []byte(`{"ok":true}`), "", t3))
	got, err = st.Command(ctx, "c1")
	require.NoError(t, err)
	assert.Equal(t, fleet.CommandCompleted, got.State)
	assert.Equal(t, `{"ok":true}`, string(got.Result))
	assert.True(t, got.DoneAt.Equal(t3))
	cs, err := st.Commands(ctx, fleet.CommandFilter{SessionID: "s"})
	require.NoError(t, err)
	assert.Len(t, cs, 1)
	cs, err = st.Commands(ctx, fleet.CommandFilter{States: []string{fleet.CommandPending}})
	require.NoError(t, err)
	assert.Empty(t, cs)
	_, err = st.Send(ctx, "nope", t3, lease, 3)
	assert.ErrorIs(t, err, fleet.ErrNotFound)
}

func testSendRetriesThenFails(t *testing.T, st fleet.Store) {
	ctx := t.Context()
	require.NoError(t, st.Enqueue(ctx, base, &fleet.Command{ID: "c", HostID: "h", Kind: fleet.KindForget}))
	now := base
	for i := 1; i <= 3; i++ {
		got, err := st.Send(ctx, "c", now, lease, 3)
		require.NoError(t, err)
		require.Equal(t, fleet.CommandSent, got.State, "attempt %d", i)
		require.Equal(t, i, got.Attempts)
		if i == 2 { // claimed but never completed: the ack's lease runs out too
			cl, err := st.Claim(ctx, "h", 1, now, lease)
			require.NoError(t, err)
			require.Len(t, cl, 1)
		}
		now = now.Add(lease + time.Second)
	}
	got, err := st.Send(ctx, "c", now, lease, 3)
	require.NoError(t, err)
	assert.Equal(t, fleet.CommandFailed, got.State, "got a command sent a fourth time with MaxAttempts 3")
	assert.Contains(t, got.Error, "3 attempts")
	assert.True(t, got.DoneAt.Equal(now))
}

// testClaimKeepsTheSendLease: a claim never shortens the lease its
// command's send gave: a claimer whose clock runs behind the
// dispatcher's would hold a lease over before it began, and the command
// be sent again while it runs. A claimer whose clock runs ahead gets
// its own, longer lease.
func testClaimKeepsTheSendLease(t *testing.T, st fleet.Store) {
	ctx := t.Context()
	const lease = 30 * time.Second
	for _, id := range []string{"behind", "ahead"} {
		require.NoError(t, st.Enqueue(ctx, base, &fleet.Command{ID: id, HostID: id}))
		_, err := st.Send(ctx, id, base, lease, 3)
		require.NoError(t, err)
	}
	cl, err := st.Claim(ctx, "behind", 1, base.Add(-time.Hour), lease) // its clock an hour behind
	require.NoError(t, err)
	require.Len(t, cl, 1)
	assert.True(t, cl[0].LeaseUntil.Equal(base.Add(lease)), "got LeaseUntil %v, want the send's %v", cl[0].LeaseUntil, base.Add(lease))
	rec, err := st.Recoverable(ctx, base.Add(lease), 10)
	require.NoError(t, err)
	assert.Empty(t, rec, "a command claimed by a host whose clock is behind is recoverable within its send's lease")

	cl, err = st.Claim(ctx, "ahead", 1, base.Add(time.Hour), lease)
	require.NoError(t, err)
	require.Len(t, cl, 1)
	assert.True(t, cl[0].LeaseUntil.Equal(base.Add(time.Hour+lease)), "got LeaseUntil %v", cl[0].LeaseUntil)
}

// testTimesNeverGoBackwards: a claim whose now is before the send (its
// clock behind, or its now taken before it waited for the Store) acks
// at the send's time, and a completion before the ack is done at the
// ack's: a command's times go from send to ack to done.
func testTimesNeverGoBackwards(t *testing.T, st fleet.Store) {
	ctx := t.Context()
	require.NoError(t, st.Enqueue(ctx, base, &fleet.Command{ID: "c", HostID: "h"}))
	_, err := st.Send(ctx, "c", base, time.Minute, 3)
	require.NoError(t, err)
	cl, err := st.Claim(ctx, "h", 1, base.Add(-time.Millisecond), time.Minute)
	require.NoError(t, err)
	require.Len(t, cl, 1)
	assert.True(t, cl[0].AckedAt.Equal(base), "got AckedAt %v, want the send's %v", cl[0].AckedAt, base)
	require.NoError(t, st.Complete(ctx, "c", "h", nil, "", base.Add(-2*time.Millisecond)))
	c, err := st.Command(ctx, "c")
	require.NoError(t, err)
	assert.True(t, c.DoneAt.Equal(base), "got DoneAt %v, want the ack's %v", c.DoneAt, base)
}

func testClaimOrderAndHosts(t *testing.T, st fleet.Store) {
	ctx := t.Context()
	var cmds []*fleet.Command
	for i := range 10 {
		h := "a"
		if i%2 == 1 {
			h = "b"
		}
		cmds = append(cmds, &fleet.Command{ID: fmt.Sprintf("c%02d", i), HostID: h})
	}
	require.NoError(t, st.Enqueue(ctx, base, cmds...))
	for _, c := range cmds {
		_, err := st.Send(ctx, c.ID, base, lease, 3)
		require.NoError(t, err)
	}
	cl, err := st.Claim(ctx, "a", 3, base, lease)
	require.NoError(t, err)
	var ids []string
	for _, c := range cl {
		ids = append(ids, c.ID)
		assert.Equal(t, "a", c.HostID)
	}
	assert.Equal(t, []string{"c00", "c02", "c04"}, ids, "got claims out of order")
	cl, err = st.Claim(ctx, "a", 10, base, lease)
	require.NoError(t, err)
	assert.Len(t, cl, 2)
	cl, err = st.Claim(ctx, "b", 0, base, lease)
	require.NoError(t, err)
	assert.Empty(t, cl)
}

func testCompleteRules(t *testing.T, st fleet.Store) {
	ctx := t.Context()
	require.NoError(t, st.Enqueue(ctx, base, &fleet.Command{ID: "c", HostID: "h"}, &fleet.Command{ID: "d", HostID: "h"}))
	assert.ErrorIs(t, st.Complete(ctx, "c", "h", nil, "", base), fleet.ErrNotHeld, "completed a pending command")
	_, err := st.Send(ctx, "c", base, lease, 3)
	require.NoError(t, err)
	_, err = st.Claim(ctx, "h", 1, base, lease)
	require.NoError(t, err)
	assert.ErrorIs(t, st.Complete(ctx, "c", "other", nil, "", base), fleet.ErrNotHeld, "completed another host's command")
	require.NoError(t, st.Complete(ctx, "c", "h", nil, "boom", base))
	got, err := st.Command(ctx, "c")
	require.NoError(t, err)
	assert.Equal(t, fleet.CommandFailed, got.State)
	assert.Equal(t, "boom", got.Error)
	assert.NoError(t, st.Complete(ctx, "c", "h", nil, "", base), "completing twice must be harmless")
	got, err = st.Command(ctx, "c")
	require.NoError(t, err)
	assert.Equal(t, fleet.CommandFailed, got.State, "a second completion changed a final command")
	assert.ErrorIs(t, st.Complete(ctx, "nope", "h", nil, "", base), fleet.ErrNotFound)
}

func recv(t *testing.T, sub fleet.Subscription) string {
	t.Helper()
	// The notification is published by the call that returned before:
	// in memory at once, in PostgreSQL at commit, delivered on the
	// listener's connection. A missing one fails after ten seconds.
	return proctest.Recv(t, sub.C())
}

func testNotifications(t *testing.T, st fleet.Store) {
	ctx := t.Context()
	hostSub, err := st.Subscribe(ctx, fleet.HostTopic("h"))
	require.NoError(t, err)
	defer hostSub.Close()
	doneSub, err := st.Subscribe(ctx, fleet.DoneTopic)
	require.NoError(t, err)
	defer doneSub.Close()
	otherSub, err := st.Subscribe(ctx, fleet.HostTopic("other"))
	require.NoError(t, err)
	defer otherSub.Close()

	require.NoError(t, st.Enqueue(ctx, base, &fleet.Command{ID: "c", HostID: "h"}))
	_, err = st.Send(ctx, "c", base, lease, 3)
	require.NoError(t, err)
	recv(t, hostSub)
	_, err = st.Claim(ctx, "h", 1, base, lease)
	require.NoError(t, err)
	require.NoError(t, st.Complete(ctx, "c", "h", nil, "", base))
	assert.Equal(t, "c", recv(t, doneSub))
	select {
	case p := <-otherSub.C():
		t.Errorf("got notification %q for another host", p)
	default:
	}
	require.NoError(t, hostSub.Close())
	require.NoError(t, hostSub.Close(), "Close twice")
	_, open := <-hostSub.C()
	for open {
		_, open = <-hostSub.C()
	}
}

func testConcurrentPlacements(t *testing.T, st fleet.Store) {
	ctx := t.Context()
	caps := map[string]int{"a": 7, "b": 13, "c": 20}
	for id, c := range caps {
		require.NoError(t, st.RegisterHost(ctx, host(id, c), base))
	}
	var mu sync.Mutex
	placed := map[string]int{}
	refused := 0
	var wg sync.WaitGroup
	for p := range Placers {
		wg.Go(func() {
			for i := range 8 { // 64 placements for 40 seats
				h, err := st.Place(ctx, fleet.Placement{SessionID: fmt.Sprintf("p%d-%d", p, i), Now: base, TTL: ttl})
				mu.Lock()
				if err != nil {
					assert.ErrorIs(t, err, fleet.ErrNoAgent)
					refused++
				} else {
					placed[h.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, caps, placed, "got seats per host, want each exactly full")
	assert.Equal(t, 24, refused)
	for id, c := range caps {
		assert.Equal(t, c, seatsOf(t, st, id))
	}
}

func testConcurrentClaimers(t *testing.T, st fleet.Store) {
	ctx := context.Background()
	const n = 600
	cmds := make([]*fleet.Command, n)
	for i := range cmds {
		cmds[i] = &fleet.Command{ID: fmt.Sprintf("c%04d", i), HostID: "h"}
	}
	require.NoError(t, st.Enqueue(ctx, base, cmds...))
	for _, c := range cmds {
		_, err := st.Send(ctx, c.ID, base, lease, 3)
		require.NoError(t, err)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for w := range Claimers {
		wg.Go(func() {
			for {
				cl, err := st.Claim(ctx, "h", 1+w%4, base, lease)
				if !assert.NoError(t, err) || len(cl) == 0 {
					return
				}
				mu.Lock()
				for _, c := range cl {
					seen[c.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Len(t, seen, n, "got claims of %d commands, want all %d", len(seen), n)
	for id, k := range seen {
		if k != 1 {
			t.Errorf("command %s claimed %d times", id, k)
		}
	}
}

// oddTexts are strings PostgreSQL's text cannot hold.
var oddTexts = []struct{ name, s string }{
	{"NUL byte", "a\x00b"},
	{"invalid UTF-8", "a\xffb"},
}

// testOddText: text a Store cannot hold (a NUL byte, invalid UTF-8) is
// refused with ErrInvalid where it would be stored, storing nothing, and
// names nothing where it is looked up (ErrNotFound, or no rows), never a
// backend error; a reason or an error text with such bytes is a message,
// stored as the Store can.
func testOddText(t *testing.T, st fleet.Store) {
	ctx := t.Context()
	require.NoError(t, st.RegisterHost(ctx, host("h", 10), base))
	_, err := place(t, st, "s", nil)
	require.NoError(t, err)
	require.NoError(t, st.Enqueue(ctx, base, &fleet.Command{ID: "c", HostID: "h", SessionID: "s", Kind: fleet.KindStart}))
	for _, odd := range oddTexts {
		t.Run(odd.name, func(t *testing.T) {
			bad := odd.s
			for _, h := range []fleet.Host{
				{ID: bad, Capacity: 1}, {ID: "x", ClusterID: bad, Capacity: 1}, {ID: "x", ClusterName: bad, Capacity: 1},
				{ID: "x", Region: bad, Capacity: 1}, {ID: "x", Platform: bad, Capacity: 1}, {ID: "x", Addr: bad, Capacity: 1},
			} {
				assert.ErrorIs(t, st.RegisterHost(ctx, h, base), fleet.ErrInvalid, "registering %+v", h)
			}
			hs, err := st.Hosts(ctx)
			require.NoError(t, err)
			assert.Len(t, hs, 1, "hosts stored by refused registrations")
			_, err = st.Host(ctx, bad)
			assert.ErrorIs(t, err, fleet.ErrNotFound)
			assert.ErrorIs(t, st.Heartbeat(ctx, bad, 1, base), fleet.ErrNotFound)
			assert.ErrorIs(t, st.SetConnected(ctx, bad, false), fleet.ErrNotFound)

			_, err = st.Place(ctx, fleet.Placement{SessionID: bad, Now: base, TTL: ttl})
			assert.ErrorIs(t, err, fleet.ErrInvalid, "placing a session named so")
			_, err = st.Place(ctx, fleet.Placement{SessionID: "w", WorkspaceID: bad, Now: base, TTL: ttl})
			assert.ErrorIs(t, err, fleet.ErrInvalid, "placing a session of a workspace named so")
			for _, c := range []*fleet.SelectionCriteria{{ClusterID: bad}, {Region: bad}, {Platform: bad}} {
				_, err = place(t, st, "w", c)
				assert.ErrorIs(t, err, fleet.ErrNoAgent, "placing with criteria %+v", *c)
			}
			_, err = place(t, st, "s", &fleet.SelectionCriteria{Region: bad})
			assert.ErrorIs(t, err, fleet.ErrExists, "a session holding a seat, with criteria no host matches")
			assert.Equal(t, 1, seatsOf(t, st, "h"), "seats taken by refused placements")
			_, err = st.Session(ctx, bad)
			assert.ErrorIs(t, err, fleet.ErrNotFound)
			for _, f := range []fleet.SessionFilter{{HostID: bad}, {States: []string{bad}}} {
				recs, err := st.Sessions(ctx, f)
				require.NoError(t, err, "sessions of %+v", f)
				assert.Empty(t, recs, "sessions of %+v", f)
			}
			_, err = st.Transition(ctx, bad, nil, fleet.SessionFailed, "", base)
			assert.ErrorIs(t, err, fleet.ErrNotFound)
			ok, err := st.Transition(ctx, "s", []string{bad}, fleet.SessionFailed, "", base)
			require.NoError(t, err)
			assert.False(t, ok, "a transition from a state no record is in")
			_, err = st.Transition(ctx, "s", nil, bad, "", base)
			assert.ErrorIs(t, err, fleet.ErrInvalid, "a transition to a state named so")
			rec, err := st.Session(ctx, "s")
			require.NoError(t, err)
			assert.Equal(t, fleet.SessionPending, rec.State)

			for _, c := range []*fleet.Command{
				{ID: bad, HostID: "h"}, {ID: "d", HostID: bad}, {ID: "d", HostID: "h", SessionID: bad}, {ID: "d", HostID: "h", Kind: bad},
			} {
				assert.ErrorIs(t, st.Enqueue(ctx, base, &fleet.Command{ID: "ok", HostID: "h"}, c), fleet.ErrInvalid, "enqueueing %+v", *c)
			}
			_, err = st.Command(ctx, "ok")
			assert.ErrorIs(t, err, fleet.ErrNotFound, "stored by a refused Enqueue")
			_, err = st.Command(ctx, bad)
			assert.ErrorIs(t, err, fleet.ErrNotFound)
			for _, f := range []fleet.CommandFilter{{HostID: bad}, {SessionID: bad}, {States: []string{bad}}} {
				cs, err := st.Commands(ctx, f)
				require.NoError(t, err, "commands of %+v", f)
				assert.Empty(t, cs, "commands of %+v", f)
			}
			_, err = st.Send(ctx, bad, base, time.Minute, 3)
			assert.ErrorIs(t, err, fleet.ErrNotFound)
			cl, err := st.Claim(ctx, bad, 10, base, time.Minute)
			require.NoError(t, err)
			assert.Empty(t, cl)
			assert.ErrorIs(t, st.Complete(ctx, bad, "h", nil, "", base), fleet.ErrNotFound)
			assert.ErrorIs(t, st.Complete(ctx, "c", bad, nil, "", base), fleet.ErrNotHeld)
			_, err = st.Subscribe(ctx, fleet.HostTopic(bad))
			assert.ErrorIs(t, err, fleet.ErrInvalid, "subscribing to a topic named so")
		})
	}
	// Messages are stored as the Store can: the step is taken.
	ok, err := st.Transition(ctx, "s", []string{fleet.SessionPending}, fleet.SessionRunning, "odd \x00 \xff reason", base)
	require.NoError(t, err)
	assert.True(t, ok)
	_, err = st.Send(ctx, "c", base, time.Minute, 3)
	require.NoError(t, err)
	_, err = st.Claim(ctx, "h", 10, base, time.Minute)
	require.NoError(t, err)
	require.NoError(t, st.Complete(ctx, "c", "h", nil, "odd \x00 \xff error", base))
	c, err := st.Command(ctx, "c")
	require.NoError(t, err)
	assert.Equal(t, fleet.CommandFailed, c.State)
	assert.NotEmpty(t, c.Error)
}
