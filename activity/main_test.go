package activity_test

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sessionkit/sessionkit/activity"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// epoch is where clock.NewMock starts.
var epoch = time.Unix(0, 0)

// at returns the time d after epoch.
func at(d time.Duration) time.Time { return epoch.Add(d) }

func ptr(t time.Time) *time.Time { return &t }

// failsafe bounds every wait on a channel so that a broken test fails instead
// of hanging; it is never what a test waits for.
const failsafe = 10 * time.Second

// recv returns the next value from ch.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(failsafe):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// create stores s as a new session and returns what the store holds.
func create(t *testing.T, st activity.Store, s activity.Session) activity.Session {
	t.Helper()
	got, err := st.Update(t.Context(), s)
	require.NoError(t, err, "creating %s/%s", s.Namespace, s.Name)
	return got
}

// running returns a running session created at epoch.
func running(namespace, name string, idleTimeout time.Duration) activity.Session {
	return activity.Session{
		Namespace:   namespace,
		Name:        name,
		State:       activity.StateRunning,
		IdleTimeout: idleTimeout,
		CreatedAt:   epoch,
	}
}

// chanPublisher sends every event it is given to events, and fails the first
// fail calls with err.
type chanPublisher struct {
	events chan activity.Event
	fail   atomic.Int32
	err    error
}

func newChanPublisher() *chanPublisher {
	return &chanPublisher{events: make(chan activity.Event, 100)}
}

func (p *chanPublisher) Publish(_ context.Context, e activity.Event) error {
	p.events <- e
	if p.fail.Add(-1) >= 0 {
		return p.err
	}
	return nil
}

// drain returns the events published so far without waiting.
func (p *chanPublisher) drain() []activity.Event {
	var out []activity.Event
	for {
		select {
		case e := <-p.events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func names(events []activity.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Name)
	}
	return out
}

// hookStore wraps a Store to inject failures and interleavings.
type hookStore struct {
	activity.Store

	mu          sync.Mutex
	listErrs    []error  // returned by the next List calls, one each; nil passes through
	onUpdate    []func() // run before the next Update calls, one each
	afterUpdate []func() // run after the next Update calls, one each
	updateErr   error    // when set, every Update fails with it
	updates     atomic.Int32
}

func (h *hookStore) List(ctx context.Context, namespace string) ([]activity.Session, error) {
	h.mu.Lock()
	var err error
	if len(h.listErrs) > 0 {
		err, h.listErrs = h.listErrs[0], h.listErrs[1:]
	}
	h.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return h.Store.List(ctx, namespace)
}

func (h *hookStore) Update(ctx context.Context, s activity.Session) (activity.Session, error) {
	h.updates.Add(1)
	h.mu.Lock()
	var hook, after func()
	if len(h.onUpdate) > 0 {
		hook, h.onUpdate = h.onUpdate[0], h.onUpdate[1:]
	}
	if len(h.afterUpdate) > 0 {
		after, h.afterUpdate = h.afterUpdate[0], h.afterUpdate[1:]
	}
	err := h.updateErr
	h.mu.Unlock()
	if hook != nil {
		hook()
	}
	if err != nil {
		return activity.Session{}, err
	}
	got, err := h.Store.Update(ctx, s)
	if after != nil {
		after()
	}
	return got, err
}

// logRecorder is a slog.Handler that sends every record to records.
type logRecorder struct {
	records chan slog.Record
}

func newLogRecorder() *logRecorder {
	return &logRecorder{records: make(chan slog.Record, 1000)}
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.records <- r.Clone()
	return nil
}

func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecorder) WithGroup(string) slog.Handler      { return h }

// waitFor reads records until one with message msg and returns all it read,
// that one last.
func (h *logRecorder) waitFor(t *testing.T, msg string) []slog.Record {
	t.Helper()
	var out []slog.Record
	for {
		r := recv(t, h.records, "log "+msg)
		out = append(out, r)
		if r.Message == msg {
			return out
		}
	}
}

// attr returns the value of the record's attribute key.
func attr(r slog.Record, key string) slog.Value {
	var v slog.Value
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value
			return false
		}
		return true
	})
	return v
}
