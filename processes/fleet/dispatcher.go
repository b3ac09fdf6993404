package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/sessionkit/sessionkit/sweep"
)

// Defaults of [DispatcherOptions].
const (
	DefaultQueueCapacity   = 1024
	DefaultWorkers         = 4
	DefaultLease           = 30 * time.Second
	DefaultMaxAttempts     = 5
	DefaultRecoverInterval = 5 * time.Second
)

// DispatcherOptions configure a [CommandDispatcher]. Every zero field
// means its default.
type DispatcherOptions struct {
	// QueueCapacity bounds the commands waiting for a worker. Zero means
	// DefaultQueueCapacity.
	QueueCapacity int
	// Workers send commands in parallel. Zero means DefaultWorkers;
	// SetWorkers changes it before Start.
	Workers int
	// Lease is how long a sent or acknowledged command may stay so before
	// it is sent again. Zero means DefaultLease.
	Lease time.Duration
	// MaxAttempts is how many times a command is sent before it fails.
	// Zero means DefaultMaxAttempts.
	MaxAttempts int
	// RecoverInterval is how often Start's loop calls
	// DispatchPendingCommands, to send again what outlived its lease: a
	// fallback in seconds, never a busy loop. Zero means
	// DefaultRecoverInterval.
	RecoverInterval time.Duration
	// Clock gives now and drives the recover loop. Nil: the real clock.
	Clock clock.Clock
	// Logger receives send errors at Warn. Nil discards.
	Logger *slog.Logger
}

// CommandDispatcher hands commands to their hosts, as the seed's
// dispatcher did, over the durable commands table of a [Store]:
// DispatchCommand stores a command pending and queues it; a pool of
// workers sends each queued command (Store.Send: sent, leased, its host
// notified), and the host's [Agent] claims, acknowledges and completes
// it. A command whose lease ends without completion is sent again by
// DispatchPendingCommands, which Start's loop calls every
// RecoverInterval and which a restarted dispatcher calls first, up to
// MaxAttempts; then it fails, and a start command's session is marked
// failed, releasing its seat.
//
// Make one with [NewCommandDispatcher]; the zero value is not usable. Its
// methods are safe for concurrent use, except SetWorkers, which must come
// before Start.
type CommandDispatcher struct {
	store Store
	opts  DispatcherOptions
	clk   clock.Clock
	log   *slog.Logger

	mu      sync.Mutex
	queue   chan string
	queued  map[string]bool // in queue, or reserved for it
	sending map[string]bool // taken by a worker, being sent
	workers int
	started bool
	stopped bool
	done    chan struct{} // closed by Stop
	exited  chan struct{} // closed when Start returns
}

// NewCommandDispatcher returns a dispatcher over store. It panics if store
// is nil or an option is negative.
func NewCommandDispatcher(store Store, opts DispatcherOptions) *CommandDispatcher {
	if store == nil {
		panic("fleet: NewCommandDispatcher with a nil Store")
	}
	if opts.QueueCapacity < 0 || opts.Workers < 0 || opts.Lease < 0 || opts.MaxAttempts < 0 || opts.RecoverInterval < 0 {
		panic("fleet: negative DispatcherOptions")
	}
	if opts.QueueCapacity == 0 {
		opts.QueueCapacity = DefaultQueueCapacity
	}
	if opts.Workers == 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.Lease == 0 {
		opts.Lease = DefaultLease
	}
	if opts.MaxAttempts == 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.RecoverInterval == 0 {
		opts.RecoverInterval = DefaultRecoverInterval
	}
	d := &CommandDispatcher{
		store: store, opts: opts, clk: opts.Clock, log: opts.Logger,
		queue:   make(chan string, opts.QueueCapacity),
		queued:  make(map[string]bool),
		sending: make(map[string]bool),
		workers: opts.Workers,
		done:    make(chan struct{}),
		exited:  make(chan struct{}),
	}
	if d.clk == nil {
		d.clk = clock.New()
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	return d
}

// reserve takes a queue slot for id. It returns ErrQueueFull when the
// queue is full, ErrStopped after Stop, and false (no error) when id is
// queued already or being sent: a recovery scan that read the command
// pending while a worker sends it must not queue it a second time.
func (d *CommandDispatcher) reserve(id string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.stopped:
		return false, ErrStopped
	case d.queued[id] || d.sending[id]:
		return false, nil
	case len(d.queued) >= cap(d.queue):
		return false, ErrQueueFull
	}
	d.queued[id] = true
	return true, nil
}

