package activitysync

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/sessionkit/sessionkit/activity"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/sweep"
)

// Options configure a [Bridge]. Sessions is required; the zero value of
// every other field has the meaning its comment gives.
type Options struct {
	// Sessions lists the sessions to report, at each Sync: a Manager's
	// All, or a filter of it. It is called with no lock held and must not
	// call the Bridge. Sessions listed twice are reported once; nil
	// sessions are skipped.
	Sessions iter.Seq[*processes.Session]
	// Namespace returns the namespace of a session's record. nil: the
	// session's WorkspaceID.
	Namespace func(*processes.Session) string
	// Clock drives Run. nil: the real clock. Pass the Manager's
	// (Manager.Clock) to drive both with one mock in tests.
	Clock clock.Clock
	// Logger receives Run's errors at Error and each pass at Debug. nil:
	// nothing is logged.
	Logger *slog.Logger
}

// Bridge reports sessions into the Store of an [activity.Tracker]. Make one
// with [New]; the zero Bridge is not usable. It is safe for concurrent use.
type Bridge struct {
	tr    *activity.Tracker
	store activity.Store
	opts  Options
	clk   clock.Clock
	log   *slog.Logger

	// turn holds a token during each Sync, so that Syncs run one at a
	// time and one waiting can stop when its context ends, which a mutex
	// could not. reported is the Sync's.
	turn     chan struct{}
	reported map[key]*reported
}

type key struct{ namespace, name string }

// reported is what the Bridge last wrote for a session.
type reported struct {
	s     *processes.Session
	state string
	idle  time.Duration
	last  time.Time // zero: none
}

