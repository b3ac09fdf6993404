package wake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/sweep"
)

// Option configures a Group in [NewGroup]. A nil Option is ignored.
type Option func(*Group)

// WithMaxConcurrentWakes bounds how many cold starts (a start and its
// probe) run at once across the group: a restart or a burst of traffic
// to many sleeping units starts n at a time, the others wait for a slot
// within their WakeTimeout. Thaws and SIGCONTs are not bounded. n <= 0
// means no bound, the default.
func WithMaxConcurrentWakes(n int) Option {
	return func(g *Group) {
		if n > 0 {
			g.slots = make(chan struct{}, n)
		} else {
			g.slots = nil
		}
	}
}

// WithSweepInterval sets how often the group checks its units for
// idleness, on the Manager's clock. The default is one second. NewGroup
// panics if d is not positive.
func WithSweepInterval(d time.Duration) Option {
	return func(g *Group) {
		if d <= 0 {
			panic("wake: non-positive sweep interval")
		}
		g.interval = d
	}
}

// WithLogger makes the group log wakes, sleeps and failures at Info. The
// default discards; a nil l keeps it.
func WithLogger(l *slog.Logger) Option {
	return func(g *Group) {
		if l != nil {
			g.log = l
		}
	}
}

// Group holds units that share a [processes.Manager], a bound on
// concurrent cold starts and an idle sweep. Make one with [NewGroup]; the
// zero value is not usable. Its methods are safe for concurrent use.
type Group struct {
	m        *processes.Manager
	slots    chan struct{} // WithMaxConcurrentWakes; nil: unbounded
	interval time.Duration
	log      *slog.Logger
	sweeper  *sweep.Sweeper

	ctx    context.Context // ends at Shutdown: attempts and commands
	cancel context.CancelFunc
	// hurry ends when a Shutdown's ctx ends: the graceful stops still
	// going on are cut short by SIGKILL.
	hurry       context.Context
	cancelHurry context.CancelFunc

	mu     sync.Mutex // guards units, order, and wg.Add against Shutdown
	units  map[string]*Unit
	order  []*Unit
	closed atomic.Bool
	done   chan struct{} // closed at Shutdown
	wg     sync.WaitGroup
}

// NewGroup returns a group whose units run as sessions of m and sleep on
// m's clock, and starts its idle sweep (one goroutine), which
// [Group.Shutdown] stops. It panics if m is nil.
func NewGroup(m *processes.Manager, opts ...Option) *Group {
	if m == nil {
		panic("wake: nil Manager")
	}
	g := &Group{
		m:        m,
		interval: time.Second,
		log:      slog.New(slog.DiscardHandler),
		units:    map[string]*Unit{},
		done:     make(chan struct{}),
	}
	for _, o := range opts {
		if o != nil {
			o(g)
		}
	}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	g.hurry, g.cancelHurry = context.WithCancel(context.Background())
	g.sweeper = sweep.Start(m.Clock(), g.interval, g.sweepAt)
	return g
}

// Manager returns the Manager the group's units run in.
func (g *Group) Manager() *processes.Manager { return g.m }

// Add adds one unit; it is AddAll of one spec.
func (g *Group) Add(spec Spec) (*Unit, error) {
	us, err := g.AddAll(spec)
	if err != nil {
		return nil, err
	}
	return us[0], nil
}

// AddAll adds units together, all or none: their DependsOn may name each
// other as well as units already in the group. The units start asleep.
// It returns [ErrInvalidSpec], [ErrDuplicate], [ErrUnknownDependency] or
// [ErrCycle] (wrapped, with the unit's ID), an error for which
// errors.Is(err, errors.ErrUnsupported) holds for ModeFreeze where the
// Manager has no cgroups ([processes.Manager.Containment]), and
// [ErrClosed] after Shutdown.
func (g *Group) AddAll(specs ...Spec) ([]*Unit, error) {
	for i := range specs {
		if err := specs[i].validate(); err != nil {
			return nil, err
		}
		if specs[i].Mode == ModeFreeze {
			if c := g.m.Containment(); c.Cgroup == "" {
				return nil, fmt.Errorf("wake: unit %q: ModeFreeze needs cgroups, and the Manager has none (%v): %w",
					specs[i].ID, c.Err, errors.ErrUnsupported)
			}
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed.Load() {
		return nil, ErrClosed
	}
	fresh := make(map[string]*Unit, len(specs))
	out := make([]*Unit, len(specs))
	for i, s := range specs {
		if g.units[s.ID] != nil || fresh[s.ID] != nil {
			return nil, fmt.Errorf("%w: %q", ErrDuplicate, s.ID)
		}
		u := newUnit(g, s)
		fresh[s.ID], out[i] = u, u
	}
	lookup := func(id string) *Unit {
		if u := fresh[id]; u != nil {
			return u
		}
		return g.units[id]
	}
	for _, u := range out {
		for _, d := range u.spec.DependsOn {
			dep := lookup(d.Unit)
			if dep == nil {
				return nil, fmt.Errorf("%w: unit %q depends on %q", ErrUnknownDependency, u.spec.ID, d.Unit)
			}
			u.deps = append(u.deps, dep)
		}
	}
	// Units already in the group cannot depend on new ones, so a cycle
	// goes through a new unit: a depth-first search from each finds it.
	const (
		unseen = iota
		onPath
		finished
	)
	mark := map[*Unit]int{}
	var visit func(u *Unit, path []string) error
	visit = func(u *Unit, path []string) error {
		path = append(path, u.spec.ID)
		switch mark[u] {
		case onPath:
			return fmt.Errorf("%w: %v", ErrCycle, path)
		case finished:
			return nil
		}
		mark[u] = onPath
		for _, d := range u.deps {
			if err := visit(d, path); err != nil {
				return err
			}
		}
		mark[u] = finished
		return nil
	}
	for _, u := range out {
		if err := visit(u, nil); err != nil {
			return nil, err
		}
	}
	for _, u := range out {
		g.units[u.spec.ID] = u
		g.order = append(g.order, u)
	}
	return out, nil
}

// Unit returns the unit with the given ID, and whether there is one.
func (g *Group) Unit(id string) (*Unit, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	u, ok := g.units[id]
	return u, ok
}

// Units returns the group's units in the order they were added, as a new
// slice.
func (g *Group) Units() []*Unit {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]*Unit(nil), g.order...)
}

