package processes

import (
	"time"

	"github.com/sessionkit/sessionkit/activity"
)

// State of a session as [Session.ActivityStatus] reports it to package
// activity, which hibernates only sessions in state activity.StateRunning.
const (
	StateRunning = activity.StateRunning // alive, or a session with no process that is open
	StateExited  = "exited"              // the process exited
	StateClosed  = "closed"              // forgotten, evicted, replaced or shut down
)

// ActivityStatus reports the session's idleness in the vocabulary of package
// activity, at the time of the session's clock (the Manager's once
// registered), with the given grace period before ShouldHibernate. It is
// ActivityStatusAt with that clock's now.
func (s *Session) ActivityStatus(grace time.Duration) activity.ActivityStatus {
	s.mu.Lock()
	now := s.now()
	s.mu.Unlock()
	return s.ActivityStatusAt(now, grace)
}

// ActivityStatusAt reports the session's idleness at now, as
// activity.Status computes it for the session's record: IdleTimeout is the
// session's own or its Manager's (0, never idle, when that is <= 0),
// LastActivity nil for a session never active nor registered, and the state
// running, exited or closed. It reads no clock.
//
// A session held by a connected client ([Session.Hold]) is active at now,
// unless its Manager culls connected sessions.
func (s *Session) ActivityStatusAt(now time.Time, grace time.Duration) activity.ActivityStatus {
	rec := s.activityRecord()
	if s.held() {
		rec.LastActivity = &now
	}
	return activity.Status(rec, grace, now)
}

// held reports whether a connected client keeps the session from idling.
func (s *Session) held() bool {
	if s.holds.Load() == 0 || !s.activity.has(ActivityConnected) {
		return false
	}
	s.mu.Lock()
	m := s.mgr
	s.mu.Unlock()
	return m == nil || !m.cull
}

// activityRecord describes the session as package activity sees one.
func (s *Session) activityRecord() activity.Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := activity.Session{
		Namespace: s.WorkspaceID,
		Name:      s.ID,
		State:     StateRunning,
		CreatedAt: s.createdAt,
	}
	switch {
	case s.reason != nil:
		rec.State = StateClosed
	case s.exited:
		rec.State = StateExited
	}
	timeout := s.idleTimeout
	if timeout == 0 && s.mgr != nil {
		timeout = s.mgr.IdleTimeout
	}
	rec.IdleTimeout = timeout
	if timeout <= 0 {
		rec.IdleTimeout = activity.NeverIdle
	}
	if s.stamped {
		last := s.lastLocked()
		rec.LastActivity = &last
	}
	return rec
}
