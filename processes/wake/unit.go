package wake

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sessionkit/sessionkit/processes"
)

// State is where a unit is in its life.
type State uint8

const (
	// Asleep: no process runs for the unit. Either none exists (never
	// started, stopped, or exited) or, in ModeFreeze and ModePause, its
	// process tree is kept frozen or stopped ([Status].Kept).
	Asleep State = iota
	// Waking: a wake is in flight: dependencies, start or thaw, probe.
	Waking
	// Ready: the process serves; requests are proxied.
	Ready
	// Sleeping: the unit is being put to sleep, or what is left of its
	// exited process is being terminated; a request that arrives now
	// waits until it is asleep, then wakes it again.
	Sleeping
	// Failed: the last wake failed ([Status].Err); the next wake retries.
	Failed
)

// String returns "asleep", "waking", "ready", "sleeping" or "failed".
func (s State) String() string {
	switch s {
	case Asleep:
		return "asleep"
	case Waking:
		return "waking"
	case Ready:
		return "ready"
	case Sleeping:
		return "sleeping"
	case Failed:
		return "failed"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Cause says why a unit last woke or slept, and when (on the Manager's
// clock): the request ("GET /index.html from 127.0.0.1:40312"), the
// connection, the dependent, the idle timeout ("idle for 30.2s > 30s"),
// the exit of its process, or the group's shutdown. The zero Cause means
// it never did.
type Cause struct {
	At  time.Time
	Why string
}

type causeKey struct{}

// WithCause returns a context that makes a [Unit.Wake] started with it
// record why as the cause of the wake ([Status].Woke). The fronts record
// the request or connection.
func WithCause(ctx context.Context, why string) context.Context {
	return context.WithValue(ctx, causeKey{}, why)
}

func causeOf(ctx context.Context) string {
	if why, ok := ctx.Value(causeKey{}).(string); ok && why != "" {
		return why
	}
	return "Wake called"
}

// Status is a snapshot of a unit, from [Unit.Status].
type Status struct {
	ID    string
	State State
	// Err is why the last wake failed, while State is Failed.
	Err error
	// Holds counts the open holds: requests, connections, Hold calls and
	// awake dependents.
	Holds int
	// LastActivity is the last wake, hold or release, on the Manager's
	// clock; zero before the first.
	LastActivity time.Time
	// SleepIn is the time left before the idle sweep puts the unit to
	// sleep, and SleepDue whether it will: false unless the unit is ready,
	// unheld, and has an idle timeout.
	SleepIn  time.Duration
	SleepDue bool
	// Pid is the process of the current incarnation, 0 without one, and
	// Kept whether it is kept frozen or stopped while the unit is asleep.
	Pid  int
	Kept bool
	// Attempts counts wakes begun, ColdStarts the processes started.
	Attempts, ColdStarts int
	// Woke and Slept say why the unit last woke and slept.
	Woke, Slept Cause
}

// Unit is one program that sleeps when idle and wakes on demand, made by
// [Group.Add]; the zero value is not usable. Its methods are safe for
// concurrent use. A unit asleep holds no goroutine.
type Unit struct {
	g     *Group
	spec  Spec
	deps  []*Unit  // spec.DependsOn, resolved
	addrs []string // where its process is to listen: Upstream, the probe's address

	mu        sync.Mutex
	state     State
	err       error
	holds     int
	last      time.Time
	sess      *processes.Session // the current incarnation, nil without one
	endCmd    func()             // ends the ctx its Command was given, once it is stopped
	att       *attempt           // the wake in flight, while Waking
	sleepDone chan struct{}      // closed once asleep, while Sleeping
	depHolds  []func()           // releases of the holds on deps, while awake
	unwatch   chan struct{}      // stops the exit watcher, while Ready
	log       eventLog
	attempts  int
	starts    int
	woke      Cause
	slept     Cause
}

// attempt is one wake; its waiters share it.
type attempt struct {
	done    chan struct{} // closed with err set when the wake ends
	started chan struct{} // closed once the process started or resumed
	err     error
	startAt time.Time
}

func newUnit(g *Group, s Spec) *Unit {
	s.DependsOn = append([]Dependency(nil), s.DependsOn...)
	s.Probe = s.Probe.resolve(s.Upstream)
	if s.ProbeInterval == 0 {
		s.ProbeInterval = DefaultProbeInterval
	}
	if s.WakeTimeout == 0 {
		s.WakeTimeout = DefaultWakeTimeout
	}
	if s.SleepTimeout == 0 {
		s.SleepTimeout = DefaultSleepTimeout
	}
	if s.HalfCloseTimeout == 0 {
		s.HalfCloseTimeout = DefaultHalfCloseTimeout
	}
	u := &Unit{g: g, spec: s}
	for _, a := range []string{s.Upstream, s.Probe.address()} {
		if a != "" && !slices.Contains(u.addrs, a) {
			u.addrs = append(u.addrs, a)
		}
	}
	return u
}

// ID returns the unit's ID.
func (u *Unit) ID() string { return u.spec.ID }

// Spec returns a copy of the unit's spec, its Probe resolved and its
// defaults filled in.
func (u *Unit) Spec() Spec {
	s := u.spec
	s.DependsOn = append([]Dependency(nil), s.DependsOn...)
	return s
}

func (u *Unit) now() time.Time { return u.g.m.Clock().Now() }

// idleTimeout resolves the spec's IdleTimeout: <= 0 never sleeps.
func (u *Unit) idleTimeout() time.Duration {
	if u.spec.IdleTimeout != 0 {
		return u.spec.IdleTimeout
	}
	return u.g.m.IdleTimeout
}

// State returns the unit's state.
func (u *Unit) State() State {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.state
}

// Session returns the session of the unit's current incarnation, nil
// without one. Its output is the program's.
func (u *Unit) Session() *processes.Session {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.sess
}

// Status returns a snapshot of the unit.
func (u *Unit) Status() Status {
	now := u.now()
	u.mu.Lock()
	defer u.mu.Unlock()
	st := Status{
		ID: u.spec.ID, State: u.state, Holds: u.holds, LastActivity: u.last,
		Attempts: u.attempts, ColdStarts: u.starts, Woke: u.woke, Slept: u.slept,
	}
	if u.state == Failed {
		st.Err = u.err
	}
	st.SleepIn, st.SleepDue = u.sleepInLocked(now)
	if u.sess != nil {
		st.Pid = u.sess.Pid()
		st.Kept = u.state == Asleep && !hasExited(u.sess)
	}
	return st
}

// SleepIn returns the time left, on the Manager's clock, before the idle
// sweep puts the unit to sleep, and whether it will at all: ok is false
// unless the unit is ready, holds are none, and it has an idle timeout.
// A result of 0 with ok means at the next sweep. It is SleepInAt of the
// clock's now.
func (u *Unit) SleepIn() (d time.Duration, ok bool) { return u.SleepInAt(u.now()) }

// SleepInAt is SleepIn at now: a pure function of the unit's state and
// now. The unit sleeps once now − LastActivity > IdleTimeout, strictly.
func (u *Unit) SleepInAt(now time.Time) (d time.Duration, ok bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.sleepInLocked(now)
}

func (u *Unit) sleepInLocked(now time.Time) (time.Duration, bool) {
	timeout := u.idleTimeout()
	if u.state != Ready || u.holds > 0 || timeout <= 0 {
		return 0, false
	}
	return max(timeout-now.Sub(u.last), 0), true
}

// sleepInAt reports whether the unit is due to sleep at now.
func (u *Unit) sleepInAt(now time.Time) (time.Duration, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	left, ok := u.sleepInLocked(now)
	return left, ok && now.Sub(u.last) > u.idleTimeout()
}

// Hold keeps the unit from sleeping until release is called, and counts
// as activity when taken and when released, so the idle window starts
// when the last hold ends. It does not wake the unit: call Wake with it
// held, and the unit cannot fall asleep between the two. The fronts hold
// the unit for every proxied request and connection; embedders hold it
// for their own work. Release is idempotent; every Hold must be released.
func (u *Unit) Hold() (release func()) { return u.hold(true) }

func (u *Unit) hold(touch bool) func() {
	u.mu.Lock()
	u.holds++
	if touch {
		u.last = u.now()
	}
	u.mu.Unlock()
	return u.releaser(touch)
}

// holdIfReady holds the unit if it is ready, counting activity if touch:
// for requests that may not wake it (touch), or are not the user's (not).
// Checked and taken under one lock, so no sleep begins in between.
func (u *Unit) holdIfReady(touch bool) (func(), bool) {
	u.mu.Lock()
	if u.state != Ready {
		u.mu.Unlock()
		return nil, false
	}
	u.holds++
	if touch {
		u.last = u.now()
	}
	u.mu.Unlock()
	return u.releaser(touch), true
}

// releaser returns the idempotent release of a hold.
func (u *Unit) releaser(touch bool) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			u.mu.Lock()
			u.holds--
			if touch {
				u.last = u.now()
			}
			u.mu.Unlock()
		})
	}
}

