package processes

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/sessionkit/sessionkit/internal/ring"
)

// MaxBufferBytes is the most output bytes a session retains: 1 MiB.
const MaxBufferBytes = 1 << 20

// The ring's default cap is the session's cap.
var _ [MaxBufferBytes - ring.DefaultCap]struct{}
var _ [ring.DefaultCap - MaxBufferBytes]struct{}

// Chunk is one piece of a session's output: the data of one Append, or what
// survives of it at the head of the ring.
type Chunk struct {
	Stream string `json:"stream"` // "stdout" or "stderr"
	Data   []byte `json:"-"`
	Seq    int    `json:"seq"`
}

// Output is one poll of a session: what [Session.OutputSince] returns plus
// what a poller needs to warn precisely about dropped output.
type Output struct {
	// Chunks are copies of the retained chunks with Seq > since, oldest first.
	Chunks []Chunk
	// Exit is the exit code, nil while the process runs.
	Exit *int
	// Alive is false once the exit was recorded.
	Alive bool
	// LostBytes is the session's total of bytes dropped from the ring's head.
	LostBytes int
	// Missed is how many bytes appended after since this cursor will never
	// see because they were dropped: the bytes in Chunks plus Missed equal
	// the bytes appended after chunk since. It is exact for since 0, for a
	// cursor within the retained chunks and for one up to 4,000 chunks
	// behind them; for an older cursor it is a lower bound.
	Missed int
}

var realClock = clock.New()

// Session is one process session: its output in a ring of at most
// [MaxBufferBytes], its exit, and when it was last active.
//
// A Session literal such as &Session{ID: "a"} is usable as is, with the real
// clock, for code that feeds it output itself; [Manager.Start] makes sessions
// with a process behind them. All methods are safe for concurrent use. A
// Session must not be copied after first use.
type Session struct {
	ID          string
	WorkspaceID string

	mu           sync.Mutex
	ring         ring.Ring
	clk          clock.Clock
	mgr          *Manager
	createdAt    time.Time // when it was registered or started
	lastActivity time.Time
	lastNano     atomic.Int64 // lastActivity as Unix nanoseconds, for Sweep
	activity     Activity
	idleTimeout  time.Duration // 0: the Manager's; < 0: never idle; fixed before Register
	exitCode     int
	exited       bool
	exitedAt     time.Time
	closed       bool
	wake         chan struct{} // closed on every change a waiter may want
	done         chan struct{} // made on demand by Done
	doneClosed   bool
	proc         *process // nil for a session without a process
	value        any      // StartOptions.Value
}

// now reads the session's clock; s.mu must be held.
func (s *Session) now() time.Time {
	if s.clk == nil {
		return realClock.Now()
	}
	return s.clk.Now()
}

// touch refreshes LastActivity if the session counts f; s.mu must be held.
func (s *Session) touch(f Activity) {
	if s.activity.has(f) {
		s.stamp(s.now())
	}
}

// stamp sets LastActivity; s.mu must be held.
func (s *Session) stamp(t time.Time) {
	s.lastActivity = t
	s.lastNano.Store(t.UnixNano())
}

// notify wakes every waiter; s.mu must be held.
func (s *Session) notify() {
	if s.wake != nil {
		close(s.wake)
		s.wake = nil
	}
}

// finishedLocked reports whether Done is due: the exit was recorded, or the
// session was closed with no process to wait for.
func (s *Session) finishedLocked() bool {
	return s.exited || (s.closed && s.proc == nil)
}

func (s *Session) closeDoneLocked() {
	if s.done != nil && !s.doneClosed && s.finishedLocked() {
		close(s.done)
		s.doneClosed = true
	}
}

// Append adds a copy of data to the output as one chunk of the given stream,
// with Seq one more than the previous chunk's (the first is 1), and refreshes
// LastActivity when output counts as activity. Empty data appends nothing. The
// caller may reuse data once Append returns. When the ring is full, whole
// chunks are dropped from its head and the oldest survivor is cut at its front,
// so that it retains exactly min(total appended, MaxBufferBytes) bytes.
// Append panics if a session is given more than 255 distinct stream names.
func (s *Session) Append(stream string, data []byte) {
	if len(data) == 0 {
		return
	}
	s.mu.Lock()
	s.ring.Append(stream, data)
	s.touch(ActivityOutput)
	s.notify()
	s.mu.Unlock()
}

