package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/sessionkit/sessionkit/processes"
)

// Error codes: the "code" field of an error response and [APIError.Code].
// Each comment gives the HTTP status that carries the code.
const (
	CodeBadRequest        = "bad_request"        // 400: a malformed query, body or signal name; processes.ErrInvalid
	CodeUnauthorized      = "unauthorized"       // 401: Options.Authorize returned an error
	CodeCrossOrigin       = "cross_origin"       // 403: a cross-origin browser request to a route that changes state
	CodeNotFound          = "not_found"          // 404: no such session in the caller's workspace, or no such route
	CodeMethodNotAllowed  = "method_not_allowed" // 405: the route exists for another method (see the Allow header)
	CodeStartDisabled     = "start_disabled"     // 405: POST / on a handler without Options.Start
	CodeExited            = "exited"             // 409: processes.ErrExited
	CodeNoProcess         = "no_process"         // 409: processes.ErrNoProcess
	CodeStdinClosed       = "stdin_closed"       // 409: processes.ErrStdinClosed: stdin while the process runs with its stdin closed
	CodeNotTerminal       = "not_terminal"       // 409: processes.ErrNotTerminal
	CodeExists            = "exists"             // 409: processes.ErrExists: the ID is taken in the caller's workspace
	CodeInvocationChanged = "invocation_changed" // 409: ErrInvocationChanged: the cursor's invocation is not the session's
	CodeCursorAhead       = "cursor_ahead"       // 409: ErrCursorAhead: since is past the session's newest Seq
	CodeClosed            = "closed"             // 410: processes.ErrClosed, for a reason not listed below
	CodeIdleTimeout       = "idle_timeout"       // 410: processes.ErrIdleTimeout
	CodeForgotten         = "forgotten"          // 410: processes.ErrForgotten
	CodeReplaced          = "replaced"           // 410: processes.ErrReplaced
	CodeReclaimed         = "reclaimed"          // 410: processes.ErrReclaimed
	CodeShutDown          = "shut_down"          // 410: processes.ErrShutdown
	CodeTooLarge          = "too_large"          // 413: a request body past its limit
	CodeUpgradeRequired   = "upgrade_required"   // 426: GET {sid}/attach without a WebSocket handshake
	CodeStartFailed       = "start_failed"       // 422: ErrStartFailed: the program could not be started
	CodeTooManySessions   = "too_many_sessions"  // 429: processes.ErrTooManySessions
	CodeTooManyWriters    = "too_many_writers"   // 429: ErrTooManyWriters: Options.MaxStdinWriters stdin requests are in progress
	CodeCanceled          = "canceled"           // 499: the request's context was canceled (the client left)
	CodeInternal          = "internal"           // 500: anything else; the details go to Options.Logger only
	CodeTimeout           = "timeout"            // 504: a deadline passed, such as Options.StdinTimeout
)

// Errors of this package, returned by the [Client] (an *[APIError] unwraps to
// them) and usable with errors.Is. The handler answers an error that is or
// wraps one of them with its code.
var (
	// ErrInvocationChanged: the cursor names an invocation of the session
	// that is not the current one. The session was replaced by another of
	// the same ID since the cursor was taken, so its Seqs count another
	// output; [APIError.InvocationID] is the current invocation.
	ErrInvocationChanged = errors.New("httpapi: session invocation changed")
	// ErrCursorAhead: a cursor is past the session's newest Seq, so it was
	// taken from another session, such as an earlier one of the same ID, or
	// (with the session's invocation) made up. [APIError.InvocationID] is
	// the current invocation.
	ErrCursorAhead = errors.New("httpapi: cursor is past the session's output")
	// ErrStartFailed: Options.Start could not start the program the request
	// named: it does not exist, is not executable, or is not a program.
	ErrStartFailed = errors.New("httpapi: program could not be started")
	// ErrTooManyWriters: the session already has Options.MaxStdinWriters
	// stdin requests in progress; retry once one has ended.
	ErrTooManyWriters = errors.New("httpapi: too many stdin writers for the session")
)

// StatusClientClosedRequest is the status recorded (and, if the client is
// still there, sent) when a request ends because its context was canceled,
// as nginx does. It is not a standard HTTP status.
const StatusClientClosedRequest = 499

