package processes

import (
	"context"
	"math"
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
	// the bytes appended after chunk since (with More, the bytes of this
	// page and of the pages after it, each with its own Missed, do). It
	// counts from since, so two reads at one cursor count the same bytes
	// again. It is exact for since 0, for a
	// cursor within the retained chunks and for one up to 4,000 chunks
	// behind them; for an older cursor it is a lower bound. LostBytes and
	// Missed are counted in 64 bits and saturate at math.MaxInt where int
	// is 32 bits wide (2 GiB − 1).
	Missed int
	// InvocationID identifies this incarnation of the session: it differs
	// between two sessions registered under the same ID one after the
	// other, so a client that kept a cursor can tell that the Seqs it
	// counted belong to an earlier session (as systemd's $INVOCATION_ID
	// tells two runs of one unit apart). See [Session.InvocationID].
	InvocationID string
	// More reports that [Session.Page] stopped at its bound with newer
	// chunks left: poll again from the Seq of the last chunk returned.
	More bool
}

// PageOptions bounds one [Session.Page]. The zero PageOptions bounds nothing
// and merges nothing: Page then returns what Output returns.
type PageOptions struct {
	// MaxBytes bounds the page: the sum over the returned chunks of
	// len(Data) plus ChunkOverhead, in bytes. At least one chunk is
	// returned whenever one is newer than since, even if it alone is
	// larger, so that every poll makes progress. Not positive means no
	// bound.
	MaxBytes int
	// ChunkOverhead is how many bytes each returned chunk counts against
	// MaxBytes beyond its data: the framing of the encoding it is sent in.
	// Negative counts as 0.
	ChunkOverhead int
	// Merge returns each run of consecutive chunks of one stream as one
	// chunk carrying the Seq of the last chunk of the run, so that many
	// small chunks cost one chunk's overhead.
	Merge bool
}

var realClock = clock.New()

// NeverIdle is an idle timeout that never evicts. Every idle timeout of the
// library means the same: zero inherits the enclosing default (a session's
// from its Manager, a terminal's from ptyterm.DefaultIdleTimeout), and a
// negative value, such as NeverIdle, never idles out. A Manager's own
// IdleTimeout has nothing to inherit: zero there means never too.
const NeverIdle time.Duration = -1

// Session is one process session: its output in a ring of at most
// [MaxBufferBytes], its exit, and when it was last active.
//
// A Session literal such as &Session{ID: "a"} is usable as is, with the real
// clock, for code that feeds it output itself; [Manager.Start] makes sessions
// with a process behind them. All methods are safe for concurrent use. A
// Session must not be copied after first use, and belongs to one Manager at
// most.
type Session struct {
	ID          string
	WorkspaceID string

	// What a sweep reads of each session, together, and without a lock.
	idleTimeout time.Duration // 0: the Manager's; < 0: never idle; fixed before Register
	lastOff     atomic.Int64  // LastActivity − epoch in nanoseconds
	holds       atomic.Int32  // connected clients: Hold and WaitOutput in progress
	activity    Activity      // fixed before Register

	mu   sync.Mutex
	ring ring.Ring
	clk  clock.Clock
	// real says clk is the real clock, whose elapsed time time.Since reads
	// from the monotonic clock alone, at half the cost of time.Now.
	real bool
	mgr  *Manager
	// epoch is a reading of clk (the Manager's epoch once registered);
	// activity is kept as an offset from it, measured with time.Time.Sub or
	// time.Since, which use the monotonic readings when both have one (the
	// real clock's): a step of the wall clock moves neither. LastActivity
	// is epoch plus that offset. Fixed before the session is registered.
	epoch      time.Time
	stamped    bool      // LastActivity was set
	createdAt  time.Time // when it was registered or started
	invocation string    // made once, on demand
	exit       ExitStatus
	exited     bool
	reason     error         // why it was closed; nil while open
	warnAt     time.Time     // the idle close the standing warning announces
	warnOff    int64         // lastOff when it was posted: later activity withdraws it
	warnN      uint64        // warnings posted so far
	observed   bool          // the newest chunk was returned by a read
	wake       chan struct{} // closed on every change a waiter may want
	done       chan struct{} // made on demand by Done
	doneClosed bool
	proc       *process // nil for a session without a process
	value      any      // StartOptions.Value
}

