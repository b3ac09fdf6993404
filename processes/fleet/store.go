package fleet

import (
	"context"
	"time"
)

// Placement is one request to [Store.Place]: reserve a seat for a session
// on the least loaded host that fits.
type Placement struct {
	Criteria    *SelectionCriteria // nil: any host
	SessionID   string             // the record to create, pending
	WorkspaceID string
	Now         time.Time     // the placer's clock
	TTL         time.Duration // hosts whose heartbeat is before Now−TTL or after Now+TTL are offline (Host.Online)
}

// SessionFilter selects session records for [Store.Sessions]. Empty fields
// select all.
type SessionFilter struct {
	HostID string
	States []string
}

// CommandFilter selects commands for [Store.Commands]. Empty fields select
// all.
type CommandFilter struct {
	HostID    string
	SessionID string
	States    []string
}

// Topic names a notification stream of [Store.Subscribe].
type Topic string

// DoneTopic carries the ID of every command that reached a final state.
const DoneTopic Topic = "done"

// HostTopic carries a notification for every command sent to the host:
// the host's agent claims when woken.
func HostTopic(hostID string) Topic { return Topic("host:" + hostID) }

// Subscription delivers the payloads of one topic. Notifications may be
// coalesced or dropped when the receiver is slow (the channel holds a few
// hundred), so a receiver also looks at the Store now and then: its
// fallback poll.
type Subscription interface {
	// C delivers payloads. It is closed by Close.
	C() <-chan string
	// Close ends the subscription and waits for its goroutine, if any.
	// It is idempotent.
	Close() error
}

