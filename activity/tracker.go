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
// concurrent use. Without write-behind it holds no goroutine: only
// [Tracker.StartIdleMonitor] runs one, for as long as it blocks. With
// [WithWriteBehind] it owns one that flushes, until [Tracker.Close].
type Tracker struct {
	store       Store
	clock       clock.Clock
	grace       time.Duration
	idle        time.Duration // WithIdleTimeout
	pub         Publisher
	log         *slog.Logger
	writeBehind time.Duration // WithWriteBehind
	wb          *batcher      // nil without write-behind
}

// NewTracker returns a Tracker over store, configured by opts. It panics with
// "activity: nil Store" if store is nil. With [WithWriteBehind] the Tracker
// starts its flushing goroutine here: call [Tracker.Close] when done.
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
	if t.writeBehind > 0 {
		t.startWriteBehind()
	}
	return t
}

// Store returns the Store the Tracker was made with.
func (t *Tracker) Store() Store { return t.store }

// UpdateSessionActivity records activity on a session now, at the Tracker's
// clock time: it is [Tracker.RecordActivity] with that time. It does not
// change the session's State: activity on a hibernated session is recorded
// but does not wake it.
func (t *Tracker) UpdateSessionActivity(ctx context.Context, namespace, name string) error {
	return t.RecordActivity(ctx, namespace, name, t.clock.Now())
}

// RecordActivity records activity on a session at a given time, such as the
// time a host last saw output. A stamp never moves activity back: if the
// session's LastActivity is already later than at, it is left as is.
//
// Without write-behind it writes at once: it sets LastActivity with
// compare-and-set, reading the session again and reapplying the change when
// another writer updated it in between, and returns an error wrapping
// [ErrNotFound] for an unknown session, wrapping ctx.Err() when ctx ends
// while it retries, wrapping [ErrConflict] if the Store keeps reporting
// conflicts, and wrapping any other error of the Store.
//
// With [WithWriteBehind] it only keeps the stamp in memory, coalesced with
// the session's others, for the next flush, and returns nil at once, or an
// error wrapping [ErrClosed] after [Tracker.Close]. An unknown session is
// then not reported: its stamp is dropped by the flush.
func (t *Tracker) RecordActivity(ctx context.Context, namespace, name string, at time.Time) error {
	at = at.Round(0) // wall clock only: stamps are compared with stored times
	var err error
	if t.wb != nil {
		err = t.wb.record(key{namespace, name}, at)
	} else {
		err = t.recordThrough(ctx, namespace, name, at)
	}
	if err != nil {
		return fmt.Errorf("activity: update activity of %s/%s: %w", namespace, name, err)
	}
	return nil
}

// recordThrough writes a stamp to the Store at once, forward only.
func (t *Tracker) recordThrough(ctx context.Context, namespace, name string, at time.Time) error {
	return t.retry(ctx, func() error {
		s, err := t.store.Get(ctx, namespace, name)
		if err != nil {
			return err
		}
		if s.LastActivity != nil && s.LastActivity.After(at) {
			return nil
		}
		s.LastActivity = &at
		_, err = t.store.Update(ctx, s)
		return err
	})
}

// withPending returns s with the newer of its LastActivity and the stamp
// pending for it in the write-behind, if any.
func (t *Tracker) withPending(s Session) Session {
	if t.wb == nil {
		return s
	}
	if p, ok := t.wb.latest(key{s.Namespace, s.Name}); ok && (s.LastActivity == nil || p.After(*s.LastActivity)) {
		s.LastActivity = &p
	}
	return s
}

// GetActivityStatus returns the status of s at the Tracker's clock time with
// its grace period and default idle timeout: [Status](*s, grace, now), with
// a zero IdleTimeout replaced by the default. With write-behind, a stamp
// pending for the session that is newer than s.LastActivity counts instead,
// and the status's LastActivity points to a copy of it. A nil s gives a nil
// status.
func (t *Tracker) GetActivityStatus(s *Session) *ActivityStatus {
	if s == nil {
		return nil
	}
	st := t.status(t.withPending(*s), t.clock.Now())
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
// hibernation: see [ActivityStatus.ShouldHibernate]. With write-behind, the
// newer of the stored and the pending stamp decides, and the copies carry
// it. It changes nothing. It returns an error wrapping the Store's if
// listing fails.
func (t *Tracker) CheckIdleSessions(ctx context.Context, namespace string) ([]*Session, error) {
	sessions, err := t.store.List(ctx, namespace)
	if err != nil {
		return nil, fmt.Errorf("activity: list %q: %w", namespace, err)
	}
	now := t.clock.Now()
	var idle []*Session
	for _, s := range sessions {
		s = t.withPending(s)
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
// Tracker's Publisher, if any. With write-behind, the newer of the stored and
// the pending stamp decides, and is what is stored with the new state.
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
//     cases nothing was changed, unless the error came from the Store's
//     Update itself: a Store over a network may have stored the change and
//     lost the answer (package pgstore when ctx ends during the statement or
//     the connection breaks), and the session is then hibernated with no
//     event published, as no later call publishes one.
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
		s = t.withPending(s)
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