// New returns a Bridge that reports the sessions opts.Sessions lists into
// tr's Store, with their activity through tr. Give tr activity.WithWriteBehind
// so that activity costs one write per session per interval. It panics if
// tr or opts.Sessions is nil.
func New(tr *activity.Tracker, opts Options) *Bridge {
	if tr == nil {
		panic("activitysync: nil Tracker")
	}
	if opts.Sessions == nil {
		panic("activitysync: nil Options.Sessions")
	}
	b := &Bridge{tr: tr, store: tr.Store(), opts: opts, clk: opts.Clock, log: opts.Logger, turn: make(chan struct{}, 1), reported: make(map[key]*reported)}
	if b.clk == nil {
		b.clk = clock.New()
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	return b
}

// record is what the Store should hold about s now.
func (b *Bridge) record(s *processes.Session) (activity.Session, key) {
	ns := s.WorkspaceID
	if b.opts.Namespace != nil {
		ns = b.opts.Namespace(s)
	}
	st := s.ActivityStatus(0)
	rec := activity.Session{
		Namespace:    ns,
		Name:         s.ID,
		State:        processes.StateRunning,
		IdleTimeout:  st.IdleThreshold,
		LastActivity: st.LastActivity,
	}
	switch {
	case s.Closed():
		rec.State = processes.StateClosed
	default:
		if _, exited := s.ExitStatus(); exited {
			rec.State = processes.StateExited
		}
	}
	return rec, key{ns, s.ID}
}

// Sync reports the listed sessions into the Store: it creates the records
// of new sessions, writes changed states and idle timeouts with
// compare-and-set, records newer activity through the Tracker, and records
// sessions that left the listing as closed. Sessions that did not change
// cost no Store call.
//
// A failure on one session does not stop the others: Sync returns their
// errors joined, each naming its session, and tries them again at the next
// Sync. It returns ctx.Err() among them when ctx ends, stopping early,
// also while it waits for a Sync in progress, since Syncs run one at a
// time.
func (b *Bridge) Sync(ctx context.Context) error {
	var listed []*processes.Session
	for s := range b.opts.Sessions {
		if s != nil {
			listed = append(listed, s)
		}
	}
	select {
	case b.turn <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("activitysync: waiting for the Sync in progress: %w", ctx.Err())
	}
	defer func() { <-b.turn }()
	var errs []error
	seen := make(map[key]bool, len(listed))
	for _, s := range listed {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		rec, k := b.record(s)
		if seen[k] {
			continue
		}
		seen[k] = true
		if err := b.sync(ctx, k, s, rec); err != nil {
			errs = append(errs, fmt.Errorf("activitysync: %s/%s: %w", k.namespace, k.name, err))
		}
	}
	for k, r := range b.reported {
		if seen[k] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		if err := b.write(ctx, k, processes.StateClosed, r.idle, true); err != nil && !errors.Is(err, activity.ErrNotFound) {
			errs = append(errs, fmt.Errorf("activitysync: %s/%s gone: %w", k.namespace, k.name, err))
			continue
		}
		delete(b.reported, k)
	}
	return errors.Join(errs...)
}

// sync brings one session's record up to date.
func (b *Bridge) sync(ctx context.Context, k key, s *processes.Session, rec activity.Session) error {
	r := b.reported[k]
	if r == nil || r.s != s { // first sight of this session object
		// One that replaced a session reported before, now closed, is
		// another session: the hibernation of the one it replaced does
		// not carry over to it.
		return b.create(ctx, k, s, rec, r != nil && r.s.Closed())
	}
	if rec.State != r.state || rec.IdleTimeout != r.idle {
		if err := b.write(ctx, k, rec.State, rec.IdleTimeout, true); err != nil {
			return err
		}
		r.state, r.idle = rec.State, rec.IdleTimeout
	}
	if rec.LastActivity != nil && rec.LastActivity.After(r.last) {
		if err := b.tr.RecordActivity(ctx, k.namespace, k.name, *rec.LastActivity); err != nil {
			return err
		}
		r.last = *rec.LastActivity
	}
	return nil
}

// create makes the record of a session seen for the first time, or, when
// the Store already has one (another incarnation under the same ID, or a
// Bridge before a restart), brings it up to date. replaced says that s
// replaced a session this Bridge reported, which is closed: a hibernation
// stored is that session's, and gives way.
func (b *Bridge) create(ctx context.Context, k key, s *processes.Session, rec activity.Session, replaced bool) error {
	r := &reported{s: s, state: rec.State, idle: rec.IdleTimeout}
	if rec.LastActivity != nil {
		r.last = *rec.LastActivity
	}
	if rec.CreatedAt = s.CreatedAt(); rec.CreatedAt.IsZero() {
		rec.CreatedAt = b.clk.Now() // a session no Manager registered
	}
	_, err := b.store.Update(ctx, rec)
	switch {
	case err == nil:
	case errors.Is(err, activity.ErrConflict):
		if err := b.write(ctx, k, rec.State, rec.IdleTimeout, !replaced); err != nil {
			return err
		}
		if rec.LastActivity != nil {
			if err := b.tr.RecordActivity(ctx, k.namespace, k.name, *rec.LastActivity); err != nil {
				return err
			}
		}
	default:
		return err
	}
	b.reported[k] = r
	return nil
}

// maxAttempts bounds the compare-and-set retries of one write, so that a
// Store reporting conflicts forever cannot spin a Sync.
const maxAttempts = 100

// write sets a record's state and idle timeout with compare-and-set. With
// keepHibernated, it leaves a hibernated record hibernated while the host's
// session runs.
func (b *Bridge) write(ctx context.Context, k key, state string, idle time.Duration, keepHibernated bool) error {
	for attempt := 1; ; attempt++ {
		cur, err := b.store.Get(ctx, k.namespace, k.name)
		if err != nil {
			return err
		}
		if keepHibernated && state == processes.StateRunning && cur.State == activity.StateHibernated {
			state = cur.State // the fleet's decision stands until the host's session ends
		}
		if cur.State == state && cur.IdleTimeout == idle {
			return nil
		}
		cur.State, cur.IdleTimeout = state, idle
		_, err = b.store.Update(ctx, cur)
		if !errors.Is(err, activity.ErrConflict) || attempt == maxAttempts {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// withoutCtxErr returns err without the errors it joins that are ctx's
// own, once ctx has ended: nil if that leaves none.
func withoutCtxErr(ctx context.Context, err error) error {
	ctxErr := ctx.Err()
	if ctxErr == nil {
		return err
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		if errors.Is(err, ctxErr) {
			return nil
		}
		return err
	}
	var rest []error
	for _, e := range joined.Unwrap() {
		if !errors.Is(e, ctxErr) {
			rest = append(rest, e)
		}
	}
	return errors.Join(rest...)
}

// Run calls Sync every interval of the Bridge's clock, the first time one
// interval after it is called, and blocks until ctx is done; it returns
// once the Sync in progress, if any, has finished. Errors are logged and the
// next interval tries again; once ctx has ended, errors saying only that are
// not logged, the others still are. It panics if interval is not positive.
func (b *Bridge) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		panic("activitysync: non-positive interval for Run")
	}
	sw := sweep.Start(b.clk, interval, func(time.Time) {
		if err := b.Sync(ctx); err != nil {
			// The errors that only say ctx ended are Run's stop, not worth
			// reporting; the others are, since no later Sync retries them.
			if err = withoutCtxErr(ctx, err); err != nil {
				b.log.Error("activitysync: sync", "err", err)
			}
			return
		}
		b.log.Debug("activitysync: sync")
	})
	b.log.Debug("activitysync: started", "interval", interval)
	<-ctx.Done()
	sw.Stop()
}
