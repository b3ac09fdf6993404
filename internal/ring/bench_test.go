package ring_test

import (
	"testing"

	"github.com/sessionkit/sessionkit/internal/ring"
)

const chunkSize = 4 << 10

// BenchmarkCopyBaseline is the bare baseline for BenchmarkAppendFull: a copy
// of 4 KiB at rotating offsets in a 1 MiB buffer.
func BenchmarkCopyBaseline(b *testing.B) {
	buf := make([]byte, ring.DefaultCap)
	src := make([]byte, chunkSize)
	b.SetBytes(chunkSize)
	b.ReportAllocs()
	off := 0
	for b.Loop() {
		copy(buf[off:off+chunkSize], src)
		off = (off + chunkSize + 64) % (len(buf) - chunkSize)
	}
}

// BenchmarkAppendFull appends 4 KiB chunks into a full 1 MiB ring.
func BenchmarkAppendFull(b *testing.B) {
	var r ring.Ring
	src := make([]byte, chunkSize)
	for r.Retained() < r.Cap() || r.First() <= ring.HistoryChunks {
		r.Append("stdout", src)
	}
	b.SetBytes(chunkSize)
	b.ReportAllocs()
	for b.Loop() {
		r.Append("stdout", src)
	}
}

// BenchmarkCopy1MiBBaseline is the bare baseline for BenchmarkCollectFull.
func BenchmarkCopy1MiBBaseline(b *testing.B) {
	src := make([]byte, ring.DefaultCap)
	b.SetBytes(ring.DefaultCap)
	b.ReportAllocs()
	for b.Loop() {
		dst := make([]byte, len(src))
		copy(dst, src)
	}
}

// BenchmarkCollectFull copies out a full 1 MiB ring of 4 KiB chunks.
func BenchmarkCollectFull(b *testing.B) {
	var r ring.Ring
	src := make([]byte, chunkSize)
	for r.Retained() < r.Cap() {
		r.Append("stdout", src)
	}
	b.SetBytes(ring.DefaultCap)
	b.ReportAllocs()
	for b.Loop() {
		ring.Collect(&r, 0, mk)
	}
}
