package processes

import (
	"log/slog"
	"time"

	"github.com/benbjohnson/clock"
)

// Option configures a Manager in [NewManager]. A nil Option is ignored.
type Option func(*Manager)

// WithClock makes the Manager and its sessions read time from c: a
// clock.NewMock() in tests. The default is the real clock; a nil c keeps it.
func WithClock(c clock.Clock) Option {
	return func(m *Manager) {
		if c != nil {
			m.clk = c
		}
	}
}

// WithSweepInterval sets how often [Manager.Run] sweeps idle sessions. The
// default is one minute. NewManager panics if d is not positive.
func WithSweepInterval(d time.Duration) Option {
	return func(m *Manager) {
		if d <= 0 {
			panic("processes: non-positive sweep interval")
		}
		m.sweepInterval = d
	}
}

// WithLogger makes the Manager log starts, exits and kills at Debug and
// evictions and escalations to SIGKILL at Info. The default discards; a nil l
// keeps the default.
func WithLogger(l *slog.Logger) Option {
	return func(m *Manager) {
		if l != nil {
			m.log = l
		}
	}
}
