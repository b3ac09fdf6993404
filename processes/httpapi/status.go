package httpapi

import (
	"cmp"
	"context"
	"net/http"
	"os"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/sessionkit/sessionkit/processes"
)

// SessionStatus is a session as GET {sid} and GET / describe it, and as
// [Client.Status] and [Client.List] return it. Times are on the Manager's
// clock and travel as RFC 3339 in UTC; a nil pointer is JSON null. It is a
// plain value, a snapshot taken when the answer was made; the zero
// SessionStatus describes no session.
type SessionStatus struct {
	// ID is the session's ID as the caller knows it: without the
	// workspace scope that Options.Authorize adds (see [SessionID]).
	ID string `json:"id"`
	// WorkspaceID is the session's workspace.
	WorkspaceID string `json:"workspace_id"`
	// InvocationID identifies this incarnation of the session ID, as in
	// polls ([processes.Session.InvocationID]).
	InvocationID string `json:"invocation_id"`
	// Alive is false once the process's exit (or SetExit) is recorded.
	Alive bool `json:"alive"`
	// Exit is the exit code as a poll reports it, nil while alive.
	Exit *int `json:"exit"`
	// ExitStatus says how the process ended, nil while alive.
	ExitStatus *ExitStatus `json:"exit_status"`
	// Started is when the session was started or registered.
	Started time.Time `json:"started"`
	// Exited is when the exit was recorded, nil while alive.
	Exited *time.Time `json:"exited"`
	// LastActivity is when the session was last active as its activity
	// policy counts it ([processes.Session.LastActivity]), nil if never.
	LastActivity *time.Time `json:"last_activity"`
	// IdleTimeoutSeconds is the session's effective idle timeout in
	// seconds, its own or its Manager's; nil when it never idles out.
	IdleTimeoutSeconds *float64 `json:"idle_timeout_seconds"`
	// SecondsLeft is how many seconds remain, at the time of the answer,
	// until the Manager's sweep may close the session as idle: 0 when that
	// is due, the whole timeout while a connected client holds a session
	// that counts connections; nil when it never idles out.
	SecondsLeft *float64 `json:"seconds_left"`
	// Paused reports a session paused by Pause and not resumed.
	Paused bool `json:"paused"`
	// TTY reports a session on a terminal (package ptyterm) rather than on
	// pipes; Rows and Cols are then its size, as its program sees it (0
	// once the terminal is closed, and for pipes).
	TTY bool `json:"tty"`
	// WarningSecondsLeft is set while an idle warning stands (see
	// processes.Session.WarnIdle; terminals post one WarnBefore ahead of
	// their idle close): the seconds left until the close it announces.
	WarningSecondsLeft *float64 `json:"warning_seconds_left,omitempty"`
	Rows               uint16   `json:"rows,omitempty"`
	Cols               uint16   `json:"cols,omitempty"`
	// CloseReason is the code of the reason the session was closed
	// ("idle_timeout", "forgotten", "replaced", "reclaimed", "shut_down"),
	// nil while it is open. A closed session is no longer listed nor
	// found, so an answer shows one only when it closed meanwhile.
	CloseReason *string `json:"close_reason"`
}

// ExitStatus is how a session's process ended, as [processes.ExitStatus]
// tells it, in [SessionStatus]. It is a plain value; the zero ExitStatus
// is a process that exited with status 0.
type ExitStatus struct {
	// Code is the status passed to exit(2), or -1 when the process was
	// killed by a signal or the status was lost.
	Code int `json:"code"`
	// Signal is the name of the signal that killed the process, such as
	// "SIGKILL", or "SIG" and its number for one without a name here; ""
	// when it exited.
	Signal string `json:"signal"`
	// CoreDump reports that the process dumped core as it was killed.
	CoreDump bool `json:"core_dump"`
	// Lost reports that the status could not be collected.
	Lost bool `json:"lost"`
	// OOMKills counts the session's processes that the kernel's OOM killer
	// killed, 0 where unknown.
	OOMKills int64 `json:"oom_kills"`
}

