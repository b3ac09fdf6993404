package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"time"

	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/ptyterm"
)

// StartRequest is the JSON body of POST / that a [Starter] reads:
//
//	{"argv": ["bash", "-l"], "tty": true, "rows": 24, "cols": 80, "id": "build"}
type StartRequest struct {
	// ID is the session's ID as the client chooses it (scoped to its
	// workspace, see [SessionID]); empty means a random one. It must be
	// one path segment of the session's URLs: see [CheckClientID].
	ID string `json:"id,omitempty"`
	// Argv is the program and its arguments, as exec.Command takes them.
	Argv []string `json:"argv"`
	// TTY runs the program under a pseudo-terminal (package ptyterm)
	// rather than on pipes.
	TTY bool `json:"tty,omitempty"`
	// Rows and Cols are a terminal's size; zero means 24 × 80.
	Rows uint16 `json:"rows,omitempty"`
	Cols uint16 `json:"cols,omitempty"`
}

// DefaultMaxStartBytes is the largest body a [Starter] reads when its
// MaxBodyBytes is not positive: 64 KiB.
const DefaultMaxStartBytes = 64 << 10

// Starter is a ready [Options].Start for programs on pipes and terminals:
// it reads a [StartRequest], asks Allow whether it may run, and starts it
// with [processes.Manager.Start] or, for a terminal, [ptyterm.Start], in
// the caller's workspace under its scoped ID. The embedder still decides
// what runs: Allow sees every request first, and may rewrite it (replace
// argv with a fixed shell, clamp the size). The zero Starter refuses every
// request. A Starter is safe for concurrent use; set its fields before
// the handler serves.
//
// Its errors answer as the handler maps them: a body that is not a
// StartRequest 400, an empty argv or a terminal size above 1,000 400,
// Allow's refusal 403 "forbidden" unless Allow returns an *APIError of its
// own, a program that cannot start 422 "start_failed", and the errors of
// processes.Manager.Start and ptyterm.Start, but for their
// processes.ErrInvalid: the request was checked first, so that can only
// be the Starter's own command or options (a WarnBefore not shorter than
// the idle timeout), and answers 500, logged with its text.
type Starter struct {
	// Allow decides whether req may run for r (its workspace is
	// Workspace(r.Context())), and may change it. It returns nil to allow;
	// an error refuses, with 403 unless it is or wraps an *APIError. Nil
	// refuses every request.
	Allow func(r *http.Request, req *StartRequest) error
	// Command makes the command of an allowed request. Nil means
	// exec.Command(req.Argv[0], req.Argv[1:]...), which inherits the
	// server's environment and working directory.
	Command func(r *http.Request, req *StartRequest) (*exec.Cmd, error)
	// IdleTimeout is each session's idle timeout: zero inherits the
	// Manager's for pipes and ptyterm.DefaultIdleTimeout for terminals;
	// negative, such as processes.NeverIdle, never idles out.
	IdleTimeout time.Duration
	// WarnBefore is how long before a terminal's idle close it posts its
	// idle warning, which event streams and attachments deliver; zero
	// means none.
	WarnBefore time.Duration
	// MaxBodyBytes bounds the body; not positive means
	// DefaultMaxStartBytes.
	MaxBodyBytes int64
}

// errForbidden answers a start that Allow refused.
var errForbidden = errors.New("httpapi: this start is not allowed")

// Start is the Options.Start function: see [Starter].
func (st *Starter) Start(r *http.Request, m *processes.Manager) (*processes.Session, error) {
	limit := st.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxStartBytes
	}
	var req StartRequest
	if err := DecodeJSON(r, limit, &req); err != nil {
		return nil, err
	}
	if st.Allow == nil {
		return nil, forbidden(errForbidden)
	}
	if err := st.Allow(r, &req); err != nil {
		return nil, forbidden(err)
	}
	switch {
	case CheckClientID(req.ID) != nil:
		return nil, CheckClientID(req.ID)
	case len(req.Argv) == 0 || req.Argv[0] == "":
		return nil, &APIError{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: `httpapi: want {"argv": ["program", "arg", ...]}`}
	case req.Rows > MaxTerminalSize || req.Cols > MaxTerminalSize:
		return nil, &APIError{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: "httpapi: rows and cols must be at most 1000 (MaxTerminalSize)"}
	}
	var cmd *exec.Cmd
	if st.Command != nil {
		var err error
		if cmd, err = st.Command(r, &req); err != nil {
			return nil, err
		}
	} else {
		cmd = exec.Command(req.Argv[0], req.Argv[1:]...)
	}
	id, ws := SessionID(r, req.ID), Workspace(r.Context())
	if !req.TTY {
		s, err := m.Start(cmd, processes.StartOptions{ID: id, WorkspaceID: ws, IdleTimeout: st.IdleTimeout})
		return s, notTheClients(err)
	}
	t, err := ptyterm.Start(m, cmd, ptyterm.Options{
		ID: id, WorkspaceID: ws,
		Rows: req.Rows, Cols: req.Cols,
		IdleTimeout: st.IdleTimeout, WarnBefore: st.WarnBefore,
	})
	if err != nil {
		return nil, notTheClients(err)
	}
	return t.Session(), nil
}

// notTheClients turns the processes.ErrInvalid of a start into an error
// that answers 500 (and is logged) rather than 400: the request was
// checked before, so what the start refused is the Starter's command or
// options, such as a WarnBefore not shorter than the idle timeout.
func notTheClients(err error) error {
	if errors.Is(err, processes.ErrInvalid) {
		return fmt.Errorf("httpapi: Starter: its command or options: %v", err)
	}
	return err
}

// forbidden turns a refusal of Allow into its answer: an *APIError as it
// is, anything else 403 with its text.
func forbidden(err error) error {
	if ae := (*APIError)(nil); errors.As(err, &ae) {
		return err
	}
	return &APIError{Status: http.StatusForbidden, Code: StatusCode(http.StatusForbidden), Message: err.Error()}
}