func (d *CommandDispatcher) unreserve(id string) {
	d.mu.Lock()
	delete(d.queued, id)
	d.mu.Unlock()
}

// startSend moves id from the queue to the commands being sent, and
// endSend takes it out of those once sent.
func (d *CommandDispatcher) startSend(id string) {
	d.mu.Lock()
	delete(d.queued, id)
	d.sending[id] = true
	d.mu.Unlock()
}

func (d *CommandDispatcher) endSend(id string) {
	d.mu.Lock()
	delete(d.sending, id)
	d.mu.Unlock()
}

// DispatchCommand stores command in the commands table, pending, and
// queues it for a worker; it never blocks on a full queue. An empty ID is
// set to 128 random bits, and the command's State and CreatedAt are set
// as stored.
//
// It returns an error wrapping [ErrQueueFull] when the queue is full
// (nothing is stored), [ErrStopped] after Stop, [ErrInvalid] for a nil
// command, one without HostID or one whose text a Store cannot hold
// (see [Store]), [ErrExists] for an ID stored before, and the Store's
// errors.
func (d *CommandDispatcher) DispatchCommand(command *Command) error {
	return d.DispatchCommandContext(context.Background(), command)
}

// DispatchCommandContext is DispatchCommand with a context for the
// Store's call.
func (d *CommandDispatcher) DispatchCommandContext(ctx context.Context, command *Command) error {
	if command == nil || command.HostID == "" {
		return fmt.Errorf("fleet: dispatch: a command needs a HostID: %w", ErrInvalid)
	}
	if command.ID == "" {
		command.ID = newID()
	}
	ok, err := d.reserve(command.ID)
	if err != nil {
		return fmt.Errorf("fleet: dispatch %q: %w", command.ID, err)
	}
	if !ok {
		return fmt.Errorf("fleet: dispatch %q: %w", command.ID, ErrExists)
	}
	now := d.clk.Now()
	if err := d.store.Enqueue(ctx, now, command); err != nil {
		d.unreserve(command.ID)
		return err
	}
	command.State, command.CreatedAt = CommandPending, now
	d.queue <- command.ID // a slot is reserved: never blocks
	return nil
}

// recoverBatch bounds the commands one DispatchPendingCommands reads.
const recoverBatch = 1000

// DispatchPendingCommands queues the commands of the table that need
// sending: pending ones (stored by a dispatcher that stopped or died
// before sending them) and sent or acknowledged ones whose lease ended.
// Call it after a restart; Start's loop calls it every RecoverInterval.
// It queues what fits and returns an error wrapping [ErrQueueFull] when
// some did not (the next call takes them), ErrStopped after Stop, or the
// Store's error.
func (d *CommandDispatcher) DispatchPendingCommands() error {
	return d.DispatchPendingCommandsContext(context.Background())
}

// DispatchPendingCommandsContext is DispatchPendingCommands with a
// context for the Store's calls.
func (d *CommandDispatcher) DispatchPendingCommandsContext(ctx context.Context) error {
	cmds, err := d.store.Recoverable(ctx, d.clk.Now(), recoverBatch)
	if err != nil {
		return err
	}
	for _, c := range cmds {
		ok, err := d.reserve(c.ID)
		if err != nil {
			return fmt.Errorf("fleet: dispatch pending: %w", err)
		}
		if ok {
			d.queue <- c.ID
		}
	}
	return nil
}

