package activity

import (
	"context"
	"errors"
	"time"
)

var (
	// ErrNotFound is returned, possibly wrapped, for a session the Store does
	// not hold.
	ErrNotFound = errors.New("activity: session not found")
	// ErrConflict is returned, possibly wrapped, by Store.Update when the
	// session's Version is stale: someone else updated it since it was read.
	ErrConflict = errors.New("activity: version conflict")
)

// Session is what a [Store] keeps about one session. It is a plain value; the
// zero Session is a session with no name, no state and no idle timeout, which
// is never idle.
type Session struct {
	// Namespace and Name identify the session in its Store.
	Namespace, Name string
	// State is [StateRunning], [StateHibernated], or any state the caller
	// uses; only running sessions are hibernated.
	State string
	// IdleTimeout is how long the session may go without activity before it
	// is idle. Zero inherits the Tracker's default ([WithIdleTimeout]; none:
	// never idle), and [Status] alone, which has no default, treats it as
	// never idle; a negative value, such as [NeverIdle], is never idle.
	IdleTimeout time.Duration
	// LastActivity is the time of the last recorded activity; nil means none
	// was recorded yet, and idleness is measured from CreatedAt.
	LastActivity *time.Time
	// CreatedAt is when the session was created.
	CreatedAt time.Time
	// Version is the compare-and-set token, kept by the Store: pass back the
	// Version you read, 0 to create.
	Version int64
}

// Store keeps sessions by namespace and name. Implementations must be safe for
// concurrent use and keep the promises listed under "Backing the Store with a
// real system" in the package documentation.
type Store interface {
	// Get returns a copy of the session, or an error wrapping ErrNotFound.
	Get(ctx context.Context, namespace, name string) (Session, error)
	// List returns copies of the sessions of the namespace.
	List(ctx context.Context, namespace string) ([]Session, error)
	// Update stores s if s.Version matches the stored one and returns it with
	// the next Version; an absent session with Version 0 is created. It
	// returns an error wrapping ErrConflict on a stale Version, and one
	// wrapping ErrNotFound for an absent session with a Version other than 0.
	Update(ctx context.Context, s Session) (Session, error)
}

// clone returns a copy of s that shares no memory with it.
func clone(s Session) Session {
	if s.LastActivity != nil {
		t := *s.LastActivity
		s.LastActivity = &t
	}
	return s
}
