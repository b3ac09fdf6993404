package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/sessionkit/sessionkit/sweep"
)

// Defaults of [ReconcilerOptions].
const (
	DefaultReconcileInterval = 10 * time.Second
	DefaultStuckAfter        = time.Minute
	DefaultGoneAfter         = 2 * time.Minute
)

// ReconcilerOptions configure a [SessionReconciler]. Store is required;
// every other zero field means its default.
type ReconcilerOptions struct {
	Store Store
	// Dispatcher sends the retries. Nil: stuck sessions are counted, and
	// pending ones without a command in flight failed, but nothing is
	// sent: a session stuck terminating stays so.
	Dispatcher *CommandDispatcher
	// Interval between passes of Start's loop. Zero means
	// DefaultReconcileInterval.
	Interval time.Duration
	// StuckAfter: a session pending or terminating for longer (on the
	// reconciler's clock, since it first saw the record so: a session
	// placed again under the same ID is timed anew) is stuck. Zero means
	// DefaultStuckAfter.
	StuckAfter time.Duration
	// GoneAfter: a host whose heartbeat count has not moved for longer
	// (on the reconciler's clock, since it last read the hosts after
	// failing to: see SessionReconciler) is gone, and its sessions are
	// marked lost (terminated, for those terminating). Zero means
	// DefaultGoneAfter.
	GoneAfter time.Duration
	// Clock drives the loop and measures the thresholds. Nil: the real
	// clock.
	Clock clock.Clock
	// Logger receives pass errors at Warn and force-marks at Info. Nil
	// discards.
	Logger *slog.Logger
}

// SessionReconciler cleans up sessions stuck between states or stranded
// on a dead host, as the seed's reconciler did. Each pass:
//
//   - observes every host's heartbeat count; a host whose count has not
//     moved for GoneAfter is gone. Liveness is measured on the
//     reconciler's own clock from what it observed (as Kubernetes' node
//     lifecycle controller does with node leases), never by comparing
//     timestamps written by other machines' clocks. A pass that cannot
//     read the hosts (the Store unreachable, for the hosts' beats too),
//     or waits longer than Interval for them, restarts every host's
//     timer at the next read: an outage of the Store is not the silence
//     of every host, so no session is lost for it.
//   - marks the sessions of gone hosts: terminating ones terminated, all
//     others not final lost, with a reason naming the host.
//   - retries sessions pending or terminating for longer than StuckAfter
//     on hosts that are not gone: their commands in flight are sent again
//     (a terminating session without one gets a forget command); a
//     pending session without a command in flight (a seat reserved by
//     SelectAgent and never used, or a start that failed for good) is
//     failed, freeing the seat.
//
// Its memory follows what the Store holds: one entry per host in the
// Store and per session pending or terminating; a pass forgets the hosts
// and sessions the Store no longer has (a host deleted from the Store, a
// session gone final). A host deleted and registered again under the
// same ID, even between two passes, is a new host (its RegisteredAt
// differs), timed anew.
//
// Make one with [NewSessionReconciler]; the zero value is not usable. It
// is safe for concurrent use; passes run one at a time.
type SessionReconciler struct {
	opts ReconcilerOptions
	clk  clock.Clock
	log  *slog.Logger

	pass  sync.Mutex // held by each pass
	hosts map[string]observed
	// blind: a pass could not read the hosts. The Store was unreachable,
	// most likely for the hosts' heartbeats too, so the next pass that
	// reads them restarts every host's timer rather than count the
	// silence it could not watch.
	blind bool
	since map[string]observed // session ID → state and when first seen in it

	mu    sync.Mutex
	stats map[string]int
	sw    *sweep.Sweeper
	stop  context.CancelFunc
}

// observed is a value and when the reconciler first saw it: a host's
// beat count, or a session's state and the UpdatedAt of the record that
// set it (a new placement under the same ID, or any other transition,
// changes it even when the state reads the same).
type observed struct {
	beats      int64
	registered time.Time // a host's RegisteredAt: a new one is a new host
	state      string
	updated    time.Time
	at         time.Time
}

