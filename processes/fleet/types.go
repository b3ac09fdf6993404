package fleet

import (
	"crypto/rand"
	"encoding/base64"
	"slices"
	"time"
)

// Host is one agent's entry in the registry: where it is, how many
// sessions it may hold, and where its API listens. It is a plain value.
type Host struct {
	// ID names the host; required, unique in the fleet.
	ID string
	// ClusterID, ClusterName, Region and Platform are matched by
	// [SelectionCriteria] (exact, byte by byte); a criterion left empty
	// matches any host.
	ClusterID, ClusterName, Region, Platform string
	// Capacity is how many sessions the host may hold at once (seats).
	// Zero or negative: none is placed on it.
	Capacity int
	// Addr is the base URL of the host's processes/httpapi handler,
	// without the prefix: "http://127.0.0.1:8080" (http or https, with a
	// host). Empty: the gateway cannot reach the host's sessions, and
	// answers 502 for them, as for an address it cannot use.
	Addr string
	// Connected is false while the host's agent is stopped or draining:
	// [SelectionCriteria].RequireConnected skips it. RegisterHost sets it
	// true.
	Connected bool

	// Kept by the Store, ignored by RegisterHost:

	// Sessions is the session count of the host's last heartbeat.
	Sessions int
	// Seats is how many placed sessions hold a seat on the host now
	// (pending, running or terminating): its load is Seats / Capacity.
	Seats int
	// Beats counts the host's heartbeats: a reconciler that sees it move
	// knows the host is alive, on the reconciler's own clock.
	Beats int64
	// LastHeartbeat is the heartbeat time the host sent (its clock).
	LastHeartbeat time.Time
	// RegisteredAt is the time of the first registration.
	RegisteredAt time.Time
}

// Online reports whether the host's last heartbeat is within ttl of now,
// on either side: at most ttl old, and at most ttl ahead. A heartbeat
// stamped further ahead comes from a clock that disagrees with now by
// more than the TTL, as one further behind may: trusting it would keep a
// host whose clock runs an hour ahead online for an hour after it died.
// So a host whose clock is off by less than the TTL is online for at
// most two TTLs after its last beat, and one off by more is never
// online. A pure function of its arguments.
func (h Host) Online(now time.Time, ttl time.Duration) bool {
	d := now.Sub(h.LastHeartbeat)
	return !h.LastHeartbeat.IsZero() && d <= ttl && d >= -ttl
}

// Session states of a [SessionRecord]. A session holds a seat on its host
// while pending, running or terminating.
const (
	SessionPending     = "pending"     // placed, start command not done yet
	SessionRunning     = "running"     // started on its host
	SessionTerminating = "terminating" // a terminate or forget is on its way
	SessionExited      = "exited"      // its process exited; output still on the host
	SessionTerminated  = "terminated"  // forgotten on its host, or force-marked so
	SessionLost        = "lost"        // its host went away with it
	SessionFailed      = "failed"      // its start failed
)

// HoldsSeat reports whether a session in state holds a seat on its host.
func HoldsSeat(state string) bool {
	return state == SessionPending || state == SessionRunning || state == SessionTerminating
}

// Final reports whether a session in state is over for the fleet: nothing
// changes it any more except a new placement under the same ID.
func Final(state string) bool {
	return state == SessionTerminated || state == SessionLost || state == SessionFailed
}

