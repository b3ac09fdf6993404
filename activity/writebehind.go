package activity

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sessionkit/sessionkit/sweep"
)

// ErrClosed is returned, wrapped, by [Tracker.RecordActivity] and
// [Tracker.UpdateSessionActivity] on a Tracker with write-behind after
// [Tracker.Close].
var ErrClosed = errors.New("activity: tracker closed")

// WithWriteBehind makes the Tracker record activity in memory and write it to
// the Store every interval of its clock, all sessions in one batch: one
// [BatchRecorder.RecordActivity] call when the Store implements it (for
// package pgstore, one SQL statement), else a Get and an Update per session.
// A session touched many times in an interval costs one write, so the
// Store's write load is at most one write per active session per interval,
// whatever the rate of activity.
//
// Stamps only move forward: a flush never overwrites a newer stamp in the
// Store, and the Tracker's idle decisions use the newer of the stored and
// the pending stamp. A crash loses the activity not yet written: at most the
// last interval (plus a flush in progress, if it dies in one), and never
// makes a session look more recent than it was. Other Trackers
// over the same Store see activity up to one interval late; so a session
// touched less than an interval before it becomes due for hibernation may
// be hibernated by another Tracker before the flush. Keep the interval well
// under the grace period.
//
// Memory: one pending stamp (a map entry of the namespace, the name and a
// time) per distinct session touched since its last write, whatever the
// rate of activity. A flush that fails keeps its stamps pending, so while
// the Store is unreachable the Tracker holds one per session touched
// meanwhile, and no more.
//
// The Tracker then owns a goroutine that flushes; [Tracker.Close] flushes
// what is pending and stops it. The default, and what interval <= 0 means,
// is no write-behind: every activity is written through at once.
func WithWriteBehind(interval time.Duration) Option {
	return func(t *Tracker) {
		t.writeBehind = max(interval, 0)
	}
}

// batcher is the write-behind state of a Tracker.
type batcher struct {
	// flushTurn holds a token during each flush, so that Flush waits for
	// one in progress, and can stop waiting when its context ends, which a
	// mutex could not.
	flushTurn chan struct{}

	mu       sync.Mutex
	pending  map[key]time.Time // coalesced stamps not yet written
	flushing map[key]time.Time // the stamps of the flush in progress
	closed   bool

	sw *sweep.Sweeper
	// life is the context of the periodic flushes: a background work of
	// the Tracker, not a request, ended by Close when Close's own context
	// ends first.
	life context.Context
	end  context.CancelFunc
}

// startWriteBehind starts the periodic flush.
func (t *Tracker) startWriteBehind() {
	b := &batcher{pending: make(map[key]time.Time), flushTurn: make(chan struct{}, 1)}
	b.life, b.end = context.WithCancel(context.Background())
	t.wb = b
	b.sw = sweep.Start(t.clock, t.writeBehind, func(time.Time) {
		n, err := t.flush(b.life)
		if err != nil {
			t.log.Error("activity: write-behind flush", "sessions", n, "err", err)
			return
		}
		t.log.Debug("activity: write-behind flush", "sessions", n)
	})
}

// record keeps the latest stamp of a session until the next flush.
func (b *batcher) record(k key, at time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if old, ok := b.pending[k]; !ok || at.After(old) {
		b.pending[k] = at
	}
	return nil
}

// latest returns the newest stamp of the session not yet in the Store.
func (b *batcher) latest(k key) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.pending[k]
	if f, fok := b.flushing[k]; fok && (!ok || f.After(p)) {
		p, ok = f, true
	}
	return p, ok
}

// Flush writes the activity recorded so far, of all sessions, to the Store
// now, in one batch as [WithWriteBehind] describes, after any flush in
// progress. It returns nil at once for a Tracker without write-behind.
//
// On an error the stamps that may not have been written (all of a failed
// batch; over a Store without [BatchRecorder], those of the sessions whose
// write failed) stay pending, to be written by the next flush, and
// it returns an error wrapping the Store's, or ctx.Err(), also when ctx ends
// while it waits for the flush in progress. Stamps of sessions the Store
// does not hold are dropped.
func (t *Tracker) Flush(ctx context.Context) error {
	_, err := t.flush(ctx)
	return err
}