// Redispatch queues a stored command again, as DispatchPendingCommands
// does for one command: the worker sends it if it is pending or its lease
// ended, and notifies its host again if it is sent. Errors as
// DispatchCommand's; a command already queued, or being sent, is not
// queued again, and is not an error.
func (d *CommandDispatcher) Redispatch(id string) error {
	ok, err := d.reserve(id)
	if err != nil {
		return fmt.Errorf("fleet: redispatch %q: %w", id, err)
	}
	if ok {
		d.queue <- id
	}
	return nil
}

// GetQueueCapacity returns how many commands the queue holds at most.
func (d *CommandDispatcher) GetQueueCapacity() int { return cap(d.queue) }

// GetQueueLength returns how many commands wait in the queue (including
// those being stored).
func (d *CommandDispatcher) GetQueueLength() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.queued)
}

// SetWorkers sets the number of workers Start runs; count < 1 counts as
// 1. It has no effect once Start was called.
func (d *CommandDispatcher) SetWorkers(count int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.started {
		d.workers = max(count, 1)
	}
}

// Start runs the workers and the recover loop, and blocks until Stop.
// It first calls DispatchPendingCommands, so that a restarted dispatcher
// picks up what its predecessor left. Start after Stop, or a second
// Start, returns at once.
func (d *CommandDispatcher) Start() {
	d.mu.Lock()
	if d.started || d.stopped {
		d.mu.Unlock()
		return
	}
	d.started = true
	n := d.workers
	d.mu.Unlock()
	defer close(d.exited)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-d.done
		cancel()
	}()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { d.work(ctx) })
	}
	if err := d.DispatchPendingCommandsContext(ctx); err != nil && !errors.Is(err, ErrQueueFull) && ctx.Err() == nil {
		d.log.Warn("fleet: dispatch pending", "err", err)
	}
	sw := sweep.Start(d.clk, d.opts.RecoverInterval, func(time.Time) {
		if err := d.DispatchPendingCommandsContext(ctx); err != nil && !errors.Is(err, ErrQueueFull) && ctx.Err() == nil {
			d.log.Warn("fleet: dispatch pending", "err", err)
		}
	})
	<-d.done
	sw.Stop()
	wg.Wait()
}

// Stop stops Start's workers and loop and waits for Start to return;
// queued commands stay pending in the table for the next dispatcher.
// Dispatching after Stop returns ErrStopped. Stop is idempotent, and
// without Start it only refuses further dispatching.
func (d *CommandDispatcher) Stop() {
	d.mu.Lock()
	if d.stopped {
		started := d.started
		d.mu.Unlock()
		if started {
			<-d.exited
		}
		return
	}
	d.stopped = true
	started := d.started
	close(d.done)
	d.mu.Unlock()
	if started {
		<-d.exited
	}
}

// work sends queued commands until ctx ends.
func (d *CommandDispatcher) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-d.queue:
			d.startSend(id)
			d.send(ctx, id)
			d.endSend(id)
		}
	}
}

// send sends one command; a start that failed for good fails its
// session.
func (d *CommandDispatcher) send(ctx context.Context, id string) {
	now := d.clk.Now()
	c, err := d.store.Send(ctx, id, now, d.opts.Lease, d.opts.MaxAttempts)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("fleet: send", "command", id, "err", err)
		}
		return
	}
	if c.State == CommandFailed && c.Kind == KindStart && c.SessionID != "" {
		// The command is failed for good: its session must follow even
		// when Stop comes in between (a reconciler would see to it too).
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := d.store.TransitionOn(tctx, c.SessionID, c.HostID, []string{SessionPending}, SessionFailed, c.Error, now); err != nil {
			d.log.Warn("fleet: fail session", "session", c.SessionID, "err", err)
		}
	}
}
