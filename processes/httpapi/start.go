package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// started is the body of a 201 answer to POST /.
type started struct {
	ID          string `json:"id"`
	WorkspaceID string `json:"workspace_id"`
}

func (h *handler) serveStart(w http.ResponseWriter, r *http.Request) {
	if h.start == nil {
		w.Header().Set("Allow", "")
		writeError(w, http.StatusMethodNotAllowed, CodeStartDisabled, "httpapi: starting sessions is disabled")
		return
	}
	sc, ok := h.workspace(w, r)
	if !ok {
		return
	}
	// The session outlives the request: its context carries the request's
	// values but is never canceled, so that a command made with
	// exec.CommandContext(r.Context(), ...) is not killed once the request
	// is answered.
	r = withScope(r, sc)
	r = r.WithContext(context.WithoutCancel(r.Context()))
	s, err := h.start(r, h.m)
	if err != nil {
		if ae := startFailure(err); ae != nil {
			h.log.Debug("httpapi: start failed", "workspace", sc.ws, "err", err)
			err = ae
		}
		h.fail(w, r, err)
		return
	}
	if s == nil {
		h.fail(w, r, errors.New("httpapi: Options.Start returned neither a session nor an error"))
		return
	}
	if cur, ok := h.m.Get(s.ID); !ok || cur != s {
		h.fail(w, r, errors.New("httpapi: Options.Start returned a session not registered in the Manager: "+strconv.Quote(s.ID)))
		return
	}
	if s.WorkspaceID != sc.ws {
		h.m.Remove(s)
		h.fail(w, r, errors.New("httpapi: Options.Start returned a session of workspace "+
			strconv.Quote(s.WorkspaceID)+" for workspace "+strconv.Quote(sc.ws)+"; forgot it"))
		return
	}
	id, ok := sc.clientID(s.ID)
	if !ok {
		h.m.Remove(s)
		h.fail(w, r, errors.New("httpapi: Options.Start returned a session whose ID "+strconv.Quote(s.ID)+
			" is not in the scope of workspace "+strconv.Quote(sc.ws)+" (name it with httpapi.SessionID); forgot it"))
		return
	}
	h.log.Info("httpapi: session started", "id", id, "workspace", sc.ws)
	writeJSON(w, http.StatusCreated, started{ID: id, WorkspaceID: s.WorkspaceID})
}

// maxProgramInMessage bounds the program name quoted in a message.
const maxProgramInMessage = 128

// cause is what a start failure says for one cause of os/exec's errors.
type cause struct {
	err  error
	text string
}

// lookupReasons are the causes of an *exec.Error (the program was looked
// up in PATH, or checked, before any fork) that are the caller's input.
var lookupReasons = []cause{
	{exec.ErrNotFound, "executable file not found in PATH"},
	{exec.ErrDot, "found only relative to the current directory"},
	{fs.ErrPermission, "permission denied"},
	{fs.ErrNotExist, "no such file or directory"},
}

// execReasons are the causes of a fork/exec *fs.PathError (execve(2)
// failed) that are the caller's input.
var execReasons = []cause{
	{fs.ErrNotExist, "no such file or directory"},
	{fs.ErrPermission, "permission denied"},
	{syscall.ENOEXEC, "not an executable program"},
	{syscall.ENOTDIR, "a component of its path is not a directory"},
	{syscall.ENAMETOOLONG, "file name too long"},
	{syscall.ELOOP, "too many levels of symbolic links"},
	{syscall.E2BIG, "argument list too long"},
}

// callerReason returns the text of the first of reasons that err is, and
// "" when it is none of them.
func callerReason(err error, reasons []cause) string {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.text
		}
	}
	return ""
}

// startFailure returns the 422 answer for an error of os/exec that says
// that the program a Start function tried to run cannot be: no program
// named, not found in PATH, found only relative to the current directory,
// missing, not executable, not a program, a path too long or looping, or
// arguments too long. It names the program by its base name, so that no
// directory of the server shows, and returns nil for any other error, such
// as a failure of the system (no memory, too many processes) or a missing
// working directory (the Start function's choice), which stays a 500.
func startFailure(err error) *APIError {
	var (
		ee     *exec.Error
		pe     *fs.PathError
		name   string
		reason string
	)
	switch {
	case errors.As(err, &ee):
		name, reason = ee.Name, callerReason(ee.Err, lookupReasons)
	case errors.As(err, &pe) && pe.Op == "fork/exec":
		name, reason = pe.Path, callerReason(pe.Err, execReasons)
	case strings.HasSuffix(err.Error(), "exec: no command"):
		// os/exec's error for an empty program name has no type.
		reason = "no program named"
	}
	if reason == "" {
		return nil
	}
	if name != "" {
		name = filepath.Base(name)
	}
	if len(name) > maxProgramInMessage {
		name = name[:maxProgramInMessage] + "..."
	}
	return &APIError{
		Status:  http.StatusUnprocessableEntity,
		Code:    CodeStartFailed,
		Message: fmt.Sprintf("%s: %s: %s", ErrStartFailed, strconv.Quote(name), reason),
	}
}