// flush writes the pending stamps and returns how many sessions it wrote.
func (t *Tracker) flush(ctx context.Context) (int, error) {
	b := t.wb
	if b == nil {
		return 0, nil
	}
	select {
	case b.flushTurn <- struct{}{}:
	case <-ctx.Done():
		return 0, fmt.Errorf("activity: flush: waiting for the flush in progress: %w", ctx.Err())
	}
	defer func() { <-b.flushTurn }()
	b.mu.Lock()
	batch := b.pending
	if len(batch) == 0 {
		b.mu.Unlock()
		return 0, nil
	}
	b.pending = make(map[key]time.Time, len(batch))
	b.flushing = batch // still seen by the idle decisions while being written
	b.mu.Unlock()

	stamps := make([]Stamp, 0, len(batch))
	for k, at := range batch {
		stamps = append(stamps, Stamp{Namespace: k.namespace, Name: k.name, At: at})
	}
	slices.SortFunc(stamps, func(a, b Stamp) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	unwritten, err := t.writeStamps(ctx, stamps)

	b.mu.Lock()
	b.flushing = nil
	for _, st := range unwritten { // pending again, unless a newer stamp came
		k := key{st.Namespace, st.Name}
		if old, ok := b.pending[k]; !ok || st.At.After(old) {
			b.pending[k] = st.At
		}
	}
	b.mu.Unlock()
	if err != nil {
		return len(stamps), fmt.Errorf("activity: flush %d sessions: %w", len(stamps), err)
	}
	return len(stamps), nil
}

// writeStamps writes a batch of stamps with the Store's BatchRecorder, or
// one session at a time, and returns the stamps that may not have been
// written, with the errors: all of them when a batch fails, else those of
// the sessions that failed and those not tried before ctx ended. Only these
// go back to pending: written ones would otherwise be written again at
// every flush for as long as one session of their batch fails.
func (t *Tracker) writeStamps(ctx context.Context, stamps []Stamp) ([]Stamp, error) {
	if br, ok := t.store.(BatchRecorder); ok {
		if err := br.RecordActivity(ctx, stamps); err != nil {
			return stamps, err
		}
		return nil, nil
	}
	var errs []error
	var unwritten []Stamp
	for i, s := range stamps {
		if err := ctx.Err(); err != nil {
			return append(unwritten, stamps[i:]...), errors.Join(append(errs, err)...)
		}
		err := t.recordThrough(ctx, s.Namespace, s.Name, s.At)
		if err != nil && !errors.Is(err, ErrNotFound) {
			unwritten = append(unwritten, s)
			errs = append(errs, fmt.Errorf("%s/%s: %w", s.Namespace, s.Name, err))
		}
	}
	return unwritten, errors.Join(errs...)
}

// Close flushes what is pending and stops the Tracker's write-behind
// goroutine, which it waits for. If ctx ends while a periodic flush is in
// progress, that flush is cancelled. It returns what [Tracker.Flush] returns
// for the final flush; the stamps it could not write are lost. Later
// activity is refused with [ErrClosed].
//
// Close of a Tracker without write-behind, and any Close after the first,
// return nil at once. The Tracker's other methods go on working after
// Close.
func (t *Tracker) Close(ctx context.Context) error {
	b := t.wb
	if b == nil {
		return nil
	}
	b.mu.Lock()
	closed := b.closed
	b.closed = true
	b.mu.Unlock()
	if closed {
		return nil
	}
	stop := context.AfterFunc(ctx, b.end)
	b.sw.Stop()
	stop()
	b.end()
	return t.Flush(ctx)
}
