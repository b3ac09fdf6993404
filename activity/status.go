package activity

import "time"

// States a [Session] may be in. A Store may use other states too; the package
// only treats [StateRunning] specially, as the one state that can be
// hibernated.
const (
	StateRunning    = "running"
	StateHibernated = "hibernated"
)

// NeverIdle is an IdleTimeout that never idles. Every idle timeout of
// sessionkit means the same: zero inherits the enclosing default (here the
// Tracker's, [WithIdleTimeout]), a negative value never idles.
const NeverIdle time.Duration = -1

// DefaultGracePeriod is how long a [Tracker] waits past a session's
// IdleTimeout before hibernating it, unless [WithGracePeriod] says otherwise.
const DefaultGracePeriod = 5 * time.Minute

// ActivityStatus is the verdict of [Status] on one session at one instant. It
// is a plain value; the zero ActivityStatus describes nothing in particular
// (not active, not idle).
type ActivityStatus struct {
	// IsActive is !IsIdle.
	IsActive bool
	// IsIdle reports IdleDuration > IdleThreshold > 0.
	IsIdle bool
	// LastActivity is the session's LastActivity pointer as recorded, shared
	// with the session: nil when no activity was ever recorded.
	LastActivity *time.Time
	// IdleDuration is the time since the last activity, or since creation
	// when there was none; never negative.
	IdleDuration time.Duration
	// IdleThreshold is the session's IdleTimeout.
	IdleThreshold time.Duration
	// ShouldHibernate reports a running session idle for longer than its
	// IdleTimeout plus the grace period.
	ShouldHibernate bool
}

// Status computes the activity status of s at now with the given grace period,
// following the rules in the package documentation. A negative grace counts as
// 0. It reads no clock and has no side effects.
func Status(s Session, grace time.Duration, now time.Time) ActivityStatus {
	if grace < 0 {
		grace = 0
	}
	since := s.CreatedAt
	if s.LastActivity != nil {
		since = *s.LastActivity
	}
	idle := now.Sub(since)
	if idle < 0 {
		idle = 0
	}
	st := ActivityStatus{
		LastActivity:  s.LastActivity,
		IdleDuration:  idle,
		IdleThreshold: s.IdleTimeout,
	}
	st.IsIdle = s.IdleTimeout > 0 && idle > s.IdleTimeout
	st.IsActive = !st.IsIdle
	// idle-IdleTimeout > grace rather than idle > IdleTimeout+grace: both
	// operands are non-negative here, so the subtraction cannot overflow
	// where the sum could for very long timeouts.
	st.ShouldHibernate = st.IsIdle && s.State == StateRunning && idle-s.IdleTimeout > grace
	return st
}