// SessionRecord is what the fleet knows of one session: its host and
// state. ID is the host Manager's ID (scoped, see httpapi.ScopedID, when
// the gateway authorizes). It is a plain value.
type SessionRecord struct {
	ID          string
	WorkspaceID string
	HostID      string
	State       string
	// Reason says why the state was set, for lost, terminated and failed
	// sessions: the gateway sends it with its 410.
	Reason    string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Command states, in the order of the lifecycle: pending → sent → ack →
// completed | failed.
const (
	CommandPending   = "pending"   // stored, not yet handed to its host
	CommandSent      = "sent"      // handed to its host (notified), leased
	CommandAck       = "ack"       // claimed by the host, leased
	CommandCompleted = "completed" // done; Result holds the answer
	CommandFailed    = "failed"    // gave up; Error says why
)

// CommandDone reports whether a command in state is final.
func CommandDone(state string) bool { return state == CommandCompleted || state == CommandFailed }

// Command kinds an [Agent] executes.
const (
	KindStart     = "start"     // Payload: a StartPayload
	KindTerminate = "terminate" // SIGTERM, then SIGKILL after the Manager's grace; the session stays
	KindForget    = "forget"    // Manager.Forget: terminates what runs, drops the session
	KindSignal    = "signal"    // Payload: {"signal": "INT"}
)

// Command is one order to one host, kept in the Store's commands table.
// Its ID is the idempotency key: a host executes each ID at most once,
// however often it is delivered. It is a plain value.
type Command struct {
	// ID is the idempotency key; DispatchCommand assigns 128 random bits
	// when empty.
	ID string
	// HostID is the host that executes it; required.
	HostID string
	// SessionID is the Manager ID of the session it acts on.
	SessionID string
	// Kind is one of the Kind constants (an Agent fails others).
	Kind string
	// Payload is the kind's argument, JSON; may be nil.
	Payload []byte

	// Kept by the Store:

	State    string
	Attempts int    // how many times it was sent
	Error    string // why it failed, or the host's error
	Result   []byte // the host's answer, JSON
	// Times of each step, on the clocks of whoever took it; zero until
	// reached.
	CreatedAt, SentAt, AckedAt, DoneAt time.Time
	// LeaseUntil: a sent or acknowledged command not completed by then is
	// sent again (DispatchPendingCommands), up to the attempt limit.
	LeaseUntil time.Time
}

// clone returns a deep copy of c.
func (c Command) clone() Command {
	c.Payload = slices.Clone(c.Payload)
	c.Result = slices.Clone(c.Result)
	return c
}

// SelectionCriteria filter the hosts [AgentSelector.SelectAgent] may
// choose. Empty fields match any host. The zero value (or nil) chooses
// among every online host with a free seat, disconnected ones included:
// a host whose agent stopped is online until its last heartbeat is a
// TTL old, and nothing claims the commands sent to it meanwhile, so set
// RequireConnected (the Gateway's default criteria do).
type SelectionCriteria struct {
	ClusterID, Region, Platform string
	// PreferLowLoad chooses the least loaded host (Seats / Capacity);
	// false still does, since it is the only safe policy for seats, and
	// is kept for the seed's signature.
	PreferLowLoad bool
	// RequireConnected skips hosts whose agent is disconnected (stopped
	// or draining) even if their last heartbeat is fresh.
	RequireConnected bool
}

// Matches reports whether h passes the filters of c (not liveness or
// seats). A nil c matches every host.
func (c *SelectionCriteria) Matches(h Host) bool {
	if c == nil {
		return true
	}
	return (c.ClusterID == "" || c.ClusterID == h.ClusterID) &&
		(c.Region == "" || c.Region == h.Region) &&
		(c.Platform == "" || c.Platform == h.Platform) &&
		(!c.RequireConnected || h.Connected)
}

// AgentInfo describes a host for callers of [AgentSelector], as the seed
// services had it. Status is "online", "offline" (heartbeat further than
// the TTL from now, see [Host.Online]) or "disconnected". SessionCount
// is the seats held (Host.Seats: sessions placed and not over), not the
// count the host's heartbeat reports (Host.Sessions). Capacity holds
// "sessions" (the seats), "used" (seats held) and "free", as ints. It is
// a plain value.
type AgentInfo struct {
	AgentID, ClusterID, ClusterName, Platform, Region, Status string
	SessionCount                                              int
	Capacity                                                  map[string]any
	IsConnected                                               bool
	// Addr is the base URL of the host's API.
	Addr string
}

// newID returns 128 random bits in URL-safe base64.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
