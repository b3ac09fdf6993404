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

	"github.com/sessionkit/sessionkit/processes"
)

// TestStressSession runs appenders, pollers and waiters on one session at
// once and checks the invariants every poller sees.
func TestStressSession(t *testing.T) {
	s := &processes.Session{ID: "stress"}
	const appenders, perAppender = 4, 2000
	var appended atomic.Int64
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

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
			since, received, missed := 0, 0, 0
			for ctx.Err() == nil {
				out := s.Output(since)
				for i, c := range out.Chunks {
					if c.Seq <= since || (i > 0 && c.Seq != out.Chunks[i-1].Seq+1) {
						t.Errorf("seq %d after cursor %d not strictly increasing by one", c.Seq, since)
						return
					}
					received += len(c.Data)
				}
				retained := 0
				for _, c := range out.Chunks {
					retained += len(c.Data)
				}
				if retained > processes.MaxBufferBytes {
					t.Errorf("got %d bytes in one poll, over the cap", retained)
				}
				missed += out.Missed
				if len(out.Chunks) > 0 {
					since = out.Chunks[len(out.Chunks)-1].Seq
				}
			}
			// Final drain: everything appended is received or missed.
			out := s.Output(since)
			for _, c := range out.Chunks {
				received += len(c.Data)
			}
			missed += out.Missed
			if int64(received+missed) != appended.Load() {
				t.Errorf("received %d + missed %d != appended %d", received, missed, appended.Load())
			}
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
	chunks, _, _ := s.OutputSince(0)
	retained := 0
	for _, c := range chunks {
		retained += len(c.Data)
	}
	assert.Equal(t, appended.Load(), int64(retained+s.LostBytes()), "retained + lost != appended")
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
