// Package fleet runs process sessions across many hosts: a registry of
// hosts with heartbeats, an [AgentSelector] that places each new session
// on the least loaded fitting host, a durable [CommandDispatcher] that
// hands hosts their commands, the [Agent] that runs on each host beside
// its processes.Manager, a [SessionReconciler] that cleans up sessions
// stuck in between or stranded on a dead host, and a [Gateway]: one
// http.Handler serving the whole API of package httpapi for the fleet, so
// that httpapi.Client works against it unchanged. The names of the seed's
// control-plane services are kept: SelectAgent, GetAgentInfo,
// DispatchCommand, DispatchPendingCommands, GetQueueCapacity,
// GetQueueLength, SetWorkers, Start, Stop and GetStats.
//
// Everything shared lives in a [Store]: [MemoryStore] for one process
// (tests, examples, a single server), and package pgfleet for PostgreSQL,
// which a fleet of processes on many machines shares. Package fleettest
// is the contract both pass.
//
// # How a session is started
//
//	client ── POST / ──▶ Gateway ── Place ──▶ Store (a seat on the least loaded host, session pending)
//	                        │
//	                        └─ DispatchCommand ─▶ commands table (pending) ─▶ worker: Send (sent, leased, NOTIFY host)
//	                                                                        │
//	host's Agent ◀─ LISTEN wake ──────────────────────────────────────────────┘
//	   └─ Claim (ack, FOR UPDATE SKIP LOCKED) ─▶ serve the start through the host's httpapi handler
//	   └─ Complete (completed | failed, NOTIFY done) ─▶ Gateway answers what the host answered (201)
//
// Then every /{sid}/… request is proxied to the session's host, event
// streams and WebSocket attachments included. The session's record goes
// pending → running (start done) → terminating (a DELETE on its way) →
// exited | terminated, or lost / terminated when its host is gone for
// good, or failed when its start failed; a seat is held while pending,
// running or terminating.
//
// # Commands
//
// A [Command]'s lifecycle is the seed's: pending → sent → ack →
// completed | failed, with its times, attempts and error kept. The
// dispatcher's queue is bounded (a full queue is [ErrQueueFull], never a
// wait); a command sent or acknowledged but not completed within its
// lease is sent again, up to a limit of attempts, then failed. A claim
// never shortens the lease the send gave, so a host whose clock runs
// behind the dispatcher's keeps the time it was given. A
// restarted dispatcher calls DispatchPendingCommands and carries on where
// the dead one stopped. The command ID is the idempotency key on the
// host: an Agent executes an ID once however often it is delivered and
// completes a command delivered again with its first outcome; a start
// delivered again whose session the host holds answers as the first did,
// while a new start of an ID the host still holds answers 409, as the
// host's handler would. At the Gateway, the same POST / again while its
// start is on its way waits for that start rather than answer 409. A
// start that completes after the fleet gave up
// on its session (failed, lost, or placed elsewhere) is forgotten on its
// host rather than left running where nothing points to it.
//
// # Liveness
//
// Hosts beat every few seconds. The selector counts a host online while
// its last heartbeat is within a TTL of the selector's now, on either
// side (on the timestamps the hosts send: a host whose clock is off by
// more than the TTL is never online, and one off by less is offline at
// most two TTLs after its last beat); the reconciler decides that a host is gone when its heartbeat count has
// not moved for GoneAfter on the reconciler's own clock, so clock skew
// between machines never loses a session, and counts no silence from
// an outage of the Store it could not read, so neither does an outage.
//
// # Lifecycle
//
// Make the Store, then, in a control-plane process: NewAgentSelector,
// NewCommandDispatcher (run Start in a goroutine; Stop waits for it),
// NewSessionReconciler (Start, Stop), NewGateway (Close). On each host:
// a processes.Manager, its httpapi handler on a listener whose URL is
// Host.Addr, and NewAgent with Run in a goroutine until its context ends
// (Run registers the host when it begins: call Register first if starts
// may come at once, or they find no host, ErrNoAgent). One Agent per
// host, and one Run of it at a time: a second concurrent Run returns
// ErrRunning.
// Every goroutine has an owner whose Stop, Close or context end waits for
// it.
//
// # Concurrency
//
// Every exported type is safe for concurrent use, and any number of
// processes may share a Store: the Store decides every race (a seat, a
// claim) in one atomic step. Callbacks (AgentOptions.OnExecute) are
// called with no lock held.
//
// # Platform support
//
// Wherever package processes builds (Linux, and the platforms its
// fallback supports); off Unix a KindSignal command knows only INT and
// KILL, as package httpapi does. The PostgreSQL Store is in package
// pgfleet; this package does not import pgx.
//
// # What it does not do
//
// It does not move a running session between hosts (a process lives on
// the kernel that runs it: a host that dies loses its sessions, which
// are marked lost and answer 410; a host that comes back after being
// judged gone keeps running those it still holds, which the fleet no
// longer reaches), authenticate hosts to the Store or to
// the gateway (the network between them is trusted; requests carry the
// client's headers, which each host authorizes again, from the gateway's
// address, or StartRemoteAddr for a start, with the client's in
// X-Forwarded-For: see Gateway), balance by CPU or
// memory (load is seats held / capacity), or keep a session's output
// anywhere but on its host.
package fleet