// appendRead appends one chunk read by read straight into the ring, as
// ring.AppendRead does. It holds the session's lock while read runs, so read
// must not block: the readers call it only with non-blocking descriptors.
func (s *Session) appendRead(stream string, want int, read func([]byte) (int, error)) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.ring.AppendRead(stream, want, read)
	if n > 0 {
		s.touch(ActivityOutput)
		s.notify()
	}
	return n, err
}

// SetExit records the exit code; the first call wins. A process killed by
// signal N is recorded as 128+N. It refreshes LastActivity when output counts
// as activity, so that the session stays one more idle window for final
// polls, and wakes every WaitOutput and closes Done.
func (s *Session) SetExit(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exited {
		return
	}
	s.exitCode, s.exited = code, true
	s.exitedAt = s.now()
	s.touch(ActivityOutput)
	s.notify()
	s.closeDoneLocked()
}

// LastActivity returns when the session was last active, as its Activity
// policy counts it. It is the zero time for a session that was never active
// nor registered.
func (s *Session) LastActivity() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastActivity
}

// LostBytes returns how many output bytes were dropped from the ring's head
// so far: total appended minus retained, exactly.
func (s *Session) LostBytes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int(s.ring.Lost())
}

// OutputSince returns copies of every retained chunk with Seq > since, oldest
// first (a negative since counts as 0, and a since at or beyond the newest Seq
// returns no chunks), the exit code (nil while running) and whether the
// process is alive (false once SetExit was called). The chunks are the
// caller's to keep and modify.
func (s *Session) OutputSince(since int) (chunks []Chunk, exit *int, alive bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.touch(ActivityPoll)
	return ring.Collect(&s.ring, since, newChunk), s.exitLocked(), !s.exited
}

// Output returns one poll at cursor since: what OutputSince returns, plus the
// session's lost bytes and the bytes this cursor missed.
func (s *Session) Output(since int) Output {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.touch(ActivityPoll)
	return Output{
		Chunks:    ring.Collect(&s.ring, since, newChunk),
		Exit:      s.exitLocked(),
		Alive:     !s.exited,
		LostBytes: int(s.ring.Lost()),
		Missed:    int(s.ring.Missed(since)),
	}
}

func newChunk(stream string, seq int, data []byte) Chunk {
	return Chunk{Stream: stream, Data: data, Seq: seq}
}

func (s *Session) exitLocked() *int {
	if !s.exited {
		return nil
	}
	code := s.exitCode
	return &code
}

// WaitOutput blocks until a chunk with Seq > since exists, the process has
// exited, the session is closed, or ctx is done, without polling. It returns
// nil when output or the exit is there to read (a negative since counts as
// 0), [ErrClosed] once the session was forgotten or evicted, and ctx.Err()
// when ctx ends first. Read what arrived with [Session.Output].
func (s *Session) WaitOutput(ctx context.Context, since int) error {
	since = max(since, 0)
	for {
		s.mu.Lock()
		s.touch(ActivityPoll)
		switch {
		case s.ring.Last() > since, s.exited && !s.closed:
			s.mu.Unlock()
			return nil
		case s.closed:
			s.mu.Unlock()
			return ErrClosed
		}
		if s.wake == nil {
			s.wake = make(chan struct{})
		}
		wake := s.wake
		s.mu.Unlock()

		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Done returns a channel that is closed once the session is finished: its
// process exited and all of its output is in the ring (SetExit was called),
// or, for a session with no process, once it was closed by Forget or eviction.
func (s *Session) Done() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done == nil {
		s.done = make(chan struct{})
		s.closeDoneLocked()
	}
	return s.done
}

// Closed reports whether the session was closed by Forget, eviction,
// replacement or Shutdown.
func (s *Session) Closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// idleAt reports whether the session is idle at now, given in Unix
// nanoseconds: now − LastActivity is strictly more than its idle timeout, the
// Manager's def unless it has its own. A timeout <= 0 is never idle. It takes
// no lock, so that a sweep touches one word of each session.
func (s *Session) idleAt(now int64, def time.Duration) bool {
	timeout := def
	if s.idleTimeout != 0 {
		timeout = s.idleTimeout
	}
	return timeout > 0 && now-s.lastNano.Load() > int64(timeout)
}

// shut closes the session: waiters get ErrClosed and, with no process behind
// it, Done is closed. It returns the process to terminate, if it has one and
// was not closed before.
func (s *Session) shut() *process {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.notify()
	s.closeDoneLocked()
	// Even an exited process is returned: descendants may outlive it.
	return s.proc
}
