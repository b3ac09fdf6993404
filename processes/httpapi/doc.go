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
//	GET    /                         the caller's workspace's sessions: 200 {"sessions": [status, ...]}, oldest first
//	GET    /{sid}                    the session's status: 200 {"id", "workspace_id", "invocation_id", "alive",
//	                                 "exit", "exit_status", "started", "exited", "last_activity",
//	                                 "idle_timeout_seconds", "seconds_left", "paused", "close_reason"}
//	GET    /{sid}/output?since=N&wait=30s&merge=1&invocation=ID
//	                                 one poll: 200 {"chunks": [{"stream", "seq", "data"}], "exit", "alive",
//	                                 "lost_bytes", "missed", "invocation_id", "more"}
//	GET    /{sid}/events?since=N&merge=1&invocation=ID
//	                                 the same as Server-Sent Events, ending with the exit
//	GET    /{sid}/attach?since=N&invocation=ID
//	                                 a WebSocket: output out, keystrokes and resizes in (see Attaching)
//	POST   /{sid}/stdin[?close=1]    the raw body to stdin, then close stdin if asked: 204
//	POST   /{sid}/signal?name=INT    a signal to the process group: 204
//	POST   /{sid}/terminate          SIGTERM, then SIGKILL after the grace; waits: 200 {"exit": code}
//	POST   /{sid}/resize             {"rows": 24, "cols": 80} for terminals: 204
//	DELETE /{sid}                    forget the session, terminating what still runs: 204
//
// In output, "data" is base64 (JSON's encoding of bytes), "exit" is null
// while the process runs, "alive" turns false once the exit is recorded,
// "lost_bytes" is the session's total of bytes dropped from its ring,
// "missed" the bytes after since that this cursor will never see (see
// [processes.Output]), "invocation_id" identifies this incarnation of the
// session ID ([processes.Session.InvocationID]) and "more" says that the
// answer was cut at Options.MaxResponseBytes: poll again at once. A page
// cut short reports "alive" true and "exit" null even if the process
// exited, so that a client that stops at the exit has read every chunk
// first. A client passes the "seq" of the last chunk it got as the next
// since, starting from 0. Byte counts are JSON numbers of up to 63 bits;
// the Go client clamps them to int.
//
// What POST / starts is the embedder's Options.Start. [Starter] is a ready
// one: it reads {"argv": [...], "tty": true, "rows": 24, "cols": 80, "id":
// "..."} ([StartRequest]), lets the embedder's Allow refuse or rewrite it,
// and starts the program on pipes or, with "tty", under a pseudo-terminal
// (package ptyterm) whose idle warning event streams and attachments
// deliver.
//
// A status ([SessionStatus]) gives the client's ID of the session (without
// the scope of Workspaces below), "exit" as a poll does and "exit_status"
// as {"code", "signal" ("SIGKILL", "" if it exited), "core_dump", "lost",
// "oom_kills"}, both null while "alive"; times in RFC 3339, UTC, on the
// Manager's clock, "exited" and "last_activity" null when there are none;
// "idle_timeout_seconds", the effective idle timeout (the session's own or
// its Manager's), and "seconds_left" until the Manager's sweep may close it
// as idle (0 when due; the whole timeout while a connected client holds a
// session that counts connections), both null for a session that never
// idles out; "close_reason", the code of the close (see Errors), null while
// open. The list holds the sessions that GET /{sid} would answer: those of
// the caller's workspace, under an ID in its scope. "tty" says whether a
// session runs on a terminal, and "rows" and "cols" give a terminal's size.
//
// since must be a non-negative integer (missing: 0). wait is a
// non-negative duration, "30s" or "500ms", or a bare number of seconds
// (missing: 0); the server caps it at Options.MaxWait ([DefaultMaxWait]).
// merge=1 (any strconv.ParseBool true value) returns each run of
// consecutive chunks of one stream as one chunk with the "seq" of the run's
// last chunk, so that a child writing a byte at a time costs one chunk per
// poll rather than thousands. Signal names are HUP, INT, QUIT, KILL, USR1,
// USR2, TERM, CONT, STOP, TSTP and WINCH, with or without the SIG prefix,
// in any case of ASCII letters (a letter outside ASCII never matches; INT
// and KILL only where package syscall lacks the others). On a terminal,
// INT, QUIT and TSTP go to its foreground process group.
//
// stdin streams the body to the process in pieces of 32 KiB as it takes
// them, one request at a time per session, so that two bodies never
// interleave; it answers 204 once the process took all of it, and with
// close=1 closes stdin after the body, which may be empty. A body whose
// Content-Length passes Options.MaxStdinBytes ([DefaultMaxStdinBytes])
// answers 413 and writes nothing; a chunked body is written until it
// passes the limit, then answers 413 saying how many of its bytes were
// written. A session takes at most Options.MaxStdinWriters
// ([DefaultMaxStdinWriters]) stdin requests at once, writing or waiting;
// more answer 429 "too_many_writers" at once. A request that waits
// Options.StdinTimeout ([DefaultStdinTimeout]) for the process to take the
// next piece, or for its turn, answers 504 "timeout" saying how many bytes
// were written; any failure after bytes were written says how many.
//
// terminate waits until the process and its descendants are gone, at most
// the Manager's kill grace and the reaping after it. A client that leaves or
// times out does not escalate the stop to SIGKILL: the grace belongs to the
// session, and the handler waits it out.
//
// # Cursors and invocations
//
// A session ID may be forgotten and started again; the Seqs of the new
// session count from 1 again, so a cursor of the old one would silently
// skip or repeat output. Every poll and the hello event of every stream
// carry the session's invocation_id. A request with invocation=ID whose ID
// is not the session's answers 409 "invocation_changed"; a since past the
// session's newest Seq answers 409 "cursor_ahead", with or without the
// invocation (without it, the cursor can only come from another session;
// with it, from no answer the session gave: its reader would skip the
// chunks up to since unawares), before any wait. Both bodies carry the
// current "invocation_id", so a client can start over from 0 knowingly.
// The Client's Follow
// adopts the invocation of its first answer and sends it on every later
// poll ([Client.FollowCursor], [Cursor]).
//
// # Workspaces
//
// Options.Authorize maps every request to a workspace, typically from its
// credentials; nil makes every request workspace "". A session whose
// WorkspaceID is another workspace's answers 404 with exactly the body of a
// session that does not exist, so that IDs do not leak across workspaces. An
// Authorize error answers 401, unless it is an *[APIError], which answers as
// it says.
//
// With Authorize, session IDs are scoped: the session a caller names "build"
// is the Manager's [ScopedID](workspace, "build") on every route, and
// Options.Start names the sessions it starts with [SessionID](r, id). Two
// workspaces may both use "build", and starting an ID that another
// workspace uses answers exactly as starting a free one, so the 409
// "exists" of a start only ever tells a caller about its own workspace.
// Options.Start learns the caller's workspace from [Workspace] and must
// start the session in it; a session it returns for another workspace, or
// under an ID outside the caller's scope, is forgotten and the request
// answers 500. Sessions registered by other means must use ScopedID to be
// served. Without Authorize, IDs are used as they are.
//
// An ID that a client chooses at a start is checked by [CheckClientID]: at
// most [MaxClientIDBytes] of valid UTF-8 without control characters, and
// neither "." nor "..". Sessions that the embedder registers may have any
// ID.
//
// # Cross-origin requests
//
// A page of another site must not make a browser that can reach the server
// run commands (a "no-cors" POST with a text body needs no preflight, and
// loopback addresses are reachable from any page the browser shows). Every
// route that changes state (every POST and DELETE) refuses cross-origin
// browser requests with 403 "cross_origin", by
// [net/http.CrossOriginProtection]: Sec-Fetch-Site, or the Origin header
// against the Host. Requests without those headers, such as curl's and the
// Client's, pass. Options.TrustedOrigins allows given origins,
// Options.CrossOrigin replaces the protection, and Options.AllowCrossOrigin
// turns it off for deployments where every request carries a credential a
// browser never attaches by itself. The GET routes change no state and are
// not checked, except attach, whose socket writes to stdin: its upgrade
// is refused with 403 "cross_origin" unless the Origin header is absent,
// names the request's own host, or is one of Options.TrustedOrigins
// (each compared whole, case aside, then as a pattern of [path.Match] on
// "scheme://host"); a CrossOrigin of one's own does not lend attach its
// trusted origins. The protection does not stop DNS rebinding, where the
// attacker's page is same-origin with a name that resolves to the server:
// a server on loopback should also check the Host header, as
// [github.com/sessionkit/sessionkit/loopback.HostGuard] does for every
// example, or require credentials.
//
// # Errors
//
// Every error answers JSON {"error": "message", "code": "not_found"} with
// the status of its code; one mapping serves the whole package:
//
//	400 bad_request          bad since, wait, merge, close, signal name or JSON (DecodeJSON's messages); processes.ErrInvalid
//	401 unauthorized         Options.Authorize failed
//	403 cross_origin         a cross-origin browser request to a route that changes state
//	404 not_found            no such session in the caller's workspace (processes.ErrNotFound), or no such route
//	405 method_not_allowed   another method than the route's (see the Allow header)
//	405 start_disabled       POST / without Options.Start
//	409 exited               processes.ErrExited: stdin or a signal after the exit
//	409 stdin_closed         processes.ErrStdinClosed: stdin after close=1, or after the process closed its stdin
//	409 no_process           processes.ErrNoProcess: stdin, signal or terminate on a session without a process
//	409 not_terminal         processes.ErrNotTerminal: resize of a pipe session
//	409 exists               processes.ErrExists: Start with an ID in use in the caller's workspace
//	409 invocation_changed   ErrInvocationChanged: invocation=ID names an earlier session of the ID
//	409 cursor_ahead         ErrCursorAhead: since past the newest Seq, with or without an invocation
//	410 idle_timeout         processes.ErrIdleTimeout: the session was evicted as idle during the request
//	410 forgotten            processes.ErrForgotten: DELETE or Manager.Forget during the request
//	410 replaced             processes.ErrReplaced: another session was registered under the ID
//	410 reclaimed            processes.ErrReclaimed: its slot went to a new session past the limits
//	410 shut_down            processes.ErrShutdown: the Manager shut down
//	410 closed               processes.ErrClosed for another reason, such as Start after Shutdown
//	413 too_large            a body past its limit
//	422 start_failed         ErrStartFailed: the program is missing, not executable or not a program
//	426 upgrade_required     GET attach without a WebSocket handshake
//	429 too_many_sessions    processes.ErrTooManySessions
//	429 too_many_writers     ErrTooManyWriters: Options.MaxStdinWriters stdin requests in progress
//	499 canceled             the request's context was canceled: the client left
//	500 internal             anything else: the details go to Options.Logger, never to the client
//	504 timeout              Options.StdinTimeout passed, or a deadline of the request's context
//
// The messages of known errors are those of their sentinels, not the
// wrapped text, which may carry server details. A session closed while a
// long poll waits answers 410 with the reason's code, except that a session
// whose process had exited still answers its final output. An *APIError
// returned by Options.Authorize or Options.Start answers its own status,
// code and message; a Status outside 4xx and 5xx is a programming error,
// logged and answered as 500 "internal", and an empty Code gets the code of
// its status ([StatusCode]).
//
// The [Client] returns these as *[APIError], whose Unwrap gives back the
// error of package processes or of this package, so errors.Is(err,
// processes.ErrNotFound) holds on the client side too, and
// errors.Is(err, processes.ErrClosed) for every 410. A code the client does
// not know (an embedder's own) unwraps by status: 400 to
// processes.ErrInvalid, 404 to processes.ErrNotFound, 410 to
// processes.ErrClosed. An answer with no code is not the handler's (a
// proxy's, or another application's at a base URL that lacks the prefix)
// and unwraps to nothing: its 404 says nothing of any session.
//
// # Long polling
//
// With wait, GET output answers as soon as output newer than since exists or
// the process exits, or with an empty poll once the wait passes. It uses
// [processes.Session.WaitOutput], so a waiting request costs a parked
// goroutine and no polling; a client that goes away ends the wait at once.
// While the request runs, its writing included, it holds the session
// ([processes.Session.Hold]), so that the Manager's sweep does not evict a
// session someone follows, however silent; its end counts as activity, so
// the gap until the next poll starts a fresh idle window.
//
// # Server-Sent Events
//
// GET events streams the same output as events. It starts with
//
//	event: hello
//	data: {"invocation_id":"4fPz3w…","since":0}
//
// and sends each chunk as
//
//	id: 7
//	event: output
//	data: {"stream":"stdout","seq":7,"data":"aGVsbG8K"}
//
// preceded by an event "missed" with data {"missed": n, "lost_bytes": n}
// (and no id) when output after the cursor was dropped before it could be
// sent. Like a poll's, it counts from the cursor it follows (the id of the
// last output event, or the stream's since): a stream resumed at a cursor
// whose missed event already arrived reports those bytes again, with any
// dropped since, so a client that adds up missed bytes replaces the count
// of a cursor rather than adding to it. Once the process exited and all output was sent, an event "exit"
// with data {"exit": code} (and the id of the last chunk) ends the stream.
// A session closed while the stream is open ends it with an event
// "closed" whose data is {"error": "...", "code": "forgotten", "reason":
// "forgotten"}, the code being the reason's, as for the 410 of a poll; when
// closing ends a running process (SIGTERM, then SIGKILL after the
// Manager's kill grace), the output it writes meanwhile and its exit event
// come first ([processes.Session.WaitUpdate]). An
// idle warning (processes.Session.WarnIdle: a terminal posts one
// WarnBefore ahead of its idle close) is an event "warning" with data
// {"seconds_left": s}, the seconds until that close on the Manager's clock;
// polls see it in the status (GET /{sid}, "warning_seconds_left"). The
// Last-Event-ID header, when present, overrides since, so an EventSource
// resumes where it stopped; a browser should close its EventSource on the
// exit event, or it reconnects and gets the exit again. An EventSource
// reconnects by itself with the URL it was opened with: unless that URL
// names the invocation, a client must compare the invocation_id of every
// hello with the first one, as a different one means another session
// whose Seqs its Last-Event-ID does not count (start over from since=0). While nothing
// happens a comment line is sent every Options.Heartbeat
// ([DefaultHeartbeat]). The stream holds the session for as long as it is
// open. It ends when the client goes away, when a write blocks for
// Options.WriteTimeout ([DefaultWriteTimeout]: a client that stops reading
// is cut off), when the process exits, or when the session is closed,
// which [processes.Manager.Shutdown] does to all: shut the Manager down
// before the http.Server, whose Shutdown does not end streams itself.
//
// # Attaching
//
// GET attach upgrades to a WebSocket (RFC 6455, by github.com/coder/websocket)
// for a web terminal such as xterm.js: the session's output as it comes,
// from since (missing: 0, the whole ring), and the user's keystrokes and
// resizes the other way, on one connection. Its query is that of events;
// the cursor is checked the same way, and every refusal (400, 401, 403,
// 404, 409, and 426 "upgrade_required" for a request that is not a
// WebSocket handshake) is an ordinary JSON error before the upgrade.
// Messages:
//
//	dir  frame   message                                              when
//	out  text    {"type":"hello","invocation_id":"…","since":N,"tty":true,"rows":24,"cols":80}  first
//	out  binary  output bytes, as the program wrote them             each chunk (runs of a stream merged)
//	out  text    {"type":"missed","missed":n,"lost_bytes":n}          output after the cursor was dropped first
//	out  text    {"type":"exit","exit":code|null,"seq":N}             last, once all output was sent; then close 1000 "exited"
//	out  text    {"type":"closed","code":"forgotten","error":"…"}     last, when the session is closed (after the exit if closing ended the process); then close 1000 with the code
//	out  text    {"type":"warning","seconds_left":s}                  an idle warning: the session closes in s seconds unless it is used
//	out  text    {"type":"error","code":"not_terminal","error":"…"}   an input or control message failed; the socket stays open
//	in   binary  keystrokes, written to stdin as they are            any time
//	in   text    {"type":"input","data":"ls\r"}                       keystrokes as a string, the same as binary
//	in   text    {"type":"resize","rows":24,"cols":80}                 set a terminal's size
//
// The codes of closed are those of a 410: idle_timeout, forgotten,
// replaced, reclaimed, shut_down (or closed); those of error are the
// codes of the other routes: bad_request (not JSON, an unknown type, a
// size of 0 or past [MaxTerminalSize]), not_terminal (resize of a pipe
// session), exited, stdin_closed and no_process (input without a running
// process, or to a closed stdin), and
// timeout (input the program did not take within Options.StdinTimeout);
// the error of an input says how many of its bytes were written. Output
// is not framed on line or character boundaries: a UTF-8 character may
// span two messages.
// Input is user activity ([processes.Session.WriteContext]), and so is a
// resize; the input of several viewers is written one message at a time,
// never interleaved within one. Each message is written before the next
// is read, so a program that does not read its input stops the reading of
// that socket's messages, and of nothing else, for Options.StdinTimeout
// ([DefaultStdinTimeout]) at most: then the rest of the message is dropped,
// an error "timeout" says how much was written, and reading goes on (a
// client that left meanwhile is noticed then).
//
// Several viewers may attach to one session at once. Each has its own
// cursor into the session's ring, so a viewer that reads slowly never
// slows the program or another viewer: it falls behind, and when the ring
// dropped what it had not yet sent it gets a missed message, exactly as a
// poll would, then carries on from the oldest output kept. A write that
// blocks for Options.WriteTimeout ([DefaultWriteTimeout]) closes the
// socket: a viewer that stopped reading is cut off. An attachment holds
// the session ([processes.Session.Hold]) for as long as it is open, as an
// event stream does. It ends when the process exited and all output was
// sent, when the session is closed (the closed message says why), or when
// the client goes away or sends a message larger than
// [MaxAttachMessageBytes] (close 1009).
//
// # Limits
//
// Memory per request follows the bytes it returns, not the number of chunks
// in the ring, and is bounded as follows (defaults in brackets; 64-bit
// sizes):
//
//   - A poll answers at most max(Options.MaxResponseBytes [4 MiB], the
//     JSON of one chunk: 4/3 of its bytes, at most processes.MaxBufferBytes
//     (1 MiB), plus about 60 bytes and its stream name) of JSON. It
//     allocates a copy of the chunks it returns, their bytes and 48 bytes
//     each, at most about MaxResponseBytes (4.0 MB measured for the default
//     bound on a ring of one-byte chunks, 1.1 MB merged), or one chunk of up
//     to 1 MiB; and a pooled 32 KiB write buffer. A cursor past the end
//     is told from one at it by the newest Seq, without a copy. Worst
//     case: max(MaxResponseBytes, 1 MiB) + 32 KiB, with the defaults about
//     4 MiB; typically the bytes returned.
//   - An event stream copies and writes one batch at a time, at most
//     min(MaxResponseBytes, 256 KiB) of events or one chunk of up to 1 MiB,
//     through a pooled 32 KiB buffer that it returns after the batch, and
//     keeps nothing between batches: an open stream that has caught up
//     costs its goroutine, its cursor and net/http's connection buffers
//     (29 KiB per stream measured, client and server ends together). A
//     write blocks at most Options.WriteTimeout [10 s].
//   - An attachment copies and sends one batch at a time, as an event
//     stream does: at most 3/4 of min(MaxResponseBytes, 256 KiB) of output
//     (192 KiB) or one chunk of up to 1 MiB, kept only while it is
//     written; and it reads one message of at most MaxAttachMessageBytes
//     (32 KiB) at a time. An attachment that has caught up and is not
//     being typed into holds no output: its two goroutines, its cursor
//     and the connection's buffers (27 KiB per attachment measured, client
//     and server ends together). Each write blocks at most
//     Options.WriteTimeout [10 s].
//   - A stdin request holds a 32 KiB piece of its body, at most
//     Options.MaxStdinWriters [4] of them per session, and waits at most
//     Options.StdinTimeout [30 s] without progress.
//   - A resize body is at most 4 KiB, and a terminal's rows and columns
//     set over HTTP (Starter, resize, an attachment) at most
//     [MaxTerminalSize] (1000) each; a long poll waits at most
//     Options.MaxWait [60 s].
//
// Options.WriteTimeout replaces the server's WriteTimeout for polls and
// streams: the handler sets the write deadline before each write, and
// clears it once its answer is flushed.
//
// # Following
//
// [Client.Follow] and [Client.FollowCursor] long-poll with
// [Client.PollWait], ask for merged chunks, page through answers cut by the
// server's bound without waiting, advance the cursor, report polls with
// chunks or missed bytes to their callback, retry transient errors
// (network, 5xx, 408, 429) with capped exponential backoff and return the exit code
// once all output was delivered, or at once on errors such as not_found, a
// 410 of a closed session, invocation_changed or cursor_ahead.
//
// # Concurrency
//
// The handler and a Client whose fields are set are safe for concurrent use.
// The handler starts no goroutine of its own: each request runs in its
// server's goroutine and returns when it is answered, when its client
// leaves, when a write times out, or, for stdin and terminate, once the
// process took the bytes or is gone. An attachment also reads its socket in
// a second goroutine, which it waits for before it returns.
//
// # What it does not do
//
// It never decides what may run: without Options.Start nothing can be
// started over HTTP, and with it the embedder's function alone chooses the
// command, its environment and its limits. It does not authenticate either:
// Options.Authorize does. It does not rate-limit, compress or persist
// anything. Over HTTP/1, net/http notices a client that left only once the
// handler has read its request body to the end: a stdin request whose
// client leaves while the process is not reading and the rest of its body
// is unread ends when the process reads, exits or is forgotten, or after
// Options.StdinTimeout; a body of at most 32 KiB is read whole first, so its
// request ends at once.
package httpapi
