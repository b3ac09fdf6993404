package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/sessionkit/sessionkit/processes"
)

// Error codes: the "code" field of an error response and [APIError.Code].
// Each comment gives the HTTP status that carries the code.
const (
	CodeBadRequest       = "bad_request"        // 400: a malformed query, body or signal name; processes.ErrInvalid
	CodeUnauthorized     = "unauthorized"       // 401: Options.Authorize returned an error
	CodeNotFound         = "not_found"          // 404: no such session in the caller's workspace, or no such route
	CodeMethodNotAllowed = "method_not_allowed" // 405: the route exists for another method (see the Allow header)
	CodeStartDisabled    = "start_disabled"     // 405: POST / on a handler without Options.Start
	CodeExited           = "exited"             // 409: processes.ErrExited
	CodeNoProcess        = "no_process"         // 409: processes.ErrNoProcess
	CodeNotTerminal      = "not_terminal"       // 409: processes.ErrNotTerminal
	CodeExists           = "exists"             // 409: processes.ErrExists
	CodeClosed           = "closed"             // 410: processes.ErrClosed
	CodeTooLarge         = "too_large"          // 413: a request body past its limit
	CodeTooManySessions  = "too_many_sessions"  // 429: processes.ErrTooManySessions
	CodeCanceled         = "canceled"           // 499: the request's context was canceled (the client left)
	CodeInternal         = "internal"           // 500: anything else; the details go to Options.Logger only
	CodeTimeout          = "timeout"            // 504: a deadline of the request's context passed
)

// StatusClientClosedRequest is the status recorded (and, if the client is
// still there, sent) when a request ends because its context was canceled,
// as nginx does. It is not a standard HTTP status.
const StatusClientClosedRequest = 499

// sentinels maps the errors of package processes to a status and a code,
// both ways: the handler answers an error with its status and code, and the
// client's APIError unwraps a code to its error.
var sentinels = []struct {
	err    error
	status int
	code   string
}{
	{processes.ErrNotFound, http.StatusNotFound, CodeNotFound},
	{processes.ErrExited, http.StatusConflict, CodeExited},
	{processes.ErrNoProcess, http.StatusConflict, CodeNoProcess},
	{processes.ErrNotTerminal, http.StatusConflict, CodeNotTerminal},
	{processes.ErrExists, http.StatusConflict, CodeExists},
	{processes.ErrClosed, http.StatusGone, CodeClosed},
	{processes.ErrTooManySessions, http.StatusTooManyRequests, CodeTooManySessions},
	{processes.ErrInvalid, http.StatusBadRequest, CodeBadRequest},
}

// APIError is an error response of the handler: its HTTP status and the
// "code" and "error" fields of its JSON body.
//
// The [Client] returns every response with a status outside 2xx as an
// *APIError; its Unwrap maps the code back to the error of package processes,
// so errors.Is(err, processes.ErrNotFound) holds for a 404 "not_found".
//
// An Options.Authorize or Options.Start function may return an *APIError
// (or wrap one) to choose the status, code and message of the response itself.
type APIError struct {
	// Status is the HTTP status, such as 404. The handler answers 500 for
	// an APIError whose Status is not a 4xx or 5xx.
	Status int
	// Code is the machine-readable code, one of the Code constants for the
	// handler's own errors. It is empty when the body of the response was
	// not a JSON error, as from a proxy in between.
	Code string
	// Message is the human-readable "error" field, or the start of the body
	// when it was not a JSON error.
	Message string
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

// Unwrap returns the error of package processes that Code stands for (such
// as [processes.ErrNotFound] for "not_found" and [processes.ErrInvalid] for
// "bad_request"), or nil for a code that has none.
func (e *APIError) Unwrap() error {
	for _, s := range sentinels {
		if s.code == e.Code {
			return s.err
		}
	}
	return nil
}

// errorBody is the JSON body of every error response.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

const msgInternal = "httpapi: internal error"

// classify is the one mapping from an error to the status, code and message
// of its response. Errors it does not know answer 500 with a fixed message,
// so that internals do not leak to clients.
func classify(err error) (status int, code, msg string) {
	var ae *APIError
	if errors.As(err, &ae) {
		status, code, msg = ae.Status, ae.Code, ae.Message
		if status < 400 || status > 599 {
			status = http.StatusInternalServerError
		}
		if code == "" {
			code = CodeInternal
			if status < 500 {
				code = CodeBadRequest
			}
		}
		if msg == "" {
			msg = "httpapi: " + http.StatusText(status)
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
			return s.status, s.code, err.Error()
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
