package ring

import "math"

// Page bounds one collection by [CollectPage]. The zero Page bounds nothing
// and merges nothing: CollectPage then returns what [Collect] returns.
type Page struct {
	// MaxBytes bounds Σ(len(data) + Overhead) over the returned chunks.
	// Zero or less: no bound.
	MaxBytes int
	// Overhead is the bytes counted per returned chunk against MaxBytes, such
	// as an encoding's framing of a chunk. Negative counts as 0.
	Overhead int
	// Merge returns each run of consecutive chunks of one stream as one chunk
	// carrying the Seq of the last chunk merged, its Overhead counted once.
	Merge bool
}

// CollectPage returns a copy of the retained chunks with Seq > since, oldest
// first and bounded by opts, made by mk from each chunk's stream, Seq and
// data, and whether chunks newer than the last returned remain. A negative
// since counts as 0; a since at or past Last() returns nil, false. The next
// page starts at the Seq of the last chunk returned.
//
// Chunks are cut only at their boundaries: the page ends before the first
// chunk whose bytes and overhead would take the total past opts.MaxBytes,
// and a merged chunk is a run of whole chunks that stops there too. At least
// one chunk is returned whenever one is newer than since, whole even if it
// alone passes the bound, so that a reader always progresses; the oldest
// retained chunk may have been cut at its front, as for Collect.
//
// CollectPage examines the chunks it returns and, with a bound, the one after
// them; without a bound it examines every chunk newer than since, and with
// neither bound nor Merge it does not look at the boundaries before copying.
// It allocates twice, for exactly the returned bytes (every chunk's data is a
// full slice expression of one buffer) and for exactly the returned chunks,
// and nothing when no chunk is newer than since. It returns no error.
func CollectPage[C any](r *Ring, since int, opts Page, mk func(stream string, seq int, data []byte) C) (out []C, more bool) {
	since = max(since, 0)
	if since >= r.last {
		return nil, false
	}
	from := max(since+1, r.first)
	n := r.last - from + 1 // chunks newer than since
	base := max(r.start(from), r.begin)
	k, count, end := n, n, r.total // chunks taken, chunks returned, end offset
	if opts.MaxBytes > 0 || opts.Merge {
		k, count, end = r.cut(from, n, base, opts)
	}

	data := make([]byte, end-base)
	r.read(data, base)
	out = make([]C, 0, count)
	sid, seq, s := r.entry(from)>>offsetBits, from, uint64(0)
	if count == 1 { // one run, or one chunk: no need to find its boundaries
		return append(out, mk(r.streams[sid], from+k-1, data[:len(data):len(data)])), k < n
	}
	// The entry of each chunk after the first ends the chunk before it.
	a, b := r.span(from+1, k-1)
	for _, seg := range [2][]uint64{a, b} {
		for _, e := range seg {
			if !opts.Merge || e>>offsetBits != sid {
				stop := (e - uint64(base)) & offsetMask // offset in data
				out = append(out, mk(r.streams[sid], seq, data[s:stop:stop]))
				s = stop
			}
			sid = e >> offsetBits
			seq++
		}
	}
	return append(out, mk(r.streams[sid], seq, data[s:len(data):len(data)])), k < n
}

// cut decides a page of the n chunks from Seq from on, the first starting at
// base: it returns how many chunks the page takes, how many chunks it returns
// (fewer when merged) and the offset where it ends. It stops at the first
// chunk that does not fit, having read only the boundary after it.
//
// Offsets are taken relative to base, where entries modulo 2^56 give them
// exactly. room is where the page may end: MaxBytes less the overhead of the
// chunks it returns, updated once per returned chunk, so that a chunk merged
// into a run costs one comparison.
func (r *Ring) cut(from, n int, base int64, opts Page) (k, count int, end int64) {
	room, ov := uint64(math.MaxUint64), uint64(0)
	if opts.MaxBytes > 0 {
		room, ov = uint64(opts.MaxBytes), uint64(max(opts.Overhead, 0))
	}
	prev := uint64(maxStreams) // stream of the chunk before: none
	sid, start := r.entry(from)>>offsetBits, uint64(0)
	// The entry of each chunk after the first ends the chunk before it; the
	// newest ends at total, which tail packs.
	a, b := r.span(from+1, n-1)
	tail := [1]uint64{uint64(r.total) & offsetMask}
	for _, seg := range [3][]uint64{a, b, tail[:]} {
		for _, e := range seg {
			stop := (e - uint64(base)) & offsetMask
			fresh := !opts.Merge || sid != prev // starts a returned chunk
			if fresh {
				if ov > room {
					return ended(k, count, base, start, stop)
				}
				room -= ov
			}
			if stop > room {
				return ended(k, count, base, start, stop)
			}
			if fresh {
				count++
			}
			k++
			prev, sid, start = sid, e>>offsetBits, stop
		}
	}
	return k, count, base + int64(start)
}

// ended returns cut's results for a page that ends before the chunk from
// start to stop, with k chunks and count returned chunks taken, or with that
// chunk alone if it is the first.
func ended(k, count int, base int64, start, stop uint64) (int, int, int64) {
	if k == 0 { // alone past the bound: whole, and alone
		return 1, 1, base + int64(stop)
	}
	return k, count, base + int64(start)
}