// now reads the session's clock; s.mu must be held.
func (s *Session) now() time.Time {
	if s.clk == nil {
		s.clk, s.real = realClock, true
	}
	return s.clk.Now()
}

// touch refreshes LastActivity if the session counts f; s.mu must be held.
func (s *Session) touch(f Activity) {
	if s.activity.has(f) {
		s.stampNow()
	}
}

// stampNow sets LastActivity to the clock's now; s.mu must be held.
func (s *Session) stampNow() {
	if s.real && !s.epoch.IsZero() {
		s.lastOff.Store(int64(time.Since(s.epoch)))
		s.stamped = true
		return
	}
	s.stamp(s.now())
}

// stamp sets LastActivity to t; s.mu must be held.
func (s *Session) stamp(t time.Time) {
	if s.epoch.IsZero() {
		s.epoch = t
	}
	s.lastOff.Store(int64(t.Sub(s.epoch)))
	s.stamped = true
}

// lastLocked returns LastActivity, the zero time if it was never set; s.mu
// must be held.
func (s *Session) lastLocked() time.Time {
	if !s.stamped {
		return time.Time{}
	}
	return s.epoch.Add(time.Duration(s.lastOff.Load()))
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
	return s.exited || (s.reason != nil && s.proc == nil)
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
	s.observed = false
	s.touch(ActivityOutput)
	s.notify()
	s.mu.Unlock()
}

// maxRead is the most one read takes into the ring at once, and
// minSpareRead the spare room below which a read is sized to what is
// buffered rather than to the room: a pseudo-terminal gives up to 4 KiB a
// read.
const (
	maxRead      = 1 << 20
	minSpareRead = 4 << 10
)

// appendRead appends what read yields straight into the ring, as
// ring.AppendReadTo does: into the newest chunk while no read has returned
// it yet and it is of the same stream, which nobody can tell from separate
// chunks, else as a new chunk. A child that writes one byte at a time thus
// makes chunks as small as its readers poll, not as small as its writes.
// It holds the session's lock while size and read run, so neither may
// block: the readers call it only with non-blocking descriptors.
//
// It offers read as much as the ring takes without growing (up to
// maxRead), which for a ring that reached its cap is a large read for one
// syscall; only when less than minSpareRead is spare does it ask size how
// many bytes are buffered (FIONREAD) and offer those, or one byte when
// size says none, so that the ring grows by what was written, not by a
// guess.
func (s *Session) appendRead(stream string, size func() int, read func([]byte) (int, error)) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := s.ring.Spare()
	if want < minSpareRead {
		want = max(size(), 1)
	}
	last := s.ring.Last()
	n, err := s.ring.AppendReadTo(stream, min(want, maxRead), !s.observed, read)
	if n > 0 {
		if s.ring.Last() != last {
			s.observed = false
		}
		s.touch(ActivityOutput)
		s.notify()
	}
	return n, err
}

// SetExit records the exit code; the first call wins. A process killed by
// signal N is recorded as 128+N. Whatever the session's Activity, it
// refreshes LastActivity, so that the session stays one more idle window for
// final polls; it wakes every WaitOutput and closes Done.
func (s *Session) SetExit(code int) {
	s.setExit(ExitStatus{Code: code})
}

// setExit records st as the exit, if none was; see SetExit.
func (s *Session) setExit(st ExitStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exited {
		return
	}
	st.At = s.now()
	s.exit, s.exited = st, true
	s.stamp(st.At)
	s.notify()
	s.closeDoneLocked()
}

// ExitStatus returns how the process ended, and false while it runs (or, for
// a session with no process, until SetExit). For a session whose exit was
// given to SetExit, Code is that code.
func (s *Session) ExitStatus() (ExitStatus, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exit, s.exited
}

// CreatedAt returns when the session was started or first registered, on
// its clock; the zero time for a session never registered.
func (s *Session) CreatedAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createdAt
}

// LastActivity returns when the session was last active, as its Activity
// policy counts it. It is the zero time for a session that was never active
// nor registered.
func (s *Session) LastActivity() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastLocked()
}

// LostBytes returns how many output bytes were dropped from the ring's head
// so far: total appended minus retained, exactly. It saturates at
// math.MaxInt where int is 32 bits wide.
func (s *Session) LostBytes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return clampInt(s.ring.Lost())
}

