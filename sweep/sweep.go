package sweep

import (
	"sync"
	"time"

	"github.com/benbjohnson/clock"
)

// Sweeper is a running periodic loop made by [Start]. Its methods are safe for
// concurrent use. The zero Sweeper is not running; calling Stop on it is a
// no-op.
type Sweeper struct {
	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// Start calls fn(now) every interval on clock c until [Sweeper.Stop] is
// called, where now is the time of the tick. The first call comes one interval
// after Start. Ticks that arrive while fn runs are coalesced into at most one
// further call.
//
// A nil c means the real clock. Start panics if interval is not positive or fn
// is nil, as time.NewTicker does for a non-positive duration.
func Start(c clock.Clock, interval time.Duration, fn func(now time.Time)) *Sweeper {
	if interval <= 0 {
		panic("sweep: non-positive interval for Start")
	}
	if fn == nil {
		panic("sweep: nil function for Start")
	}
	if c == nil {
		c = clock.New()
	}
	s := &Sweeper{stop: make(chan struct{}), done: make(chan struct{})}
	// The ticker is made here, not in the goroutine, so that a mock clock
	// advanced right after Start already sees it.
	t := c.Ticker(interval)
	go s.loop(t, fn)
	return s
}

func (s *Sweeper) loop(t *clock.Ticker, fn func(time.Time)) {
	defer close(s.done)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			// A stop that raced with the tick wins: no call after Stop.
			select {
			case <-s.stop:
				return
			default:
			}
			fn(now)
		}
	}
}

// Stop ends the loop and waits for a call of fn in progress to return. It is
// idempotent and safe to call from several goroutines; every call returns only
// once the loop's goroutine has exited. Stop must not be called from fn itself,
// which would wait for itself forever.
func (s *Sweeper) Stop() {
	if s == nil || s.stop == nil {
		return
	}
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.done
}