// sentinels maps errors to a status and a code, both ways: the handler
// answers an error with the status and code of the first entry it matches,
// and the client's APIError unwraps a code to its error. The reasons for
// closing come before ErrClosed, which each of them wraps.
var sentinels = []struct {
	err    error
	status int
	code   string
}{
	{processes.ErrNotFound, http.StatusNotFound, CodeNotFound},
	{processes.ErrExited, http.StatusConflict, CodeExited},
	{processes.ErrStdinClosed, http.StatusConflict, CodeStdinClosed},
	{processes.ErrNoProcess, http.StatusConflict, CodeNoProcess},
	{processes.ErrNotTerminal, http.StatusConflict, CodeNotTerminal},
	{processes.ErrExists, http.StatusConflict, CodeExists},
	{ErrInvocationChanged, http.StatusConflict, CodeInvocationChanged},
	{ErrCursorAhead, http.StatusConflict, CodeCursorAhead},
	{processes.ErrIdleTimeout, http.StatusGone, CodeIdleTimeout},
	{processes.ErrForgotten, http.StatusGone, CodeForgotten},
	{processes.ErrReplaced, http.StatusGone, CodeReplaced},
	{processes.ErrReclaimed, http.StatusGone, CodeReclaimed},
	{processes.ErrShutdown, http.StatusGone, CodeShutDown},
	{processes.ErrClosed, http.StatusGone, CodeClosed},
	{ErrStartFailed, http.StatusUnprocessableEntity, CodeStartFailed},
	{processes.ErrTooManySessions, http.StatusTooManyRequests, CodeTooManySessions},
	{ErrTooManyWriters, http.StatusTooManyRequests, CodeTooManyWriters},
	{processes.ErrInvalid, http.StatusBadRequest, CodeBadRequest},
}

// statusSentinels maps a status to the error an APIError without a known
// code unwraps to: only statuses that mean one thing whoever sent them.
var statusSentinels = map[int]error{
	http.StatusBadRequest: processes.ErrInvalid,
	http.StatusNotFound:   processes.ErrNotFound,
	http.StatusGone:       processes.ErrClosed,
}

// knownCodes are the codes of this package, those with an error in
// sentinels and those without.
var knownCodes = map[string]bool{
	CodeUnauthorized: true, CodeCrossOrigin: true, CodeMethodNotAllowed: true,
	CodeStartDisabled: true, CodeTooLarge: true, CodeCanceled: true,
	CodeInternal: true, CodeTimeout: true, CodeUpgradeRequired: true,
}

func init() {
	for _, s := range sentinels {
		knownCodes[s.code] = true
	}
}

// statusCodes are the codes of the statuses whose code is not their
// status text in snake case (see [StatusCode]).
var statusCodes = map[int]string{
	http.StatusGone:                  CodeClosed,
	http.StatusRequestEntityTooLarge: CodeTooLarge,
	StatusClientClosedRequest:        CodeCanceled,
	http.StatusInternalServerError:   CodeInternal,
	http.StatusGatewayTimeout:        CodeTimeout,
	http.StatusRequestTimeout:        CodeTimeout,
}

// StatusCode returns the code the handler gives an error of the given
// status when nothing more precise is known, as for an *APIError without a
// Code: "not_found" for 404, "closed" for 410, "too_large" for 413,
// "internal" for 500, "timeout" for 408 and 504, and otherwise the status
// text in snake case ("conflict" for 409, "forbidden" for 403,
// "unprocessable_entity" for 422, "service_unavailable" for 503);
// "client_error" or "server_error" for a 4xx or 5xx without a text, and ""
// for a status outside 4xx and 5xx.
func StatusCode(status int) string {
	if status < 400 || status > 599 {
		return ""
	}
	if c, ok := statusCodes[status]; ok {
		return c
	}
	text := http.StatusText(status)
	if text == "" {
		if status < 500 {
			return "client_error"
		}
		return "server_error"
	}
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(text) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if under && b.Len() > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r)
			under = false
		} else {
			under = true
		}
	}
	return b.String()
}