// NewSessionReconciler returns a reconciler. It panics if opts.Store is
// nil or a duration is negative.
func NewSessionReconciler(opts ReconcilerOptions) *SessionReconciler {
	if opts.Store == nil {
		panic("fleet: NewSessionReconciler with a nil Store")
	}
	if opts.Interval < 0 || opts.StuckAfter < 0 || opts.GoneAfter < 0 {
		panic("fleet: negative ReconcilerOptions")
	}
	if opts.Interval == 0 {
		opts.Interval = DefaultReconcileInterval
	}
	if opts.StuckAfter == 0 {
		opts.StuckAfter = DefaultStuckAfter
	}
	if opts.GoneAfter == 0 {
		opts.GoneAfter = DefaultGoneAfter
	}
	r := &SessionReconciler{opts: opts, clk: opts.Clock, log: opts.Logger,
		hosts: make(map[string]observed), since: make(map[string]observed), stats: make(map[string]int)}
	if r.clk == nil {
		r.clk = clock.New()
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	return r
}

// Start runs a pass every Interval of the clock, the first one Interval
// after Start, in a goroutine that Stop waits for. Start twice starts
// one loop.
func (r *SessionReconciler) Start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sw != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	r.sw = sweep.Start(r.clk, r.opts.Interval, func(time.Time) {
		if _, err := r.Reconcile(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("fleet: reconcile", "err", err)
		}
	})
}

// Stop stops the loop and waits for a pass in progress. It is idempotent
// and a no-op without Start; Start after Stop starts again.
func (r *SessionReconciler) Stop() {
	r.mu.Lock()
	sw, cancel := r.sw, r.stop
	r.sw, r.stop = nil, nil
	r.mu.Unlock()
	if sw != nil {
		cancel()
		sw.Stop()
	}
}

// Pass is what one [SessionReconciler.Reconcile] did.
type Pass struct {
	GoneHosts        []string // hosts gone at this pass
	Lost, Terminated int      // sessions force-marked
	Retried          int      // stuck sessions whose commands were sent again
	Failed           int      // pending sessions without a command, failed
	StuckPending     int      // sessions stuck pending now
	StuckTerminating int      // sessions stuck terminating now
}

// Reconcile runs one pass now (see [SessionReconciler]) and returns what
// it did, with the errors of the steps that failed joined; the others
// are done.
func (r *SessionReconciler) Reconcile(ctx context.Context) (Pass, error) {
	r.pass.Lock()
	defer r.pass.Unlock()
	now := r.clk.Now()
	st := r.opts.Store
	var p Pass
	hosts, err := st.Hosts(ctx)
	if err != nil {
		r.blind = true
		return p, err
	}
	// A read that took longer than a pass interval waited for the Store
	// as a failed one did: the silence meanwhile proves nothing either.
	if read := r.clk.Now(); r.blind || read.Sub(now) > r.opts.Interval {
		r.blind, now = false, read
		clear(r.hosts)
	}
	// Forget the hosts the Store no longer has (deleted when they left
	// the fleet), or a control plane with churning hosts would keep an
	// entry for every host it ever saw.
	present := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		present[h.ID] = true
	}
	maps.DeleteFunc(r.hosts, func(id string, _ observed) bool { return !present[id] })
	gone := make(map[string]bool)
	for _, h := range hosts {
		o, ok := r.hosts[h.ID]
		if !ok || o.beats != h.Beats || !o.registered.Equal(h.RegisteredAt) {
			r.hosts[h.ID] = observed{beats: h.Beats, registered: h.RegisteredAt, at: now}
			continue
		}
		if now.Sub(o.at) > r.opts.GoneAfter {
			gone[h.ID] = true
			p.GoneHosts = append(p.GoneHosts, h.ID)
		}
	}
	recs, err := st.Sessions(ctx, SessionFilter{States: []string{SessionPending, SessionRunning, SessionTerminating, SessionExited}})
	if err != nil {
		return p, err
	}
	var errs []error
	live := make(map[string]bool, len(recs))
	for _, rec := range recs {
		live[rec.ID] = true
		if gone[rec.HostID] {
			to, reason := SessionLost, fmt.Sprintf("fleet: host %s is gone (no heartbeat for %v)", rec.HostID, r.opts.GoneAfter)
			if rec.State == SessionTerminating {
				to = SessionTerminated
			}
			ok, err := st.TransitionOn(ctx, rec.ID, rec.HostID, []string{rec.State}, to, reason, now)
			if err != nil {
				errs = append(errs, err)
			} else if ok && to == SessionLost {
				p.Lost++
			} else if ok {
				p.Terminated++
			}
			if ok {
				r.log.Info("fleet: session force-marked", "session", rec.ID, "state", to, "host", rec.HostID)
			}
			continue
		}
		if rec.State != SessionPending && rec.State != SessionTerminating {
			delete(r.since, rec.ID)
			continue
		}
		o, ok := r.since[rec.ID]
		if !ok || o.state != rec.State || !o.updated.Equal(rec.UpdatedAt) {
			r.since[rec.ID] = observed{state: rec.State, updated: rec.UpdatedAt, at: now}
			continue
		}
		if now.Sub(o.at) <= r.opts.StuckAfter {
			continue
		}
		if rec.State == SessionPending {
			p.StuckPending++
		} else {
			p.StuckTerminating++
		}
		if err := r.retry(ctx, rec, now, &p); err != nil {
			errs = append(errs, err)
		}
	}
	for id := range r.since {
		if !live[id] {
			delete(r.since, id)
		}
	}
	r.mu.Lock()
	r.stats["stuck_pending"] = p.StuckPending
	r.stats["stuck_terminating"] = p.StuckTerminating
	r.stats["hosts_gone"] = len(p.GoneHosts)
	r.stats["lost"] += p.Lost
	r.stats["terminated"] += p.Terminated
	r.stats["retried"] += p.Retried
	r.stats["failed"] += p.Failed
	r.stats["passes"]++
	r.mu.Unlock()
	return p, errors.Join(errs...)
}