// clampInt converts a 64-bit byte count to int, saturating at math.MaxInt.
func clampInt(n int64) int {
	return int(min(n, math.MaxInt))
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
	chunks = ring.Collect(&s.ring, since, newChunk)
	s.observe(since, chunks)
	return chunks, s.exitLocked(), !s.exited
}

// Output returns one poll at cursor since: what OutputSince returns, plus the
// session's lost bytes, the bytes this cursor missed and the session's
// InvocationID. It is Page with the zero PageOptions; a server answering
// clients should use Page with a bound.
func (s *Session) Output(since int) Output {
	return s.Page(since, PageOptions{})
}

// Page returns one poll at cursor since, as Output does, bounded by opts:
// the chunks are cut at a chunk boundary once their bytes and per-chunk
// overhead would pass opts.MaxBytes, and Output.More says so. The memory it
// allocates is the returned bytes plus one Chunk header per returned chunk,
// whatever the number of chunks in the ring. Poll again from the Seq of
// the last chunk returned.
func (s *Session) Page(since int, opts PageOptions) Output {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.touch(ActivityPoll)
	chunks, more := ring.CollectPage(&s.ring, since, ring.Page{
		MaxBytes: opts.MaxBytes,
		Overhead: opts.ChunkOverhead,
		Merge:    opts.Merge,
	}, newChunk)
	s.observe(since, chunks)
	return Output{
		Chunks:       chunks,
		Exit:         s.exitLocked(),
		Alive:        !s.exited,
		LostBytes:    clampInt(s.ring.Lost()),
		Missed:       clampInt(s.ring.Missed(since)),
		InvocationID: s.invocationLocked(),
		More:         more,
	}
}

// observe notes whether a reader may hold a cursor at the newest chunk,
// after which the readers no longer add to it: a read at cursor since
// returned it, or since is at or past it (a reader there would never see
// bytes added to it, nor be told it missed them); s.mu must be held.
func (s *Session) observe(since int, chunks []Chunk) {
	if n := len(chunks); since >= s.ring.Last() || n > 0 && chunks[n-1].Seq == s.ring.Last() {
		s.observed = true
	}
}

func newChunk(stream string, seq int, data []byte) Chunk {
	return Chunk{Stream: stream, Data: data, Seq: seq}
}

func (s *Session) exitLocked() *int {
	if !s.exited {
		return nil
	}
	code := s.exit.recorded()
	return &code
}

// LastSeq returns the Seq of the newest chunk, 0 before the first: a cursor
// past it belongs to another session (see InvocationID). As a cursor, it
// is a reader that wants only what comes next: output written after
// LastSeq returns is in chunks of higher Seqs. It does not count as a
// poll.
func (s *Session) LastSeq() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observe(s.ring.Last(), nil)
	return s.ring.Last()
}

// InvocationID returns 128 random bits, URL-safe base64, that identify this
// session among every session ever registered under its ID, as systemd's
// $INVOCATION_ID identifies one run of a unit. Polls carry it in
// [Output].InvocationID, so a client that kept a cursor can tell that the
// session it polls is not the one it counted Seqs in.
func (s *Session) InvocationID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.invocationLocked()
}

func (s *Session) invocationLocked() string {
	if s.invocation == "" {
		s.invocation = newID()
	}
	return s.invocation
}

// WaitOutput blocks until a chunk with Seq > since exists, the process has
// exited, the session is closed, an idle warning is posted, or ctx is done,
// without polling. It returns nil when output, the exit or a new warning
// ([Session.IdleWarning]) is there to read (a negative since counts as 0),
// the session's [Session.CloseReason] (for which errors.Is(err, ErrClosed)
// holds) once it was closed, and ctx.Err() when ctx ends first. Read what
// arrived with [Session.Output] or [Session.Page]. While it waits, it holds
// the session as a connected client does ([Session.Hold]).
func (s *Session) WaitOutput(ctx context.Context, since int) error {
	s.mu.Lock()
	warnings := s.warnN
	s.mu.Unlock()
	return s.wait(ctx, since, warnings, false)
}