// Sweep puts to sleep every unit that is idle now, on the Manager's
// clock, all at once, and returns once each of them is asleep. It also
// terminates what is left of a frozen or paused process that exited
// while its unit was asleep (killed by the OOM killer, say), and removes
// its session and cgroup, which were kept until the unit's next wake.
// The idle sweep calls it every sweep interval; tests call it after
// advancing a mock clock.
func (g *Group) Sweep() { g.sweepAt(g.m.Clock().Now()) }

// sweepAt sleeps the units due at now, and reaps the kept processes that
// exited, each in a goroutine of its own, so that a slow stop holds back
// no other unit.
func (g *Group) sweepAt(now time.Time) {
	var wg sync.WaitGroup
	for _, u := range g.Units() {
		if _, due := u.sleepInAt(now); due {
			wg.Go(func() { _ = u.sleep(now, "", false) })
		} else if u.keptExited() {
			wg.Go(u.reapKept)
		}
	}
	wg.Wait()
}

// goOwned runs fn in a goroutine that Shutdown waits for, and reports
// false, running nothing, once the group is shut down.
func (g *Group) goOwned(fn func()) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed.Load() {
		return false
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		fn()
	}()
	return true
}

// Shutdown stops the idle sweep, fails the wakes in flight with
// [ErrClosed], terminates every unit's process, a dependent's before its
// dependencies' (as docker compose stops services) and independent units
// at once (frozen and paused ones included: the Manager thaws them so
// that they handle the signal), and waits until they are gone and every
// goroutine of the group has returned. It returns nil then, or ctx.Err()
// as soon as ctx ends first, having sent SIGKILL to every process of the
// group still being stopped (a goroutine of its own then waits for them
// to go); it returns by the end of ctx in any case. From its start, Wake
// (of a ready unit too), Sleep and Add return ErrClosed, the HTTP front
// answers 503 and the TCP front closes the connections it accepts.
// Calling it again waits again.
func (g *Group) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	first := !g.closed.Swap(true)
	g.mu.Unlock()
	if first {
		close(g.done)
		g.cancel()
	}
	errs := make(chan error, 1)
	go func() {
		units := g.Units()
		uerrs := make([]error, len(units))
		var wg sync.WaitGroup
		// Not before the ctx-bounded wait: a sweep may be stopping a unit,
		// which takes up to the kill grace unless ctx ends.
		wg.Go(g.sweeper.Stop)
		// Each unit once its dependents are gone (until ctx ends), the
		// others at once.
		gone := make(map[*Unit]chan struct{}, len(units))
		dependents := make(map[*Unit][]*Unit, len(units))
		for _, u := range units {
			gone[u] = make(chan struct{})
			for _, d := range u.deps {
				dependents[d] = append(dependents[d], u)
			}
		}
		for i, u := range units {
			wg.Go(func() {
				defer close(gone[u])
				for _, dep := range dependents[u] {
					select {
					case <-gone[dep]:
					case <-ctx.Done():
					}
				}
				uerrs[i] = u.shutdown(ctx)
			})
		}
		wg.Wait()
		g.wg.Wait()
		for _, err := range uerrs {
			if err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}()
	select {
	case err := <-errs:
		return err
	case <-ctx.Done():
		g.cancelHurry()
		// Whatever the goroutines above have not reached yet.
		for _, u := range g.Units() {
			if s := u.Session(); s != nil {
				_ = s.Terminate(ctx)
			}
		}
		return ctx.Err()
	}
}
