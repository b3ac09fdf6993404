// Package httpapi serves the sessions of a [processes.Manager] over HTTP, as
// the endpoints an SDK polls, and is the Go client of those endpoints.
//
// [NewHandler] returns an http.Handler with standard-library routing; the
// [Client] calls it, one method per route, and [Client.Follow] is the polling
// loop an SDK would otherwise write by hand.
//
// # Routes
//
// Under a prefix, [DefaultPrefix] ("/api/sdk/processes") unless
// Options.Prefix says otherwise:
//
//	POST   /                         start a session with Options.Start: 201 {"id", "workspace_id"}
//	GET    /{sid}/output?since=N&wait=30s
//	                                 one poll: 200 {"chunks": [{"stream", "seq", "data"}], "exit", "alive", "lost_bytes", "missed"}
//	GET    /{sid}/events?since=N     the same as Server-Sent Events, ending with the exit
//	POST   /{sid}/stdin[?close=1]    the raw body to stdin, then close stdin if asked: 204
//	POST   /{sid}/signal?name=INT    a signal to the process group: 204
//	POST   /{sid}/terminate          SIGTERM, then SIGKILL after the grace; waits: 200 {"exit": code}
//	POST   /{sid}/resize             {"rows": 24, "cols": 80} for terminals: 204
//	DELETE /{sid}                    forget the session, terminating what still runs: 204
//
// In output, "data" is base64 (JSON's encoding of bytes), "exit" is null
// while the process runs, "alive" turns false once the exit is recorded,
// "lost_bytes" is the session's total of bytes dropped from its ring and
// "missed" the bytes after since that this cursor will never see (see
// [processes.Output]). A client passes the "seq" of the last chunk it got as
// the next since, starting from 0.
//
// since must be a non-negative integer (missing: 0). wait is a
// non-negative duration, "30s" or "500ms", or a bare number of seconds
// (missing: 0); the server caps it at Options.MaxWait ([DefaultMaxWait]).
// Signal names are HUP, INT, QUIT, KILL, USR1, USR2, TERM, CONT, STOP, TSTP
// and WINCH, with or without the SIG prefix, in any case (INT and KILL only
// where package syscall lacks the others). stdin takes at most
// Options.MaxStdinBytes ([DefaultMaxStdinBytes]): the whole body is read
// before anything is written, so an oversize one answers 413 and writes
// nothing; with close=1 (any strconv.ParseBool true value) stdin is closed
// after the body, which may be empty.
//
// # Workspaces
//
// Options.Authorize maps every request to a workspace, typically from its
// credentials; nil makes every request workspace "". A session whose
// WorkspaceID is another workspace's answers 404 with exactly the body of a
// session that does not exist, so that IDs do not leak across workspaces. An
// Authorize error answers 401, unless it is an *[APIError], which answers as
// it says. Options.Start learns the caller's workspace from [Workspace] and
// must start the session in it; a session it returns for another workspace
// is forgotten and the request answers 500.
//
// # Errors
//
// Every error answers JSON {"error": "message", "code": "not_found"} with
// the status of its code; one mapping serves the whole package:
//
//	400 bad_request         bad since, wait, close, signal name or JSON; zero resize; processes.ErrInvalid
//	401 unauthorized        Options.Authorize failed
//	404 not_found           no such session in the caller's workspace (processes.ErrNotFound), or no such route
//	405 method_not_allowed  another method than the route's (see the Allow header)
//	405 start_disabled      POST / without Options.Start
//	409 exited              processes.ErrExited: stdin or a signal after the exit
//	409 no_process          processes.ErrNoProcess: stdin, signal or terminate on a session without a process
//	409 not_terminal        processes.ErrNotTerminal: resize of a pipe session
//	409 exists              processes.ErrExists: Start with an ID in use
//	410 closed              processes.ErrClosed: the session was forgotten or evicted during the request
//	413 too_large           a body past its limit
//	429 too_many_sessions   processes.ErrTooManySessions
//	499 canceled            the request's context was canceled: the client left
//	500 internal            anything else: the details go to Options.Logger, never to the client
//	504 timeout             a deadline of the request's context passed
//
// The [Client] returns these as *[APIError], whose Unwrap gives back the
// error of package processes, so errors.Is(err, processes.ErrNotFound) holds
// on the client side too.
//
// # Long polling
//
// With wait, GET output answers as soon as output newer than since exists or
// the process exits, or with an empty poll once the wait passes. It uses
// [processes.Session.WaitOutput], so a waiting request costs a parked
// goroutine and no polling; a client that goes away ends the wait at once.
// Keep Options.MaxWait below the server's WriteTimeout.
//
// # Server-Sent Events
//
// GET events streams the same output as events, each chunk as
//
//	id: 7
//	event: output
//	data: {"stream":"stdout","seq":7,"data":"aGVsbG8K"}
//
// preceded by an event "missed" with data {"missed": n, "lost_bytes": n}
// (and no id) when output after the cursor was dropped before it could be
// sent. Once the process exited and all output was sent, an event "exit"
// with data {"exit": code} (and the id of the last chunk) ends the stream.
// A session forgotten while it runs ends the stream with an event "closed"
// with the error body as data. The Last-Event-ID header, when present,
// overrides since, so an EventSource resumes where it stopped; a browser
// should close its EventSource on the exit event, or it reconnects and gets
// the exit again. While nothing happens a comment line is sent every
// Options.Heartbeat ([DefaultHeartbeat]). The stream clears the server's
// write deadline and ends when the client goes away, the process exits or
// the session is closed. http.Server.Shutdown does not end streams: shut the
// Manager down first ([processes.Manager.Shutdown]), which ends them all.
//
// # Following
//
// [Client.Follow] long-polls with [Client.PollWait], advances since, reports
// polls with chunks or missed bytes to its callback, retries transient errors
// (network, 5xx) with capped exponential backoff and returns the exit code
// once all output was delivered, or at once on errors such as not_found.
//
// # Concurrency
//
// The handler and a Client whose fields are set are safe for concurrent use.
// The handler starts no goroutine: each request runs in its server's
// goroutine and returns when it is answered, when its client leaves, or,
// for stdin, once the process took the bytes.
//
// # What it does not do
//
// It never decides what may run: without Options.Start nothing can be
// started over HTTP, and with it the embedder's function alone chooses the
// command, its environment and its limits. It does not authenticate either:
// Options.Authorize does. It does not rate-limit, compress or persist
// anything, and it cannot abandon a write to a process that does not read
// its stdin: such a request waits until the process reads, exits or is
// forgotten.
package httpapi
