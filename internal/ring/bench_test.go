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

// fullOfBytes returns a full 1 MiB ring of one-byte chunks of one stream, the
// most chunks a ring can hold, that remembers HistoryChunks dropped ones: its
// boundary ring is at its largest.
func fullOfBytes(b *testing.B) *ring.Ring {
	b.Helper()
	var r ring.Ring
	one := []byte{'x'}
	for r.First() <= ring.HistoryChunks+1 {
		r.Append("stdout", one)
	}
	return &r
}

// BenchmarkCollectPageMerged1Byte pages a full 1 MiB ring of one-byte
// chunks with a 4 MiB bound and Merge: one merged chunk of 1 MiB. Compare
// with BenchmarkCopy1MiBBaseline; the difference is the walk over a million
// boundaries.
func BenchmarkCollectPageMerged1Byte(b *testing.B) {
	r := fullOfBytes(b)
	page := ring.Page{MaxBytes: 4 << 20, Overhead: 48, Merge: true}
	b.SetBytes(ring.DefaultCap)
	b.ReportAllocs()
	for b.Loop() {
		ring.CollectPage(r, 0, page, mk)
	}
}

// BenchmarkCollectPageBounded1Byte pages 64 KiB, merged, out of a full ring of
// one-byte chunks: the work follows the page, not the ring. Compare with
// BenchmarkCopy64KiBBaseline.
func BenchmarkCollectPageBounded1Byte(b *testing.B) {
	r := fullOfBytes(b)
	page := ring.Page{MaxBytes: 64 << 10, Merge: true}
	b.SetBytes(64 << 10)
	b.ReportAllocs()
	for b.Loop() {
		ring.CollectPage(r, 0, page, mk)
	}
}

// BenchmarkCopy64KiBBaseline is the bare baseline for
// BenchmarkCollectPageBounded1Byte.
func BenchmarkCopy64KiBBaseline(b *testing.B) {
	src := make([]byte, 64<<10)
	b.SetBytes(64 << 10)
	b.ReportAllocs()
	for b.Loop() {
		dst := make([]byte, len(src))
		copy(dst, src)
	}
}

// BenchmarkCollectPageFull pages a full 1 MiB ring of 4 KiB chunks with no
// bound: BenchmarkCollectFull through CollectPage.
func BenchmarkCollectPageFull(b *testing.B) {
	var r ring.Ring
	src := make([]byte, chunkSize)
	for r.Retained() < r.Cap() {
		r.Append("stdout", src)
	}
	b.SetBytes(ring.DefaultCap)
	b.ReportAllocs()
	for b.Loop() {
		ring.CollectPage(&r, 0, ring.Page{}, mk)
	}
}

// BenchmarkAppend1Byte appends one-byte chunks into a full ring of them, the
// baseline for BenchmarkAppendReadTo1Byte; footprint-B is the ring's memory.
func BenchmarkAppend1Byte(b *testing.B) {
	r := fullOfBytes(b)
	one := []byte{'x'}
	b.SetBytes(1)
	b.ReportAllocs()
	for b.Loop() {
		r.Append("stdout", one)
	}
	b.ReportMetric(float64(r.Footprint()), "footprint-B")
}

// BenchmarkAppendRead1Byte reads one byte at a time into new chunks.
func BenchmarkAppendRead1Byte(b *testing.B) {
	r := fullOfBytes(b)
	read := func(p []byte) (int, error) { p[0] = 'x'; return 1, nil }
	b.SetBytes(1)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = r.AppendRead("stdout", 1, read)
	}
	b.ReportMetric(float64(r.Footprint()), "footprint-B")
}

// BenchmarkAppendReadTo1Byte reads one byte at a time into the newest chunk,
// extending it up to MaxExtend, in a full ring that started as one-byte
// chunks.
func BenchmarkAppendReadTo1Byte(b *testing.B) {
	r := fullOfBytes(b)
	read := func(p []byte) (int, error) { p[0] = 'x'; return 1, nil }
	b.SetBytes(1)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = r.AppendReadTo("stdout", 1, true, read)
	}
	b.ReportMetric(float64(r.Footprint()), "footprint-B")
}
