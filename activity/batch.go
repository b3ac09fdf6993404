package activity

import (
	"context"
	"time"
)

// Stamp is activity on one session at one time, as a [Tracker] with
// write-behind ([WithWriteBehind]) hands it to a Store. It is a plain value.
type Stamp struct {
	// Namespace and Name identify the session.
	Namespace, Name string
	// At is when the activity happened.
	At time.Time
}

// BatchRecorder is implemented by a [Store] that records the activity of many
// sessions in one operation, such as one SQL statement. A Tracker with
// write-behind flushes through it when its Store implements it, and
// otherwise with a Get and an Update per session.
type BatchRecorder interface {
	// RecordActivity sets the LastActivity of each session named in stamps
	// to its At, but only where that is later than the stored LastActivity
	// or none is stored: a stamp never moves a session's activity back. Each
	// session it changes gets the next Version, as by Update, so that a
	// compare-and-set based on an older read fails; a session it leaves as
	// is keeps its Version. Stamps for sessions the Store does not hold are
	// ignored, and when a session appears more than once the latest At
	// counts. It changes nothing and returns an error wrapping ctx.Err() if
	// ctx is done before it starts, and may otherwise return the Store's
	// errors, in which case any subset of the stamps, or none, may have been
	// recorded (recording them again is harmless).
	RecordActivity(ctx context.Context, stamps []Stamp) error
}
