package processes_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/sessionkit/sessionkit/processes"
)

const chunk4K = 4 << 10

// BenchmarkCopyBaseline is the bare baseline of BenchmarkAppendFull: a copy
// of 4 KiB at rotating offsets in a 1 MiB buffer.
func BenchmarkCopyBaseline(b *testing.B) {
	buf := make([]byte, processes.MaxBufferBytes)
	src := make([]byte, chunk4K)
	b.SetBytes(chunk4K)
	b.ReportAllocs()
	off := 0
	for b.Loop() {
		copy(buf[off:off+chunk4K], src)
		off = (off + chunk4K + 64) % (len(buf) - chunk4K)
	}
}

func fullSession() *processes.Session {
	s := &processes.Session{ID: "full"}
	src := make([]byte, chunk4K)
	// Past the cap and the remembered boundaries of dropped chunks, so that
	// the ring is in its steady state.
	for range 4000 + 2*processes.MaxBufferBytes/chunk4K {
		s.Append("stdout", src)
	}
	return s
}

// BenchmarkAppendFull appends 4 KiB chunks into a session whose ring is full.
func BenchmarkAppendFull(b *testing.B) {
	s := fullSession()
	src := make([]byte, chunk4K)
	b.SetBytes(chunk4K)
	b.ReportAllocs()
	for b.Loop() {
		s.Append("stdout", src)
	}
}

// BenchmarkOutputSinceNothingNew polls a full session at its newest Seq.
func BenchmarkOutputSinceNothingNew(b *testing.B) {
	s := fullSession()
	chunks, _, _ := s.OutputSince(0)
	last := chunks[len(chunks)-1].Seq
	b.ReportAllocs()
	for b.Loop() {
		s.OutputSince(last)
	}
}

// BenchmarkCopy1MiBBaseline is the bare baseline of BenchmarkOutputSinceFull:
// a new 1 MiB slice and a copy into it.
func BenchmarkCopy1MiBBaseline(b *testing.B) {
	src := make([]byte, processes.MaxBufferBytes)
	b.SetBytes(processes.MaxBufferBytes)
	b.ReportAllocs()
	for b.Loop() {
		dst := make([]byte, len(src))
		copy(dst, src)
	}
}

// BenchmarkOutputSinceFull copies out a full 1 MiB ring of 4 KiB chunks.
func BenchmarkOutputSinceFull(b *testing.B) {
	s := fullSession()
	b.SetBytes(processes.MaxBufferBytes)
	b.ReportAllocs()
	for b.Loop() {
		s.OutputSince(0)
	}
}

// BenchmarkSweep100k sweeps 100,000 registered sessions, none of them idle,
// so that every iteration scans the same table.
func BenchmarkSweep100k(b *testing.B) {
	c := clock.NewMock()
	m := processes.NewManager(time.Hour, processes.WithClock(c))
	for i := range 100_000 {
		m.Register(&processes.Session{ID: fmt.Sprint("session-", i)})
	}
	b.ReportAllocs()
	for b.Loop() {
		m.Sweep()
	}
	if m.Len() != 100_000 {
		b.Fatalf("got %d sessions after sweeping active ones, want 100000", m.Len())
	}
}

// BenchmarkWaitOutputWake measures the time from an Append to the return of
// a WaitOutput that was blocked on it, and reports the median.
func BenchmarkWaitOutputWake(b *testing.B) {
	s := &processes.Session{ID: "wake"}
	ctx := context.Background()
	woke := make(chan time.Time)
	ready := make(chan struct{})
	go func() {
		for since := 0; ; since++ {
			ready <- struct{}{}
			if err := s.WaitOutput(ctx, since); err != nil {
				return
			}
			if _, exit, _ := s.OutputSince(since); exit != nil {
				close(woke)
				return
			}
			woke <- time.Now()
		}
	}()
	lat := make([]time.Duration, 0, b.N)
	data := []byte("x")
	for b.Loop() {
		<-ready
		// Give the waiter time to block, so that the wake-up is measured
		// rather than a race won by the waiter.
		for range 50 {
			runtime.Gosched()
		}
		t0 := time.Now()
		s.Append("stdout", data)
		lat = append(lat, (<-woke).Sub(t0))
	}
	<-ready
	s.SetExit(0)
	<-woke
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "median-ns/wake")
}

// BenchmarkIdleSessionHeap reports the heap held per registered session that
// has printed nothing (the target is at most 4 KiB).
func BenchmarkIdleSessionHeap(b *testing.B) {
	for b.Loop() {
		b.ReportMetric(heapPerSession(10_000, 0), "B/session")
	}
}

// BenchmarkSmallSessionHeap reports the heap held per session that printed
// 100 bytes: memory follows what is retained, not the cap.
func BenchmarkSmallSessionHeap(b *testing.B) {
	for b.Loop() {
		b.ReportMetric(heapPerSession(10_000, 100), "B/session")
	}
}
