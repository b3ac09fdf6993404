package activity

import (
	"log/slog"
	"time"

	"github.com/benbjohnson/clock"
)

// Option configures a [Tracker] in [NewTracker]. A nil Option is ignored.
type Option func(*Tracker)

// WithClock makes the Tracker read time from c and run its idle monitor on
// it; tests pass a clock.NewMock(). The default, and what a nil c means, is
// the real clock, clock.New().
func WithClock(c clock.Clock) Option {
	return func(t *Tracker) {
		if c == nil {
			c = clock.New()
		}
		t.clock = c
	}
}

// WithGracePeriod sets how long past its IdleTimeout an idle session is left
// running before it is hibernated. The default is [DefaultGracePeriod]; a
// negative grace counts as 0.
func WithGracePeriod(grace time.Duration) Option {
	return func(t *Tracker) {
		t.grace = max(grace, 0)
	}
}

// WithIdleTimeout sets the IdleTimeout of the sessions whose own is 0, for
// every decision of the Tracker. The default, and what d <= 0 means, is
// none: such sessions are never idle.
func WithIdleTimeout(d time.Duration) Option {
	return func(t *Tracker) {
		t.idle = max(d, 0)
	}
}

// WithPublisher makes the Tracker publish an [Event] to p for every session it
// hibernates. The default, and what a nil p means, is to publish nothing.
func WithPublisher(p Publisher) Option {
	return func(t *Tracker) {
		t.pub = p
	}
}

// WithLogger makes the idle monitor log to l: each hibernation at Info, each
// error it carries on past at Error, and its start, ticks and stop at Debug.
// The default, and what a nil l means, is to log nothing.
func WithLogger(l *slog.Logger) Option {
	return func(t *Tracker) {
		if l == nil {
			l = discard()
		}
		t.log = l
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
