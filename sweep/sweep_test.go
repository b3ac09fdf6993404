package sweep_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sessionkit/sessionkit/sweep"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recorder is a sweep function that reports each call on a channel.
type recorder struct {
	calls atomic.Int32
	at    chan time.Time
}

func newRecorder() *recorder { return &recorder{at: make(chan time.Time, 100)} }

func (r *recorder) fn(now time.Time) {
	r.calls.Add(1)
	r.at <- now
}

func TestFirstCallOneIntervalAfterStart(t *testing.T) {
	c := clock.NewMock()
	r := newRecorder()
	s := sweep.Start(c, time.Minute, r.fn)
	defer s.Stop()

	c.Add(time.Minute - time.Nanosecond)
	assert.Zero(t, r.calls.Load(), "call before one interval elapsed")

	c.Add(time.Nanosecond)
	got := <-r.at
	assert.True(t, got.Equal(time.Unix(60, 0)), "got tick at %v, want 60s after epoch", got)

	c.Add(time.Minute)
	got = <-r.at
	assert.True(t, got.Equal(time.Unix(120, 0)), "got tick at %v, want 120s after epoch", got)
}

func TestTicksDuringSlowCallAreCoalesced(t *testing.T) {
	c := clock.NewMock()
	entered := make(chan struct{}, 10)
	release := make(chan struct{})
	var calls atomic.Int32
	s := sweep.Start(c, time.Second, func(time.Time) {
		calls.Add(1)
		entered <- struct{}{}
		<-release
	})

	c.Add(time.Second)
	<-entered // first call is running and blocked
	for range 5 {
		c.Add(time.Second) // five ticks arrive while it runs
	}
	release <- struct{}{}
	<-entered // the coalesced call
	release <- struct{}{}
	s.Stop()
	assert.Equal(t, int32(2), calls.Load(), "got %d calls for 6 ticks during a slow call, want 2", calls.Load())
}

func TestStopWaitsForCallInProgress(t *testing.T) {
	c := clock.NewMock()
	entered := make(chan struct{})
	release := make(chan struct{})
	var finished atomic.Bool
	s := sweep.Start(c, time.Second, func(time.Time) {
		close(entered)
		<-release
		finished.Store(true)
	})
	c.Add(time.Second)
	<-entered

	stopped := make(chan struct{})
	go func() {
		s.Stop()
		close(stopped)
	}()
	select {
	case <-stopped:
		t.Fatal("Stop returned while the call was still running")
	default:
	}
	close(release)
	<-stopped
	assert.True(t, finished.Load(), "Stop returned before the call finished")
}

func TestStopIsIdempotentAndConcurrent(t *testing.T) {
	s := sweep.Start(clock.NewMock(), time.Second, func(time.Time) {})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(s.Stop)
	}
	wg.Wait()
	s.Stop()

	var zero sweep.Sweeper
	zero.Stop() // no-op
	var nilSweeper *sweep.Sweeper
	nilSweeper.Stop() // no-op
}

func TestNoCallAfterStop(t *testing.T) {
	c := clock.NewMock()
	r := newRecorder()
	s := sweep.Start(c, time.Second, r.fn)
	s.Stop()
	c.Add(10 * time.Second)
	assert.Zero(t, r.calls.Load(), "got calls after Stop")
}

func TestNilClockUsesRealClock(t *testing.T) {
	r := newRecorder()
	s := sweep.Start(nil, time.Millisecond, r.fn)
	defer s.Stop()
	select {
	case <-r.at:
	case <-time.After(10 * time.Second):
		t.Fatal("no call within 10s on the real clock with a 1ms interval")
	}
}

func TestStartPanicsOnMisuse(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration
		fn       func(time.Time)
	}{
		{"zero interval", 0, func(time.Time) {}},
		{"negative interval", -time.Second, func(time.Time) {}},
		{"nil fn", time.Second, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Panics(t, func() { sweep.Start(clock.NewMock(), tt.interval, tt.fn) })
		})
	}
}