// WaitUpdate is WaitOutput for a stream, a client that forwards idle
// warnings and follows the process to its end. It also returns nil as soon
// as more than warnings warnings were posted (IdleWarning's n), even one
// posted before it was called, so that a stream that read n before it read
// the output never misses the next. And once the session is closed while
// its process runs, it goes on returning nil for the output the process
// writes while it is being terminated (SIGTERM, then SIGKILL after the
// Manager's kill grace), and returns the close reason only once the
// process has exited, so that a stream can send that output and the exit
// before it says why the session was closed. For a session without a
// process, or whose process had exited, it returns the reason at once, as
// WaitOutput does.
func (s *Session) WaitUpdate(ctx context.Context, since int, warnings uint64) error {
	return s.wait(ctx, since, warnings, true)
}

// wait is WaitOutput, and with follow WaitUpdate.
func (s *Session) wait(ctx context.Context, since int, warnings uint64, follow bool) error {
	since = max(since, 0)
	var release func()
	defer func() {
		if release != nil {
			release()
		}
	}()
	for {
		s.mu.Lock()
		s.touch(ActivityPoll)
		s.observe(since, nil)
		switch {
		case s.ring.Last() > since, s.exited && s.reason == nil, s.warnN > warnings:
			s.mu.Unlock()
			return nil
		case s.reason != nil && !(follow && s.proc != nil && !s.exited):
			err := s.reason
			s.mu.Unlock()
			return err
		}
		if s.wake == nil {
			s.wake = make(chan struct{})
		}
		wake := s.wake
		s.mu.Unlock()

		if release == nil {
			release = s.Hold()
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// WarnIdle posts a warning that the session will be closed as idle at
// closeAt, on its clock, unless it is active before then, for its clients
// to show: package ptyterm posts one WarnBefore ahead of a terminal's idle
// close, and package httpapi sends it to event streams and attachments. It
// wakes every WaitOutput. Activity after it withdraws it.
func (s *Session) WarnIdle(closeAt time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.warnAt, s.warnOff = closeAt, s.lastOff.Load()
	s.warnN++
	s.notify()
}

// IdleWarning returns the idle close that the standing warning announces
// (see WarnIdle) and how many warnings were posted so far, which tells a
// new warning from one already shown; ok is false when none stands: none
// was posted, or the session was active since.
func (s *Session) IdleWarning() (closeAt time.Time, n uint64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ok = s.warnN > 0 && s.lastOff.Load() == s.warnOff && s.reason == nil
	return s.warnAt, s.warnN, ok
}

// Hold marks the session as having a connected client (an open stream,
// attachment or long poll) until release is called. For a session whose
// Activity counts ActivityConnected (the default), while any hold is open
// the Manager's sweep does not evict the session as idle, unless the
// Manager was made WithCullConnected(true), as Jupyter's cull_connected
// says, and release counts as activity, so the idle window starts when the
// last client leaves. Release is idempotent; every Hold must be released.
func (s *Session) Hold() (release func()) {
	s.holds.Add(1)
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.touch(ActivityConnected)
			s.mu.Unlock()
			s.holds.Add(-1)
		})
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
// replacement, reclaiming or Shutdown.
func (s *Session) Closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason != nil
}

// CloseReason returns why the session was closed, nil while it is open:
// [ErrIdleTimeout], [ErrForgotten], [ErrReplaced], [ErrReclaimed] or
// [ErrShutdown]. Each of them matches ErrClosed with errors.Is.
func (s *Session) CloseReason() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}

// idleAt reports whether the session is idle at now, given as an offset
// from the Manager's epoch, which is the session's: now − LastActivity is
// strictly more than its idle timeout, the Manager's def unless it has its
// own, and, unless cull, no client holds it. A timeout <= 0 is never idle.
// It takes no lock, so that a sweep reads three words of each session, side
// by side.
func (s *Session) idleAt(now int64, def time.Duration, cull bool) bool {
	timeout := def
	if s.idleTimeout != 0 {
		timeout = s.idleTimeout
	}
	if timeout <= 0 || (!cull && s.holds.Load() > 0 && s.activity.has(ActivityConnected)) {
		return false
	}
	return now-s.lastOff.Load() > int64(timeout)
}

// shut closes the session for reason: waiters get it and, with no process
// behind it, Done is closed. It returns the process to terminate, if it has
// one and was not closed before.
func (s *Session) shut(reason error) *process {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reason != nil {
		return nil
	}
	s.reason = reason
	s.notify()
	s.closeDoneLocked()
	// Even an exited process is returned: descendants may outlive it.
	return s.proc
}