// APIError is an error response of the handler: its HTTP status and the
// "code" and "error" fields of its JSON body.
//
// The [Client] returns every response with a status outside 2xx as an
// *APIError; its Unwrap maps the code back to the error of package processes
// or of this package, so errors.Is(err, processes.ErrNotFound) holds for a
// 404 "not_found" and errors.Is(err, processes.ErrClosed) for a 410 of any
// reason, but not for an answer that is not the handler's JSON error.
//
// An Options.Authorize or Options.Start function may return an *APIError
// (or wrap one) to choose the status, code and message of the response
// itself. A Status outside 4xx and 5xx is a programming error: the handler
// logs the APIError and answers 500 "internal" with a generic message. An
// empty Code gets the code of its status ([StatusCode]), an empty Message
// the status text.
type APIError struct {
	// Status is the HTTP status, such as 404.
	Status int
	// Code is the machine-readable code, one of the Code constants for the
	// handler's own errors. It is empty when the body of the response was
	// not a JSON error, as from a proxy in between.
	Code string
	// Message is the human-readable "error" field, or the start of the body
	// when it was not a JSON error.
	Message string
	// InvocationID is the session's current invocation in answers with
	// Code "invocation_changed" or "cursor_ahead" (the "invocation_id"
	// field), so that a client may start over from Cursor{InvocationID:
	// InvocationID}; empty otherwise.
	InvocationID string
}

// Error returns the status, code and message in one line.
func (e *APIError) Error() string {
	code := e.Code
	if code == "" {
		code = http.StatusText(e.Status)
	}
	if e.Message == "" {
		return fmt.Sprintf("httpapi: %d %s", e.Status, code)
	}
	return fmt.Sprintf("httpapi: %d %s: %s", e.Status, code, e.Message)
}

// Unwrap returns the error that Code stands for, such as
// [processes.ErrNotFound] for "not_found", [processes.ErrForgotten] for
// "forgotten" and [processes.ErrInvalid] for "bad_request", or nil for a
// code of this package that has none (such as "too_large"). For a Code
// this package does not know (an embedder's own, from Options.Authorize or
// Options.Start), it goes by Status: processes.ErrInvalid for 400,
// processes.ErrNotFound for 404, processes.ErrClosed for 410, and nil for
// the others. For an empty Code it returns nil: the answer was not the
// handler's (a proxy's, or another application's at a base URL that lacks
// the prefix), so its 404 says nothing of any session.
func (e *APIError) Unwrap() error {
	if e.Code == "" {
		return nil
	}
	for _, s := range sentinels {
		if s.code == e.Code {
			return s.err
		}
	}
	if knownCodes[e.Code] {
		return nil
	}
	return statusSentinels[e.Status]
}

// errorBody is the JSON body of every error response.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	// InvocationID is set for invocation_changed and cursor_ahead.
	InvocationID string `json:"invocation_id,omitempty"`
}

const msgInternal = "httpapi: internal error"

// classify is the one mapping from an error to the status, code and message
// of its response. Errors it does not know answer 500 with a fixed message,
// so that internals do not leak to clients; the message of a known error is
// that of the sentinel it matches, not the wrapped text, which may carry
// server details.
func classify(err error) (status int, code, msg string) {
	var ae *APIError
	if errors.As(err, &ae) {
		status, code, msg = ae.Status, ae.Code, ae.Message
		if status < 400 || status > 599 {
			return http.StatusInternalServerError, CodeInternal, msgInternal
		}
		if code == "" {
			code = StatusCode(status)
		}
		if msg == "" {
			msg = "httpapi: " + strings.ToLower(http.StatusText(status))
			if http.StatusText(status) == "" {
				msg = fmt.Sprintf("httpapi: error %d", status)
			}
		}
		return status, code, msg
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge, CodeTooLarge,
			fmt.Sprintf("httpapi: request body larger than %d bytes", mbe.Limit)
	}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return s.status, s.code, s.err.Error()
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, CodeTimeout, "httpapi: deadline exceeded"
	case errors.Is(err, context.Canceled):
		return StatusClientClosedRequest, CodeCanceled, "httpapi: request canceled"
	}
	return http.StatusInternalServerError, CodeInternal, msgInternal
}

// logFailure logs an error answered with status: a 5xx at Error, with the
// error's full text, which the client never sees.
func logFailure(log *slog.Logger, r *http.Request, status int, err error) {
	if status >= 500 {
		log.Error("httpapi: request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
}