// Wake wakes the unit and returns once it is ready: at once if it is and
// its dependencies are awake, else after its dependencies woke (in
// parallel), its process was thawed, continued or started, and its probe
// passed. A dependency whose process exited under the ready unit is woken
// again, the unit staying ready. Wakes are single-flight: any number of
// concurrent callers share one attempt, and a caller whose ctx ends
// returns ctx.Err() without cancelling the attempt the others wait on,
// which goes on until it succeeds, fails or its WakeTimeout ends. A unit
// that is being put to sleep is woken again once asleep; a failed one is
// retried. The cause recorded is the one given with [WithCause].
//
// It returns nil when ready; an error wrapping [ErrWakeTimeout] (and
// context.DeadlineExceeded) past the WakeTimeout; one wrapping
// [ErrExitedBeforeReady] (the process exited before its probe passed, or
// by the time it did), [ErrAddrInUse] (something else accepts
// connections at the unit's Upstream or probe address before a cold
// start), the Command's or Start's error, or a dependency's error, when
// the wake failed (the unit is then Failed, unless it was ready and only
// a dependency failed to wake again); [ErrClosed] once Shutdown began,
// for a ready unit too; ctx.Err() when ctx ends first.
//
// Every call counts as activity, one that finds the unit ready too, but
// Wake does not hold the unit: it may sleep again once idle. Take a
// [Unit.Hold] first to use it.
func (u *Unit) Wake(ctx context.Context) error { return u.wake(ctx, causeOf(ctx), WhenReady) }

