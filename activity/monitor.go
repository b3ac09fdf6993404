package activity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sessionkit/sessionkit/sweep"
)

// HibernateIdle is one pass of the idle monitor: it lists the namespace and
// calls [Tracker.HibernateIdleSession] for every session whose status at the
// Tracker's clock time says ShouldHibernate, so each is re-checked on a fresh
// copy before it is hibernated. It returns the names of the sessions it
// hibernated, in the order the Store lists them.
//
// With write-behind, the newer of the stored and the pending stamp decides.
// A session that changed between the listing and its re-check (now active,
// no longer running, or gone) is skipped silently. Other failures do not stop
// the pass: it returns the errors joined, each wrapped with its session. A
// session hibernated whose event was not published is both in the names and
// in the error (see [ErrPublish]). If listing fails it returns nil and the
// Store's error wrapped; if ctx ends it stops early and the error includes
// ctx.Err().
func (t *Tracker) HibernateIdle(ctx context.Context, namespace string) ([]string, error) {
	names, errs := t.hibernateIdle(ctx, namespace)
	return names, errors.Join(errs...)
}

func (t *Tracker) hibernateIdle(ctx context.Context, namespace string) ([]string, []error) {
	sessions, err := t.store.List(ctx, namespace)
	if err != nil {
		return nil, []error{fmt.Errorf("activity: list %q: %w", namespace, err)}
	}
	now := t.clock.Now()
	var names []string
	var errs []error
	for _, s := range sessions {
		if !t.status(t.withPending(s), now).ShouldHibernate {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		err := t.HibernateIdleSession(ctx, namespace, s.Name)
		switch {
		case err == nil:
			names = append(names, s.Name)
		case errors.Is(err, ErrPublish):
			names = append(names, s.Name)
			errs = append(errs, err)
		case errors.Is(err, ErrNotIdle), errors.Is(err, ErrNotRunning), errors.Is(err, ErrNotFound):
			// Changed since the listing: the re-check did its job.
		default:
			errs = append(errs, err)
		}
	}
	return names, errs
}

// StartIdleMonitor runs [Tracker.HibernateIdle] on the namespace every
// interval of the Tracker's clock, the first time one interval after it is
// called, and blocks until ctx is done. Each hibernation publishes one event
// as HibernateIdleSession does. Errors of the Store and the Publisher are
// logged to the Tracker's logger and the monitor carries on at the next tick;
// those that only say that ctx ended are not logged, except an event that
// was not published, since no later pass publishes it.
//
// It returns once ctx is done and the pass in progress, if any, has finished
// (that pass sees the ended ctx); no goroutine of it is left. It panics if
// interval is not positive.
func (t *Tracker) StartIdleMonitor(ctx context.Context, namespace string, interval time.Duration) {
	if interval <= 0 {
		panic("activity: non-positive interval for StartIdleMonitor")
	}
	sw := sweep.Start(t.clock, interval, func(time.Time) { t.monitorTick(ctx, namespace) })
	t.log.Debug("activity: idle monitor started", "namespace", namespace, "interval", interval)
	<-ctx.Done()
	sw.Stop()
	t.log.Debug("activity: idle monitor stopped", "namespace", namespace)
}

func (t *Tracker) monitorTick(ctx context.Context, namespace string) {
	names, errs := t.hibernateIdle(ctx, namespace)
	for _, name := range names {
		t.log.Info("activity: hibernated idle session", "namespace", namespace, "name", name)
	}
	for _, err := range errs {
		// An error caused by the monitor being stopped is not worth
		// reporting, except an event lost that way: its session stays
		// hibernated, and no later pass publishes it.
		if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) && !errors.Is(err, ErrPublish) {
			continue
		}
		t.log.Error("activity: idle monitor", "namespace", namespace, "err", err)
	}
	t.log.Debug("activity: idle monitor tick", "namespace", namespace, "hibernated", len(names), "errors", len(errs))
}
