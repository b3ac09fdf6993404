package activity

import (
	"context"
	"time"
)

// EventHibernated is the Type of the [Event] published when a session is
// hibernated.
const EventHibernated = "hibernated"

// Event announces a change a [Tracker] made to a session. It is a plain value.
type Event struct {
	// Type is what happened: [EventHibernated].
	Type string
	// Namespace and Name identify the session.
	Namespace, Name string
	// IdleDuration is how long the session had been idle when it was
	// hibernated.
	IdleDuration time.Duration
	// At is the Tracker's clock time of the decision.
	At time.Time
}

// Publisher receives the events of a [Tracker], for example to stop the
// process behind a hibernated session or to notify its owner. Publish is
// called synchronously, with no lock held, once per event; an error it
// returns is handed back to the Tracker's caller (see
// [Tracker.HibernateIdleSession]). Implementations used by a Tracker shared
// between goroutines must be safe for concurrent use.
type Publisher interface {
	Publish(ctx context.Context, e Event) error
}

// PublisherFunc adapts a function to the [Publisher] interface.
type PublisherFunc func(ctx context.Context, e Event) error

// Publish returns f(ctx, e).
func (f PublisherFunc) Publish(ctx context.Context, e Event) error {
	return f(ctx, e)
}
