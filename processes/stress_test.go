package processes_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"

	"github.com/sessionkit/sessionkit/internal/ring"
	"github.com/sessionkit/sessionkit/processes"
)

// TestStressSession runs appenders, pollers and waiters on one session at
// once and checks, at every poll, what the ring promises: Seq strictly
// increasing by one after the cursor, no more than the cap in one poll, and
// Missed exact while the cursor is within ring.HistoryChunks chunks of the
// retained ones, a lower bound that never overstates otherwise. One poller
// lags on purpose, a seed chunk behind the whole run, so that the
// lower-bound case is checked in every run, not only when the scheduler
// starves a poller.
func TestStressSession(t *testing.T) {
	s := &processes.Session{ID: "stress"}
	const appenders, perAppender = 4, 2000
	var appended atomic.Int64
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	s.Append("stdout", []byte("seed"))
	appended.Add(4)
	lagging := &cursor{}
	lagging.poll(t, s) // sees the seed, then nothing until the end

	for a := range appenders {
		wg.Go(func() {
			data := make([]byte, 1+a*700)
			for range perAppender {
				s.Append("stdout", data)
				appended.Add(int64(len(data)))
			}
		})
	}
	var pollers sync.WaitGroup
	for range 4 {
		pollers.Go(func() {
			c := &cursor{}
			for ctx.Err() == nil {
				if !c.poll(t, s) {
					return
				}
			}
			c.poll(t, s) // final drain, after the last Append
			c.checkTotals(t, appended.Load())
		})
	}
	for range 4 {
		pollers.Go(func() {
			since := 0
			for ctx.Err() == nil {
				if err := s.WaitOutput(ctx, since); err != nil {
					return
				}
				chunks, _, _ := s.OutputSince(since)
				if len(chunks) > 0 {
					since = chunks[len(chunks)-1].Seq
				}
			}
		})
	}
	wg.Wait()
	cancel()
	pollers.Wait()

	// 8,000 chunks of at least one byte and at most 1 MiB retained: the
	// seed's boundary is long forgotten.
	lagging.poll(t, s)
	assert.Equal(t, 1, lagging.lowerBounds, "got %d lower-bound polls for the lagging cursor, want 1", lagging.lowerBounds)
	lagging.checkTotals(t, appended.Load())

	chunks, _, _ := s.OutputSince(0)
	retained := 0
	for _, c := range chunks {
		retained += len(c.Data)
	}
	assert.Equal(t, appended.Load(), int64(retained+s.LostBytes()), "retained + lost != appended")
}

// cursor is one poller of a session: its cursor, what its polls returned
// and reported, and, kept apart, the exact truth to compare them with.
type cursor struct {
	since    int
	received int // bytes of the chunks returned
	missed   int // sum of the Missed reported
	// consumed is exact: the bytes appended up to the end of chunk since,
	// the cumulative offset where that chunk ends.
	consumed    int
	lowerBounds int // polls where Missed is only promised as a lower bound
}

// poll polls s once at the cursor, checks the poll and moves the cursor
// past it. It reports a failure with t.Errorf, safe from any goroutine, and
// returns false then.
//
// The truth for Missed needs no model of the appends: the bytes dropped
// from the head are out.LostBytes, the first of them at offset 0, so this
// cursor, whose chunk ends at offset consumed, missed max(0, LostBytes −
// consumed) of them. Whenever that is positive, every retained chunk lies
// after the cursor and comes back in the poll, so consumed + missed +
// received is everything appended at the time of the poll.
func (c *cursor) poll(t *testing.T, s *processes.Session) bool {
	out := s.Output(c.since)
	received := 0
	for i, ch := range out.Chunks {
		if ch.Seq <= c.since || (i > 0 && ch.Seq != out.Chunks[i-1].Seq+1) {
			t.Errorf("seq %d after cursor %d not strictly increasing by one", ch.Seq, c.since)
			return false
		}
		received += len(ch.Data)
	}
	if received > processes.MaxBufferBytes {
		t.Errorf("got %d bytes in one poll, over the cap", received)
		return false
	}
	truth := max(0, out.LostBytes-c.consumed)
	// The ring remembers the boundaries of HistoryChunks dropped chunks:
	// Missed is exact for cursor 0, a cursor at or past the chunk before
	// the oldest retained one, and one up to HistoryChunks chunks behind.
	exact := len(out.Chunks) == 0 || c.since == 0 || c.since+ring.HistoryChunks+1 >= out.Chunks[0].Seq
	switch {
	case exact && out.Missed != truth:
		t.Errorf("cursor %d: got Missed %d, want exactly %d", c.since, out.Missed, truth)
		return false
	case !exact && out.Missed > truth:
		t.Errorf("cursor %d: got Missed %d, over the %d bytes really missed", c.since, out.Missed, truth)
		return false
	case !exact && out.Missed < out.Chunks[0].Seq-1-c.since:
		// At least one byte for each chunk dropped after the cursor.
		t.Errorf("cursor %d: got Missed %d, under the %d chunks dropped", c.since, out.Missed, out.Chunks[0].Seq-1-c.since)
		return false
	}
	if !exact {
		c.lowerBounds++
	}
	c.received += received
	c.missed += out.Missed
	c.consumed += truth + received
	if len(out.Chunks) > 0 {
		c.since = out.Chunks[len(out.Chunks)-1].Seq
	}
	return true
}

// checkTotals checks a cursor that polled past the last Append: it
// accounted for every byte appended, and the Missed it was told add up to
// exactly what it missed when no poll was a lower bound, never more.
func (c *cursor) checkTotals(t *testing.T, appended int64) {
	t.Helper()
	if int64(c.consumed) != appended {
		t.Errorf("cursor accounted for %d bytes, want the %d appended", c.consumed, appended)
	}
	switch got := int64(c.received + c.missed); {
	case c.lowerBounds == 0 && got != appended:
		t.Errorf("received %d + missed %d != appended %d", c.received, c.missed, appended)
	case got > appended:
		t.Errorf("received %d + missed %d > appended %d after %d lower-bound polls", c.received, c.missed, appended, c.lowerBounds)
	}
}

// TestStressManager registers, gets, forgets and sweeps from many goroutines.
func TestStressManager(t *testing.T) {
	c := clock.NewMock()
	m := processes.NewManager(time.Second, processes.WithClock(c))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				id := fmt.Sprint(i % 50)
				switch (g + i) % 4 {
				case 0:
					s := &processes.Session{ID: id}
					m.Register(s)
					s.Append("stdout", []byte(id))
				case 1:
					if s, ok := m.Get(id); ok {
						s.Output(0)
					}
				case 2:
					m.Forget(id)
				case 3:
					m.Sweep()
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			c.Add(300 * time.Millisecond)
		}
	})
	wg.Wait()
	c.Add(2 * time.Second)
	m.Sweep()
	assert.Zero(t, m.Len(), "sessions left after every one went idle")
}
