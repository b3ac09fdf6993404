// Package fakeclock is an example of testing your own code that sits on a
// processes.Manager with a mock clock: sessions are evicted exactly when the
// test says, with no sleeps. Jobs is the code under test; jobs_test.go is
// the part to copy.
package fakeclock

import (
	"sync"

	"github.com/sessionkit/sessionkit/processes"
)

// Jobs keeps the log of each job as a session in a Manager, so that a job
// that logs nothing for longer than the Manager's IdleTimeout is evicted by
// its sweep. It is safe for concurrent use. The zero Jobs has no Manager
// and is not usable: make one with New.
type Jobs struct {
	m  *processes.Manager
	mu sync.Mutex // serializes creating a job's session
}

// New returns Jobs whose logs live in m.
func New(m *processes.Manager) *Jobs {
	return &Jobs{m: m}
}

// Log appends line and a newline to the log of job id, starting the log if
// there is none (or it was evicted). It keeps the job from being idle.
func (j *Jobs) Log(id, line string) {
	for {
		j.mu.Lock()
		s, ok := j.m.Get(id)
		if !ok {
			s = &processes.Session{ID: id}
			j.m.Register(s)
		}
		j.mu.Unlock()
		s.Append("stdout", []byte(line+"\n"))
		// A sweep that evicted the job between Get and Append took the
		// line with it: log it again, in a new session. The sweep checks
		// a session's idleness again when it removes it from the table,
		// so one still there after Append has the line and is not idle.
		if cur, ok := j.m.Get(id); ok && cur == s {
			return
		}
	}
}

// Finish records the job's exit code. The job stays one more idle window
// for whoever reads its log last, then is evicted. For a job already
// evicted (or evicted as Finish runs) there is no log left, and Finish
// does nothing.
func (j *Jobs) Finish(id string, code int) {
	if s, ok := j.m.Get(id); ok {
		s.SetExit(code)
	}
}

// Tail returns the retained log of job id, and false once it was evicted
// or never existed. Reading does not keep a job alive.
func (j *Jobs) Tail(id string) (string, bool) {
	s, ok := j.m.Get(id)
	if !ok {
		return "", false
	}
	chunks, _, _ := s.OutputSince(0)
	var b []byte
	for _, c := range chunks {
		b = append(b, c.Data...)
	}
	return string(b), true
}
