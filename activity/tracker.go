package activity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/benbjohnson/clock"
)

var (
	// ErrNotIdle is returned, wrapped, by [Tracker.HibernateIdleSession] for a
	// running session whose fresh status says it should not be hibernated
	// yet.
	ErrNotIdle = errors.New("activity: session not idle")
	// ErrNotRunning is returned, wrapped, by [Tracker.HibernateIdleSession]
	// for a session whose state is not [StateRunning], which is never
	// hibernated.
	ErrNotRunning = errors.New("activity: session not running")
	// ErrPublish is returned, wrapped together with the Publisher's error, by
	// [Tracker.HibernateIdleSession] when the session was hibernated but its
	// event could not be published.
	ErrPublish = errors.New("activity: event not published")
)

// maxAttempts bounds the compare-and-set retries of one call. Every conflict
// means another writer's update landed, so a correct Store under any realistic
// contention never comes near it; it only stops a Store that reports
// conflicts forever from spinning a caller with no deadline.
const maxAttempts = 1000

// Tracker records activity and hibernates idle sessions of a [Store]. Create
// one with [NewTracker]; the zero Tracker is not usable. A Tracker is safe for
// concurrent use and holds no goroutine: only [Tracker.StartIdleMonitor] runs
// one, for as long as it blocks.
type Tracker struct {
	store Store
	clock clock.Clock
	grace time.Duration
	idle  time.Duration // WithIdleTimeout
	pub   Publisher
	log   *slog.Logger
}

// NewTracker returns a Tracker over store, configured by opts. It panics with
// "activity: nil Store" if store is nil.
func NewTracker(store Store, opts ...Option) *Tracker {
	if store == nil {
		panic("activity: nil Store")
	}
	t := &Tracker{
		store: store,
		clock: clock.New(),
		grace: DefaultGracePeriod,
		log:   discard(),
	}
	for _, o := range opts {
		if o != nil {
			o(t)
		}
	}
	return t
}

// UpdateSessionActivity records activity on a session now: it sets the
// session's LastActivity to the Tracker's clock time with compare-and-set,
// reading the session again and reapplying the change when another writer
// updated it in between. It does not change the session's State: activity on
// a hibernated session is recorded but does not wake it.
//
// It returns an error wrapping [ErrNotFound] for an unknown session, wrapping
// ctx.Err() when ctx ends while it retries, wrapping [ErrConflict] if the Store
// keeps reporting conflicts, and wrapping any other error of the Store.
func (t *Tracker) UpdateSessionActivity(ctx context.Context, namespace, name string) error {
	err := t.retry(ctx, func() error {
		s, err := t.store.Get(ctx, namespace, name)
		if err != nil {
			return err
		}
		now := t.clock.Now()
		s.LastActivity = &now
		_, err = t.store.Update(ctx, s)
		return err
	})
	if err != nil {
		return fmt.Errorf("activity: update activity of %s/%s: %w", namespace, name, err)
	}
	return nil
}

// GetActivityStatus returns the status of s at the Tracker's clock time with
// its grace period and default idle timeout: [Status](*s, grace, now), with
// a zero IdleTimeout replaced by the default. A nil s gives a nil status.
func (t *Tracker) GetActivityStatus(s *Session) *ActivityStatus {
	if s == nil {
		return nil
	}
	st := t.status(*s, t.clock.Now())
	return &st
}

// status is Status with the Tracker's grace and default idle timeout.
func (t *Tracker) status(s Session, now time.Time) ActivityStatus {
	if s.IdleTimeout == 0 {
		s.IdleTimeout = t.idle
	}
	return Status(s, t.grace, now)
}

// CheckIdleSessions returns copies of the sessions of the namespace that are
// in state [StateRunning] and idle at the Tracker's clock time, in the order
// the Store lists them, or nil when there are none. Idle is not yet due for
// hibernation: see [ActivityStatus.ShouldHibernate]. It changes nothing. It
// returns an error wrapping the Store's if listing fails.
func (t *Tracker) CheckIdleSessions(ctx context.Context, namespace string) ([]*Session, error) {
	sessions, err := t.store.List(ctx, namespace)
	if err != nil {
		return nil, fmt.Errorf("activity: list %q: %w", namespace, err)
	}
	now := t.clock.Now()
	var idle []*Session
	for _, s := range sessions {
		if s.State == StateRunning && t.status(s, now).IsIdle {
			c := clone(s)
			idle = append(idle, &c)
		}
	}
	return idle, nil
}

// HibernateIdleSession sets a session's state to [StateHibernated] if, on a
// fresh copy from the Store, it is running and its status at the Tracker's
// clock time says ShouldHibernate. The change is stored with compare-and-set;
// on a conflict it reads the session again and checks again, so a session
// that became active in the meantime is left running. Once the session is
// hibernated it publishes an [Event] of type [EventHibernated] to the
// Tracker's Publisher, if any.
//
// It returns nil when the session was hibernated and its event published (or
// there is no Publisher). Otherwise it returns an error wrapping:
//   - [ErrNotFound] for an unknown session;
//   - [ErrNotRunning] for a session whose state is not running, left as is;
//   - [ErrNotIdle] for a running session not due for hibernation, left running;
//   - [ErrPublish] and the Publisher's error when the session was hibernated
//     (that stands) but the event was not delivered;
//   - ctx.Err() when ctx ends while it retries, [ErrConflict] if the Store
//     keeps reporting conflicts, or any other error of the Store, in which
//     cases nothing was changed.
func (t *Tracker) HibernateIdleSession(ctx context.Context, namespace, name string) error {
	var ev Event
	err := t.retry(ctx, func() error {
		s, err := t.store.Get(ctx, namespace, name)
		if err != nil {
			return err
		}
		if s.State != StateRunning {
			return fmt.Errorf("%w (state %q)", ErrNotRunning, s.State)
		}
		now := t.clock.Now()
		st := t.status(s, now)
		if !st.ShouldHibernate {
			return ErrNotIdle
		}
		s.State = StateHibernated
		if _, err := t.store.Update(ctx, s); err != nil {
			return err
		}
		ev = Event{
			Type:         EventHibernated,
			Namespace:    namespace,
			Name:         name,
			IdleDuration: st.IdleDuration,
			At:           now,
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("activity: hibernate %s/%s: %w", namespace, name, err)
	}
	if t.pub == nil {
		return nil
	}
	if err := t.pub.Publish(ctx, ev); err != nil {
		return fmt.Errorf("activity: hibernate %s/%s: %w: %w", namespace, name, ErrPublish, err)
	}
	return nil
}

// retry calls fn until it returns something other than a conflict, ctx ends,
// or maxAttempts calls were made. It returns fn's last error, or ctx.Err().
func (t *Tracker) retry(ctx context.Context, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if !errors.Is(err, ErrConflict) || attempt == maxAttempts {
			return err
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
	}
}
