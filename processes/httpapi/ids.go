package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// scope is what the handler knows of a request's caller, kept in the
// request's context for Options.Start: its workspace, and whether session
// IDs are scoped to workspaces (they are when Options.Authorize is set).
type scope struct {
	ws     string
	scoped bool
}

type scopeKey struct{}

// withScope returns r with sc in its context.
func withScope(r *http.Request, sc scope) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), scopeKey{}, sc))
}

func scopeOf(ctx context.Context) scope {
	sc, _ := ctx.Value(scopeKey{}).(scope)
	return sc
}

// Workspace returns the workspace that Options.Authorize returned for the
// request whose context ctx is, for Options.Start to give to the session it
// starts. It returns "" without Authorize and for contexts that do not come
// from the handler.
func Workspace(ctx context.Context) string {
	return scopeOf(ctx).ws
}

// SessionID returns the Manager ID under which the handler serves, to the
// caller of r, the session that caller calls clientID: what Options.Start
// passes as [processes.StartOptions].ID. An empty clientID means a new one,
// 128 random bits in URL-safe base64.
//
// With Options.Authorize, every workspace has IDs of its own: SessionID
// returns [ScopedID](Workspace(r.Context()), clientID), and every route maps
// its {sid} the same way, so that two workspaces may both start a session
// "build" and neither can learn that the other did. Without Authorize, and
// for a request that does not come from the handler, it returns clientID
// itself. The handler answers POST / with the clientID, and refuses (500,
// forgetting the session) a session whose ID is not in the caller's scope.
func SessionID(r *http.Request, clientID string) string {
	if clientID == "" {
		clientID = newID()
	}
	sc := scopeOf(r.Context())
	if !sc.scoped {
		return clientID
	}
	return ScopedID(sc.ws, clientID)
}

// MaxClientIDBytes is the longest session ID, in bytes, that a client may
// choose: [CheckClientID] refuses a longer one.
const MaxClientIDBytes = 256

// CheckClientID returns an *[APIError] of status 400 and code
// "bad_request" for a session ID chosen by a client that the API refuses:
//   - "." and "..", which no URL of the API could name: every route takes
//     the ID as a path segment, and HTTP clients and servers clean these
//     away (RFC 3986, section 5.2.4);
//   - an ID longer than [MaxClientIDBytes], not valid UTF-8, or holding a
//     control character (Unicode's category Cc: U+0000–U+001F and
//     U+007F–U+009F), which logs mangle and stores refuse (PostgreSQL's
//     text holds no NUL byte).
//
// Any other ID is one segment once escaped ("a/b" is "a%2Fb"), and "" makes
// a start choose a random one: it returns nil for those. [Starter] checks
// the ID of every start with it, and so should an Options.Start of one's
// own that takes IDs from its clients. Sessions that the embedder registers
// itself may have any ID; the [Client] reaches every one but "." and "..".
func CheckClientID(id string) error {
	if unaddressable(id) {
		return &APIError{Status: http.StatusBadRequest, Code: CodeBadRequest,
			Message: `httpapi: a session id may not be "." or "..": no URL of the API could name it`}
	}
	switch {
	case len(id) > MaxClientIDBytes:
		return &APIError{Status: http.StatusBadRequest, Code: CodeBadRequest,
			Message: fmt.Sprintf("httpapi: a session id may be at most %d bytes (MaxClientIDBytes), not %d", MaxClientIDBytes, len(id))}
	case !utf8.ValidString(id):
		return &APIError{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: "httpapi: a session id must be valid UTF-8"}
	case strings.ContainsFunc(id, unicode.IsControl):
		return &APIError{Status: http.StatusBadRequest, Code: CodeBadRequest,
			Message: "httpapi: a session id may not hold a control character: " + strconv.Quote(id)}
	}
	return nil
}

// unaddressable reports whether id is one that no URL of the API names.
func unaddressable(id string) bool {
	return id == "." || id == ".."
}

// ScopedID returns the Manager ID of the session that callers of workspace
// know as id, when the handler has Options.Authorize: the workspace in URL
// path escaping (which has no "/"), a "/", and id. Distinct (workspace, id)
// pairs give distinct IDs. Use it to register sessions that the handler
// serves to that workspace by other means than Options.Start, such as
// [processes.Manager.Register] or package ptyterm.
func ScopedID(workspace, id string) string {
	return url.PathEscape(workspace) + "/" + id
}

// managerID maps the {sid} of a request of scope sc to its Manager ID.
func (sc scope) managerID(sid string) string {
	if !sc.scoped {
		return sid
	}
	return ScopedID(sc.ws, sid)
}

// clientID maps a Manager ID back to the ID the caller of scope sc knows,
// and reports false for an ID outside sc.
func (sc scope) clientID(id string) (string, bool) {
	if !sc.scoped {
		return id, true
	}
	return strings.CutPrefix(id, url.PathEscape(sc.ws)+"/")
}

// newID returns 128 random bits in URL-safe base64, as package processes
// makes its IDs.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails on Linux
	return base64.RawURLEncoding.EncodeToString(b[:])
}