// wake is Wake until cond: with WhenStarted, it returns as soon as the process
// of the attempt started or resumed.
func (u *Unit) wake(ctx context.Context, cause string, cond Condition) error {
	for {
		if u.g.closed.Load() {
			// Even a ready unit: Shutdown is about to terminate it.
			return fmt.Errorf("wake: unit %q: %w", u.spec.ID, ErrClosed)
		}
		u.mu.Lock()
		var a *attempt
		switch u.state {
		case Ready:
			u.last = u.now() // a wake is activity, of a ready unit too
			if u.depsAwakeLocked() {
				u.mu.Unlock()
				return nil
			}
			u.mu.Unlock()
			// A dependency's process exited under this ready unit (or
			// its wake failed): wake it again, still held by this unit.
			return u.wakeDepsOnly(ctx)
		case Sleeping:
			ch := u.sleepDone
			u.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		case Waking:
			a = u.att
		default: // Asleep, Failed
			var err error
			if a, err = u.beginLocked(cause); err != nil {
				u.mu.Unlock()
				return err
			}
		}
		u.mu.Unlock()
		var started <-chan struct{}
		if cond == WhenStarted {
			started = a.started
		}
		select {
		case <-a.done:
			return a.err
		case <-started:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// wakeAsync begins a wake if the unit is asleep or failed, without
// waiting for it; a unit being put to sleep is woken once asleep.
func (u *Unit) wakeAsync(cause string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch u.state {
	case Asleep, Failed:
		_, _ = u.beginLocked(cause)
	case Sleeping:
		u.g.goOwned(func() { _ = u.wake(u.g.ctx, cause, WhenReady) })
	}
}

// beginLocked starts an attempt in a goroutine of the group.
func (u *Unit) beginLocked(cause string) (*attempt, error) {
	now := u.now()
	a := &attempt{done: make(chan struct{}), started: make(chan struct{}), startAt: now}
	if !u.g.goOwned(func() { u.run(a) }) {
		return nil, ErrClosed
	}
	u.state, u.err, u.att = Waking, nil, a
	u.attempts++
	u.last = now
	u.woke = Cause{At: now, Why: cause}
	u.log.reset(uint64(u.attempts))
	return a, nil
}

// run is one attempt, bounded by the WakeTimeout.
func (u *Unit) run(a *attempt) {
	ctx, cancel := context.WithTimeout(u.g.ctx, u.spec.WakeTimeout)
	defer cancel()
	err := u.attempt(ctx, a)
	switch {
	case u.g.closed.Load():
		// Even a success: Shutdown may have passed this unit by (its
		// ctx ended while a slow Command ran), and nothing else would
		// stop the process; finish terminates it.
		err = fmt.Errorf("wake: unit %q: %w", u.spec.ID, ErrClosed)
	case err == nil:
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		if !errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
		}
		err = fmt.Errorf("wake: unit %q: %w after %v: %w", u.spec.ID, ErrWakeTimeout, u.spec.WakeTimeout, err)
	default:
		err = fmt.Errorf("wake: unit %q: %w", u.spec.ID, err)
	}
	u.finish(a, err)
}

// attempt wakes the dependencies, then thaws, continues or starts the
// process, then probes it.
func (u *Unit) attempt(ctx context.Context, a *attempt) error {
	if err := u.wakeDeps(ctx); err != nil {
		return err
	}
	u.mu.Lock()
	sess := u.sess
	u.mu.Unlock()
	if sess != nil {
		if err := u.resume(ctx, sess); err == nil {
			close(a.started)
			return nil
		} else if ctx.Err() != nil {
			return err
		}
		// The kept process died or would not resume: start afresh.
		u.drop(sess)
	}
	return u.coldStart(ctx, a)
}

// wakeDeps holds every dependency, for as long as this unit is awake, and
// wakes them in parallel.
func (u *Unit) wakeDeps(ctx context.Context) error {
	if len(u.deps) == 0 {
		return nil
	}
	u.mu.Lock()
	if u.depHolds == nil {
		for _, d := range u.deps {
			u.depHolds = append(u.depHolds, d.hold(true))
		}
	}
	u.mu.Unlock()
	return u.wakeEachDep(ctx, true)
}

// wakeDepsOnly wakes the dependencies of a ready unit, which holds them
// already, without events of its own: its attempt is over.
func (u *Unit) wakeDepsOnly(ctx context.Context) error {
	if err := u.wakeEachDep(ctx, false); err != nil {
		return fmt.Errorf("wake: unit %q: %w", u.spec.ID, err)
	}
	return nil
}

func (u *Unit) wakeEachDep(ctx context.Context, events bool) error {
	errs := make([]error, len(u.deps))
	var wg sync.WaitGroup
	for i, d := range u.deps {
		cond := u.spec.DependsOn[i].Condition
		wg.Go(func() {
			if events {
				u.emit(EventWakingDependency, d.spec.ID)
			}
			if err := d.wake(ctx, "dependency of "+u.spec.ID, cond); err != nil {
				errs[i] = fmt.Errorf("dependency %q: %w", d.spec.ID, err)
				return
			}
			if events {
				u.emit(EventDependencyReady, d.spec.ID+" ("+cond.String()+")")
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// depsAwakeLocked reports whether every dependency of the unit, and each
// of theirs, is as awake as its dependent needs: ready, or waking for
// WhenStarted. It is called with u.mu held, and locks the dependencies'
// mutexes in turn: a dependent's before its dependency's, everywhere.
func (u *Unit) depsAwakeLocked() bool {
	for i, d := range u.deps {
		d.mu.Lock()
		ok := d.state == Ready && d.depsAwakeLocked() ||
			d.state == Waking && u.spec.DependsOn[i].Condition == WhenStarted
		d.mu.Unlock()
		if !ok {
			return false
		}
	}
	return true
}

// awake reports whether the unit is ready and its dependencies awake, so
// that a request may be proxied without a wake.
func (u *Unit) awake() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.state == Ready && u.depsAwakeLocked()
}

// resume wakes a kept incarnation: thaw or SIGCONT. It is not probed
// again: it was ready when it slept.
func (u *Unit) resume(ctx context.Context, sess *processes.Session) error {
	select {
	case <-sess.Done():
		return ErrExitedBeforeReady
	default:
	}
	if err := sess.Resume(ctx); err != nil {
		return err
	}
	how := "thawed the frozen tree (cgroup.freeze 0)"
	if u.spec.Mode == ModePause {
		how = "continued the stopped tree (SIGCONT)"
	}
	u.emit(EventWoke, how+", pid "+strconv.Itoa(sess.Pid()))
	return nil
}

// coldStart starts a fresh process within a slot of the group and probes
// it.
func (u *Unit) coldStart(ctx context.Context, a *attempt) error {
	if u.g.slots != nil {
		select {
		case u.g.slots <- struct{}{}:
			defer func() { <-u.g.slots }()
		case <-ctx.Done():
			return fmt.Errorf("waiting for a wake slot: %w", ctx.Err())
		}
	}
	if err := ctx.Err(); err != nil {
		return err // a dependency was ready, but the wake is over
	}
	// Whatever accepts connections at the unit's addresses now is not
	// its process, which is not started yet: the program could not
	// listen there, and the probe would pass against the other one.
	for _, addr := range u.addrs {
		if err := checkAddrFree(ctx, addr); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// The Command's ctx lives as long as the process: ended before the
	// process is stopped, it would SIGKILL a command made with
	// exec.CommandContext under a graceful stop.
	cctx, endCmd := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, endCmd) // the wake ends while Command runs
	cmd, err := u.spec.Command(cctx)
	stop()
	if err != nil {
		endCmd()
		return fmt.Errorf("command: %w", err)
	}
	if cmd == nil {
		endCmd()
		return errors.New("command: Command returned nil")
	}
	sess, err := u.g.m.Start(cmd, processes.StartOptions{IdleTimeout: processes.NeverIdle})
	if err != nil {
		endCmd()
		return err
	}
	u.mu.Lock()
	u.sess, u.endCmd = sess, endCmd
	u.starts++
	u.emitLocked(EventStarting, strings.Join(cmd.Args, " ")+", pid "+strconv.Itoa(sess.Pid()))
	u.emitLocked(EventWaitingForReady, u.spec.Probe.String())
	u.mu.Unlock()
	close(a.started)
	if err := u.spec.Probe.wait(ctx, sess, u.spec.ProbeInterval); err != nil {
		return err
	}
	// A probe that passed once the process had exited passed against
	// something else, or on output of a program that then died.
	select {
	case <-sess.Done():
		return exitedErr(sess)
	default:
		return nil
	}
}

// finish ends an attempt: Ready, or Failed with the process terminated
// and the dependencies released.
func (u *Unit) finish(a *attempt, err error) {
	if err != nil {
		u.mu.Lock()
		drop, endCmd := u.detachLocked()
		deps := u.depHolds
		u.depHolds = nil
		u.mu.Unlock()
		// Terminated before the failure is published, so that a retry
		// never finds the old process on the port.
		u.terminate(drop)
		endCmd()
		release(deps)
	}
	now := u.now()
	u.mu.Lock()
	u.att = nil
	a.err = err
	if err == nil {
		u.state = Ready
		u.last = now
		u.emitLocked(EventReady, "in "+now.Sub(a.startAt).String())
		u.watchLocked()
	} else {
		u.state, u.err = Failed, err
		u.emitLocked(EventError, err.Error())
	}
	close(a.done)
	u.mu.Unlock()
	if err != nil {
		u.g.log.Info("wake: wake failed", "unit", u.spec.ID, "err", err)
	} else {
		u.g.log.Info("wake: ready", "unit", u.spec.ID, "took", now.Sub(a.startAt))
	}
}

// watchLocked starts the watcher that notices the process exiting while
// the unit is ready; sleep stops it, so that a unit asleep has no
// goroutine.
func (u *Unit) watchLocked() {
	sess := u.sess
	if sess == nil {
		return
	}
	stop := make(chan struct{})
	u.unwatch = stop
	if !u.g.goOwned(func() {
		select {
		case <-sess.Done():
			u.exited(sess)
		case <-stop:
		}
	}) {
		u.unwatch = nil
	}
}

func (u *Unit) unwatchLocked() {
	if u.unwatch != nil {
		close(u.unwatch)
		u.unwatch = nil
	}
}

// exited handles the exit of a ready unit's process: what is left of its
// tree (a child that outlived it, still serving on the unit's port) is
// terminated, as a sleep does, before the unit is asleep with nothing
// kept; meanwhile it is Sleeping, and a request waits for the end.
func (u *Unit) exited(sess *processes.Session) {
	now := u.now()
	u.mu.Lock()
	if u.sess != sess || u.state != Ready {
		u.mu.Unlock()
		return
	}
	u.unwatch = nil
	done := make(chan struct{})
	u.state, u.sleepDone = Sleeping, done
	u.mu.Unlock()
	u.terminate(sess)
	why := "process exited"
	if st, ok := sess.ExitStatus(); ok {
		why += ": " + st.String()
	}
	u.mu.Lock()
	_, endCmd := u.detachLocked()
	deps := u.depHolds
	u.depHolds = nil
	u.state, u.sleepDone = Asleep, nil
	u.slept = Cause{At: now, Why: why}
	u.emitLocked(EventAsleep, why)
	u.mu.Unlock()
	endCmd()
	close(done)
	release(deps)
	u.g.log.Info("wake: asleep", "unit", u.spec.ID, "why", why)
}

// Sleep puts a ready unit to sleep now, by its Mode, as the idle sweep
// does without waiting for the timeout, and returns once it is asleep.
// It returns nil at once for a unit that is asleep or failed, [ErrHeld]
// while a hold is open (dependents' included) or a wake is in flight,
// [ErrClosed] after Shutdown, and ctx.Err() when ctx ends first, the
// sleep going on (a stop takes up to the Manager's kill grace).
func (u *Unit) Sleep(ctx context.Context) error {
	errc := make(chan error, 1)
	if !u.g.goOwned(func() { errc <- u.sleep(u.now(), "Sleep called", true) }) {
		return ErrClosed
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sleep puts the unit to sleep if it is ready, unheld, and, unless force,
// idle at now; why "" means the idle timeout.
func (u *Unit) sleep(now time.Time, why string, force bool) error {
	u.mu.Lock()
	switch {
	case u.state == Sleeping:
		ch := u.sleepDone
		u.mu.Unlock()
		<-ch
		return nil
	case u.state == Waking || (u.state == Ready && u.holds > 0):
		u.mu.Unlock()
		return ErrHeld
	case u.state != Ready:
		u.mu.Unlock()
		return nil
	}
	if !force {
		idle := now.Sub(u.last)
		if timeout := u.idleTimeout(); timeout <= 0 || idle <= timeout {
			u.mu.Unlock()
			return nil
		}
		why = "idle for " + idle.String() + " > " + u.idleTimeout().String()
	}
	done := make(chan struct{})
	u.state, u.sleepDone = Sleeping, done
	u.unwatchLocked()
	sess := u.sess
	u.mu.Unlock()

	kept := false
	var err error
	if u.spec.Mode == ModeFreeze || u.spec.Mode == ModePause {
		how := processes.PauseFreeze
		if u.spec.Mode == ModePause {
			how = processes.PauseSignal
		}
		ctx, cancel := context.WithTimeout(u.g.ctx, u.spec.SleepTimeout)
		err = sess.PauseWith(ctx, how)
		if err != nil && ctx.Err() == context.DeadlineExceeded {
			err = fmt.Errorf("the tree did not stop within %v", u.spec.SleepTimeout)
		}
		cancel()
		kept = err == nil
	}
	if !kept {
		u.terminate(sess)
	}
	msg := u.spec.Mode.String()
	switch {
	case err != nil:
		msg = "stopped (" + u.spec.Mode.String() + " failed: " + err.Error() + ")"
	case u.spec.Mode == ModeFreeze:
		msg = "frozen"
	case u.spec.Mode == ModePause:
		msg = "paused (SIGSTOP)"
	case u.spec.Mode == ModeStop:
		msg = "stopped"
	}
	endCmd := func() {}
	u.mu.Lock()
	if !kept {
		_, endCmd = u.detachLocked()
	}
	deps := u.depHolds
	u.depHolds = nil
	u.state, u.sleepDone = Asleep, nil
	u.slept = Cause{At: now, Why: why}
	u.emitLocked(EventAsleep, msg+": "+why)
	u.mu.Unlock()
	endCmd()
	close(done)
	release(deps)
	u.g.log.Info("wake: asleep", "unit", u.spec.ID, "mode", u.spec.Mode, "why", why)
	return nil
}

// hasExited reports whether the process of sess has exited.
func hasExited(sess *processes.Session) bool {
	select {
	case <-sess.Done():
		return true
	default:
		return false
	}
}

// keptExited reports whether the unit is asleep with a kept incarnation
// whose process exited.
func (u *Unit) keptExited() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.state == Asleep && u.sess != nil && hasExited(u.sess)
}

// reapKept ends a kept incarnation whose process exited while the unit
// was asleep (killed, by the OOM killer say): what is left of its tree
// (other members, still frozen or stopped, may hold the unit's port) is
// terminated, its session removed and its cgroup with it. The idle sweep
// calls it, so that an asleep unit needs no goroutine of its own; the
// next wake would do the same. Meanwhile the unit is Sleeping, and a
// request waits.
func (u *Unit) reapKept() {
	u.mu.Lock()
	sess := u.sess
	if u.state != Asleep || sess == nil || !hasExited(sess) {
		u.mu.Unlock()
		return
	}
	done := make(chan struct{})
	u.state, u.sleepDone = Sleeping, done
	u.mu.Unlock()
	u.terminate(sess)
	u.mu.Lock()
	_, endCmd := u.detachLocked()
	u.state, u.sleepDone = Asleep, nil
	u.mu.Unlock()
	endCmd()
	close(done)
	u.g.log.Info("wake: kept process exited while asleep", "unit", u.spec.ID)
}

// drop forgets a kept incarnation that cannot be resumed.
func (u *Unit) drop(sess *processes.Session) {
	endCmd := func() {}
	u.mu.Lock()
	if u.sess == sess {
		_, endCmd = u.detachLocked()
	}
	u.mu.Unlock()
	u.terminate(sess)
	endCmd()
}

// detachLocked forgets the current incarnation and returns it, with the
// function that ends its Command's ctx, to call once it is stopped.
func (u *Unit) detachLocked() (*processes.Session, func()) {
	sess, endCmd := u.sess, u.endCmd
	u.sess, u.endCmd = nil, nil
	if endCmd == nil {
		endCmd = func() {}
	}
	return sess, endCmd
}

// terminate ends an incarnation: its tree is terminated with the Manager's
// grace, cut short by SIGKILL when a Shutdown's ctx ends, and its session
// removed.
func (u *Unit) terminate(sess *processes.Session) {
	if sess == nil {
		return
	}
	_ = sess.Terminate(u.g.hurry)
	u.g.m.Remove(sess)
}

// shutdown ends the unit for Group.Shutdown, once its wake in flight, if
// any, ended.
func (u *Unit) shutdown(ctx context.Context) error {
	for {
		u.mu.Lock()
		switch u.state {
		case Waking:
			a := u.att
			u.mu.Unlock()
			select {
			case <-a.done:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		case Sleeping:
			ch := u.sleepDone
			u.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		break
	}
	sess, endCmd := u.detachLocked()
	defer endCmd()
	u.unwatchLocked()
	deps := u.depHolds
	u.depHolds = nil
	wasAwake := u.state == Ready
	u.state = Asleep
	if sess != nil || wasAwake {
		u.slept = Cause{At: u.now(), Why: "group shut down"}
		u.emitLocked(EventAsleep, "stopped: group shut down")
	}
	u.mu.Unlock()
	release(deps)
	if sess == nil {
		return nil
	}
	err := sess.Terminate(ctx)
	u.g.m.Remove(sess)
	return err
}

func release(fs []func()) {
	for _, f := range fs {
		f()
	}
}