// Store keeps the fleet's state: the registry of hosts, the session
// records that hold their seats, and the durable commands table. Every
// method is one atomic step (one transaction in PostgreSQL), safe for
// concurrent use by any number of processes sharing the Store.
//
// Methods return ctx.Err() when ctx ends first, errors wrapping
// [ErrNotFound], [ErrExists], [ErrNoAgent], [ErrNotHeld] or [ErrInvalid]
// as each says, and the backend's errors otherwise.
//
// IDs, names, addresses, kinds, states and topics are text that every
// Store holds: valid UTF-8 without NUL bytes (PostgreSQL's text holds
// no other). A method that would store other text returns ErrInvalid
// and stores nothing; one that looks up or filters by it finds nothing
// (ErrNotFound, ErrNotHeld, ErrNoAgent or no rows, as for any string
// nothing holds), never a backend error. Reasons and error texts
// (Transition's reason, Complete's errText) are messages: a Store may
// keep them with such bytes replaced by U+FFFD. Returned values are
// copies. Package fleettest is the contract suite every implementation
// passes; [MemoryStore] is the one in memory, package pgfleet the one on
// PostgreSQL.
type Store interface {
	// RegisterHost creates or updates h's entry (its Seats, Beats and
	// Sessions kept), with Connected true and LastHeartbeat now. It
	// returns ErrInvalid for an empty ID. A Store may keep a Capacity
	// (or Heartbeat's session count) past what it holds as the most it
	// holds: pgfleet keeps int32's range.
	RegisterHost(ctx context.Context, h Host, now time.Time) error
	// Heartbeat records a beat of the host: its session count, the time,
	// and Beats+1. ErrNotFound for an unregistered host.
	Heartbeat(ctx context.Context, hostID string, sessions int, now time.Time) error
	// SetConnected marks the host's agent (dis)connected. ErrNotFound for
	// an unregistered host.
	SetConnected(ctx context.Context, hostID string, connected bool) error
	// Host returns one host, or ErrNotFound.
	Host(ctx context.Context, hostID string) (Host, error)
	// Hosts returns every host, sorted by ID.
	Hosts(ctx context.Context) ([]Host, error)

	// Place chooses, among the online hosts (Host.Online at p.Now and
	// p.TTL) that p.Criteria matches and that have Seats < Capacity,
	// the one with the lowest Seats/Capacity
	// (then fewer seats, then the lower ID), takes one of its seats and
	// creates the session's record, pending, in one atomic step: two
	// placements never take the last seat twice. It returns the host as
	// it is after the placement, ErrNoAgent when none fits, or ErrExists
	// when a record of p.SessionID holds a seat (a final one is replaced).
	Place(ctx context.Context, p Placement) (Host, error)
	// Session returns one session record, or ErrNotFound.
	Session(ctx context.Context, id string) (SessionRecord, error)
	// Sessions returns the records f selects, sorted by ID.
	Sessions(ctx context.Context, f SessionFilter) ([]SessionRecord, error)
	// Transition sets the record's state to `to` (and reason) if its
	// state is one of from (any, if from is empty), releasing or taking
	// its host's seat as HoldsSeat says, and reports whether it did.
	// ErrNotFound for an absent record.
	Transition(ctx context.Context, id string, from []string, to, reason string, now time.Time) (bool, error)
	// TransitionOn is Transition of the record only while it is on host
	// hostID: when it is on another, it reports false and changes
	// nothing, since a session placed again elsewhere under the same ID
	// is another session. Whoever acts on what one host did (its agent,
	// a command sent to it, a record read on it) changes the record with
	// it, never with Transition. ErrNotFound for an absent record.
	TransitionOn(ctx context.Context, id, hostID string, from []string, to, reason string, now time.Time) (bool, error)

	// Enqueue stores the commands, pending, in one step: all or none.
	// Each needs an ID and a HostID (ErrInvalid); an ID already stored
	// returns ErrExists and stores nothing.
	Enqueue(ctx context.Context, now time.Time, cmds ...*Command) error
	// Command returns one command, or ErrNotFound.
	Command(ctx context.Context, id string) (Command, error)
	// Commands returns the commands f selects, oldest first.
	Commands(ctx context.Context, f CommandFilter) ([]Command, error)
	// Send hands the command to its host: a pending one, or a sent or
	// acknowledged one whose lease ended before now, becomes sent with
	// Attempts+1 and LeaseUntil now+lease, and its host is notified
	// (HostTopic). A sent one still leased is notified again. When it was
	// already sent maxAttempts times it fails instead ("no completion
	// after N attempts") and DoneTopic is notified. Other states are left
	// as they are. It returns the command as it is after the step, or
	// ErrNotFound.
	Send(ctx context.Context, id string, now time.Time, lease time.Duration, maxAttempts int) (Command, error)
	// Claim acknowledges up to max sent commands of the host, oldest
	// first, with LeaseUntil now+lease or, if it ends later, the lease
	// their send gave (on the sender's clock: a claimer whose clock runs
	// behind would otherwise hold a lease over before it began, and the
	// command be sent again while it runs), and AckedAt now or, if it
	// is later, their SentAt (a claimer's now, taken before it waits for
	// the Store, or its clock, may be behind the send), and returns
	// them. Concurrent
	// claimers never get the same command: in PostgreSQL each is locked
	// with FOR UPDATE SKIP LOCKED, so claimers skip each other's rows
	// instead of waiting (see "The Locking Clause" of the SELECT
	// documentation).
	Claim(ctx context.Context, hostID string, max int, now time.Time, lease time.Duration) ([]Command, error)
	// Complete finishes a command acknowledged by hostID: completed with
	// result when errText is empty, else failed with errText, and
	// notifies DoneTopic, with DoneAt now or, if it is later, its
	// AckedAt: a command's times never go backwards from send to ack to
	// done. A command already final is left as it is (nil:
	// completing twice is harmless). It returns ErrNotHeld when the
	// command is of another host or not acknowledged, ErrNotFound when
	// absent.
	Complete(ctx context.Context, id, hostID string, result []byte, errText string, now time.Time) error
	// Recoverable returns up to limit commands that need a dispatcher:
	// pending ones, and sent or acknowledged ones whose lease ended
	// before now, oldest first; none for a limit of zero or less.
	Recoverable(ctx context.Context, now time.Time, limit int) ([]Command, error)

	// Subscribe starts delivering the topic's notifications until the
	// Subscription is closed; ctx bounds only the call.
	Subscribe(ctx context.Context, topic Topic) (Subscription, error)
}