// retry sends a stuck session's commands in flight again.
func (r *SessionReconciler) retry(ctx context.Context, rec SessionRecord, now time.Time, p *Pass) error {
	cmds, err := r.opts.Store.Commands(ctx, CommandFilter{SessionID: rec.ID})
	if err != nil {
		return err
	}
	var inflight []Command
	for _, c := range cmds {
		if !CommandDone(c.State) {
			inflight = append(inflight, c)
		}
	}
	if len(inflight) == 0 && rec.State == SessionPending {
		// Nothing will start it: a seat reserved and never used, a start
		// that failed for good, or one done that the host does not
		// report running.
		reason := "fleet: placed but never started"
		if len(cmds) > 0 {
			last := cmds[len(cmds)-1]
			reason = fmt.Sprintf("fleet: pending after its last command %s was %s %s", last.ID, last.State, last.Error)
		}
		ok, err := r.opts.Store.TransitionOn(ctx, rec.ID, rec.HostID, []string{SessionPending}, SessionFailed, reason, now)
		if ok {
			p.Failed++
		}
		return err
	}
	if r.opts.Dispatcher == nil {
		return nil
	}
	if len(inflight) == 0 {
		c := &Command{HostID: rec.HostID, SessionID: rec.ID, Kind: KindForget}
		if err := r.opts.Dispatcher.DispatchCommandContext(ctx, c); err != nil {
			return err
		}
		p.Retried++
		r.since[rec.ID] = observed{state: rec.State, updated: rec.UpdatedAt, at: now} // wait another StuckAfter
		return nil
	}
	for _, c := range inflight {
		if err := r.opts.Dispatcher.Redispatch(c.ID); err != nil {
			return err
		}
	}
	p.Retried++
	r.since[rec.ID] = observed{state: rec.State, updated: rec.UpdatedAt, at: now}
	return nil
}

// GetStats returns the counts of the last pass ("stuck_pending",
// "stuck_terminating", "hosts_gone") and totals since NewSessionReconciler
// ("lost", "terminated", "retried", "failed", "passes"), as a new map. Its
// error is always nil; the seed's signature has one.
func (r *SessionReconciler) GetStats() (map[string]int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := maps.Clone(r.stats)
	for _, k := range []string{"stuck_pending", "stuck_terminating", "hosts_gone", "lost", "terminated", "retried", "failed", "passes"} {
		out[k] += 0
	}
	return out, nil
}
