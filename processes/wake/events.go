package wake

import (
	"context"
	"time"
)

// EventKind names a step of a wake or a sleep. The first seven are the
// seed's wake events.
type EventKind string

// Kinds of events, in the order a cold start with dependencies reports
// them.
const (
	EventWakingDependency EventKind = "waking dependency" // Message: the dependency's ID
	EventDependencyReady  EventKind = "dependency ready"  // Message: the dependency's ID and condition
	EventStarting         EventKind = "starting"          // a cold start: the command and pid
	EventWoke             EventKind = "woke"              // thawed or continued from freeze or pause
	EventWaitingForReady  EventKind = "waiting for ready" // the probe
	EventReady            EventKind = "ready"             // the time the wake took
	EventError            EventKind = "error"             // the wake failed: the error
	EventAsleep           EventKind = "asleep"            // the unit slept, or its process exited: why
)

// Event is one step of a unit's wake or sleep.
type Event struct {
	Unit    string    `json:"unit"`
	Kind    EventKind `json:"kind"`
	Time    time.Time `json:"time"` // on the Manager's clock
	Message string    `json:"message"`
	// Attempt numbers the unit's wakes from 1; an asleep event belongs to
	// the attempt that woke the unit.
	Attempt uint64 `json:"attempt"`
}

// maxEvents bounds the events kept of one attempt; later ones but the
// last are dropped (a wake has 2 per dependency and 3 or 4 of its own).
const maxEvents = 64

// eventLog is the current attempt's events, under the unit's mutex: the
// first maxEvents-1 added, then the last one added.
type eventLog struct {
	attempt uint64
	events  []Event
	added   int           // events added in this attempt, kept or not
	changed chan struct{} // closed and replaced at each change; nil while nobody waits
}

// next returns the event that follows the i first events added, the
// number of events then read, and whether there is one: the next kept
// one, or, past them, the last one added.
func (l *eventLog) next(i int) (Event, int, bool) {
	switch {
	case i < len(l.events)-1 || i < len(l.events) && l.added == len(l.events):
		return l.events[i], i + 1, true
	case i < l.added:
		return l.events[len(l.events)-1], l.added, true
	}
	return Event{}, i, false
}

func (l *eventLog) notify() {
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
}

// reset starts the log of a new attempt.
func (l *eventLog) reset(attempt uint64) {
	l.attempt = attempt
	l.events = l.events[:0:0]
	l.added = 0
	l.notify()
}

func (l *eventLog) add(e Event) {
	e.Attempt = l.attempt
	l.added++
	if len(l.events) == maxEvents {
		l.events[maxEvents-1] = e
	} else {
		l.events = append(l.events, e)
	}
	l.notify()
}

// emit adds an event of kind to the unit's log, stamped now.
func (u *Unit) emit(kind EventKind, msg string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.emitLocked(kind, msg)
}

func (u *Unit) emitLocked(kind EventKind, msg string) {
	u.log.add(Event{Unit: u.spec.ID, Kind: kind, Time: u.now(), Message: msg})
}

// Events returns a copy of the current attempt's events, oldest first:
// all of them, or, for an attempt that had more than 64, the first 63 and
// the last. A [Subscription] skips the same ones.
func (u *Unit) Events() []Event {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Event(nil), u.log.events...)
}

// Subscription reads a unit's events: the current attempt's history, then
// events as they come, following the unit into its next attempts. Make
// one with [Unit.Subscribe]. It holds no goroutine and no buffer of its
// own, so a slow reader costs nothing; a reader that falls a whole attempt
// behind skips to the newest attempt's first event. It is not safe for
// concurrent use; the zero value is not usable.
type Subscription struct {
	u       *Unit
	attempt uint64
	next    int // events of the attempt read, counting those dropped
}

// Subscribe returns a Subscription that starts at the first event of the
// unit's current attempt.
func (u *Unit) Subscribe() *Subscription {
	u.mu.Lock()
	defer u.mu.Unlock()
	return &Subscription{u: u, attempt: u.log.attempt}
}

// subscribeAfterSleep is Subscribe, and, while the unit is being put to
// sleep, the number of the attempt going to sleep (else 0), taken
// together.
func (u *Unit) subscribeAfterSleep() (*Subscription, uint64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	var stale uint64
	if u.state == Sleeping {
		stale = u.log.attempt
	}
	return &Subscription{u: u, attempt: u.log.attempt}, stale
}

// Next returns the next event, waiting for it until ctx ends. It returns
// ctx.Err() when ctx ends first, and [ErrClosed] once the group was shut
// down and every event was read.
func (s *Subscription) Next(ctx context.Context) (Event, error) {
	u := s.u
	for {
		u.mu.Lock()
		if s.attempt != u.log.attempt {
			s.attempt, s.next = u.log.attempt, 0
		}
		if e, next, ok := u.log.next(s.next); ok {
			s.next = next
			u.mu.Unlock()
			return e, nil
		}
		if u.g.closed.Load() {
			u.mu.Unlock()
			return Event{}, ErrClosed
		}
		if u.log.changed == nil {
			u.log.changed = make(chan struct{})
		}
		ch := u.log.changed
		u.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		case <-u.g.done:
		}
	}
}