// sessionList is the body of GET /.
type sessionList struct {
	Sessions []SessionStatus `json:"sessions"`
}

// signalName names sig as the signal route spells it, with "SIG".
func signalName(sig syscall.Signal) string {
	if sig == 0 {
		return ""
	}
	for name, s := range signals {
		if s == os.Signal(sig) {
			return "SIG" + name
		}
	}
	return "SIG" + strconv.Itoa(int(sig))
}

// status describes s, known to the caller as id, at now.
func status(s *processes.Session, id string, now time.Time) SessionStatus {
	st := SessionStatus{
		ID:           id,
		WorkspaceID:  s.WorkspaceID,
		InvocationID: s.InvocationID(),
		Alive:        true,
		Started:      s.CreatedAt().UTC(),
		Paused:       s.Paused(),
		TTY:          s.TTY(),
	}
	if st.TTY {
		st.Rows, st.Cols, _ = s.TerminalSize()
	}
	if at, _, ok := s.IdleWarning(); ok {
		left := max(0, at.Sub(now).Seconds())
		st.WarningSecondsLeft = &left
	}
	if es, ok := s.ExitStatus(); ok {
		st.Alive = false
		st.Exit = s.Page(maxSeq, processes.PageOptions{}).Exit
		st.ExitStatus = &ExitStatus{
			Code:     es.Code,
			Signal:   signalName(es.Signal),
			CoreDump: es.CoreDump,
			Lost:     es.Lost,
			OOMKills: es.OOMKills,
		}
		at := es.At.UTC()
		st.Exited = &at
	}
	if la := s.LastActivity(); !la.IsZero() {
		la = la.UTC()
		st.LastActivity = &la
	}
	if as := s.ActivityStatusAt(now, 0); as.IdleThreshold > 0 {
		timeout := as.IdleThreshold.Seconds()
		left := max(0, as.IdleThreshold-as.IdleDuration).Seconds()
		st.IdleTimeoutSeconds, st.SecondsLeft = &timeout, &left
	}
	if err := s.CloseReason(); err != nil {
		_, code, _ := classify(err)
		st.CloseReason = &code
	}
	return st
}

func (h *handler) serveStatus(w http.ResponseWriter, r *http.Request) {
	s, ok := h.session(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, status(s, r.PathValue("sid"), h.m.Clock().Now()))
}

func (h *handler) serveList(w http.ResponseWriter, r *http.Request) {
	sc, ok := h.workspace(w, r)
	if !ok {
		return
	}
	now := h.m.Clock().Now()
	list := sessionList{Sessions: []SessionStatus{}}
	for s := range h.m.All() {
		if s.WorkspaceID != sc.ws {
			continue
		}
		id, ok := sc.clientID(s.ID)
		if !ok {
			continue // registered outside the workspace's scope: not served
		}
		list.Sessions = append(list.Sessions, status(s, id, now))
	}
	slices.SortFunc(list.Sessions, func(a, b SessionStatus) int {
		return cmp.Or(a.Started.Compare(b.Started), cmp.Compare(a.ID, b.ID))
	})
	writeJSON(w, http.StatusOK, list)
}

// Status returns the status of the session (GET {sid}). An unknown
// session, or one of another workspace, returns an error matching
// processes.ErrNotFound.
func (c *Client) Status(ctx context.Context, sid string) (SessionStatus, error) {
	var st SessionStatus
	err := c.doSession(ctx, http.MethodGet, sid, "", nil, nil, "", &st)
	return st, err
}

// List returns the status of every session of the caller's workspace (GET
// /), oldest first, in a new slice; an empty workspace returns an empty,
// non-nil slice.
func (c *Client) List(ctx context.Context) ([]SessionStatus, error) {
	var l sessionList
	if err := c.do(ctx, http.MethodGet, "/", nil, nil, "", &l); err != nil {
		return nil, err
	}
	if l.Sessions == nil {
		l.Sessions = []SessionStatus{}
	}
	return l.Sessions, nil
}
