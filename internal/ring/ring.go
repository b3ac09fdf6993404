package ring

// DefaultCap is the cap of a Ring whose cap was not set: 1 MiB.
const DefaultCap = 1 << 20

// HistoryChunks is how many chunk boundaries are remembered after their
// chunks were dropped from the head, so that [Ring.Missed] stays exact for a
// cursor that fell behind the retained chunks by up to this many chunks.
const HistoryChunks = 4000

const (
	minBuf     = 64 // smallest data buffer allocated
	minEnts    = 8  // smallest boundary ring allocated
	offsetBits = 56
	offsetMask = 1<<offsetBits - 1
	maxStreams = 1 << (64 - offsetBits)
)

// Ring is a byte-capped ring of chunks with consecutive sequence numbers, the
// first being 1. The zero Ring is empty with cap [DefaultCap].
//
// Chunk seq s for s in [first, last] is retained; the boundaries of chunks in
// [histSeq, first) are remembered for Missed. Entry i of ents, counted from
// eHead, belongs to seq histSeq+i and packs the chunk's stream index (top 8
// bits) with the cumulative offset of its first byte (low 56 bits). A chunk
// ends where the next one starts, the newest at total. The byte at cumulative
// offset o lives at buf[o % len(buf)].
type Ring struct {
	limit   int
	buf     []byte
	ents    []uint64
	eHead   int
	eLen    int
	histSeq int
	first   int
	last    int
	total   int64
	begin   int64
	streams []string
}

// New returns an empty ring that retains at most cap bytes. It panics if cap
// is not positive.
func New(cap int) *Ring {
	if cap <= 0 {
		panic("ring: non-positive cap")
	}
	return &Ring{limit: cap}
}

// Cap returns the most bytes r retains.
func (r *Ring) Cap() int {
	if r.limit == 0 {
		return DefaultCap
	}
	return r.limit
}

// Last returns the Seq of the newest chunk, 0 before the first Append.
func (r *Ring) Last() int { return r.last }

// First returns the Seq of the oldest retained chunk, 0 before the first
// Append.
func (r *Ring) First() int { return r.first }

// Len returns the number of retained chunks.
func (r *Ring) Len() int {
	if r.last == 0 {
		return 0
	}
	return r.last - r.first + 1
}

// Appended returns the bytes ever appended.
func (r *Ring) Appended() int64 { return r.total }

// Retained returns the bytes held: min(Appended, Cap).
func (r *Ring) Retained() int { return int(r.total - r.begin) }

// Lost returns the bytes dropped from the head: Appended − Retained.
func (r *Ring) Lost() int64 { return r.begin }

// Footprint returns the bytes of memory the ring holds for data and chunk
// boundaries, for tests and benchmarks of memory use.
func (r *Ring) Footprint() int { return cap(r.buf) + 8*cap(r.ents) }

// Append adds data as one chunk of the given stream with Seq = Last()+1 and
// copies it: the caller may reuse data. Empty data appends nothing. Whole
// chunks are dropped from the head to stay within the cap, and the oldest
// survivor is cut at its front; a single append larger than the cap keeps its
// last Cap() bytes. It panics if more than 255 distinct stream names are
// used, which only a programming error can do.
func (r *Ring) Append(stream string, data []byte) {
	n := len(data)
	if n == 0 {
		return
	}
	sid := r.streamID(stream)
	stored := data[n-min(n, r.Cap()):]
	r.reserve(len(stored))
	r.write(r.total+int64(n-len(stored)), stored)
	r.commit(sid, n)
}

// AppendRead appends one chunk of the given stream read by read straight
// into the ring's storage, so that the ring holds the only copy. read is
// called once, with a slice of at most want bytes (and at least one), and
// returns how many bytes it put there; want is capped to Cap(). Nothing is
// appended when read returns no bytes. AppendRead returns read's results.
func (r *Ring) AppendRead(stream string, want int, read func(p []byte) (int, error)) (int, error) {
	want = max(1, min(want, r.Cap()))
	sid := r.streamID(stream)
	r.reserve(want)
	w := int(r.total % int64(len(r.buf)))
	n, err := read(r.buf[w : w+min(want, len(r.buf)-w)])
	if n > 0 {
		r.commit(sid, n)
	}
	return n, err
}

// reserve makes the buffer large enough to retain n more bytes with what it
// retains now, up to the cap.
func (r *Ring) reserve(n int) {
	if need := min(r.Retained()+n, r.Cap()); len(r.buf) < need {
		r.grow(need, r.begin, r.total)
	}
}

// commit accounts for a chunk of n bytes whose retained part was written at
// its offsets: it assigns the Seq, moves the head past what was overwritten
// and drops the chunks that ended there.
func (r *Ring) commit(sid, n int) {
	r.last++
	if r.first == 0 {
		r.first, r.histSeq = r.last, r.last
	}
	r.push(uint64(sid)<<offsetBits | uint64(r.total))
	r.total += int64(n)
	if limit := int64(r.Cap()); r.total > limit {
		r.begin = r.total - limit
	}
	// Drop whole chunks that end at or before the new begin.
	for r.first < r.last && r.start(r.first+1) <= r.begin {
		r.first++
	}
	r.trimHistory()
}

// streamID returns the index of stream in r.streams, adding it if new.
func (r *Ring) streamID(stream string) int {
	for i, s := range r.streams {
		if s == stream {
			return i
		}
	}
	if len(r.streams) == maxStreams {
		panic("ring: more than 255 distinct stream names")
	}
	r.streams = append(r.streams, stream)
	return len(r.streams) - 1
}

// entry returns the packed entry of seq, which must be in [histSeq, last].
func (r *Ring) entry(seq int) uint64 {
	i := r.eHead + seq - r.histSeq
	if i >= len(r.ents) {
		i -= len(r.ents)
	}
	return r.ents[i]
}

// start returns the cumulative offset where seq begins, for seq in
// [histSeq, last+1]; last+1 begins at total.
func (r *Ring) start(seq int) int64 {
	if seq > r.last {
		return r.total
	}
	return int64(r.entry(seq) & offsetMask)
}

func (r *Ring) push(e uint64) {
	if r.eLen == len(r.ents) {
		r.resizeEnts(max(minEnts, 2*len(r.ents)))
	}
	i := r.eHead + r.eLen
	if i >= len(r.ents) {
		i -= len(r.ents)
	}
	r.ents[i] = e
	r.eLen++
}

// trimHistory forgets boundaries of dropped chunks beyond HistoryChunks and
// shrinks the boundary ring when it is mostly empty.
func (r *Ring) trimHistory() {
	if drop := r.first - r.histSeq - HistoryChunks; drop > 0 {
		r.eHead = (r.eHead + drop) % len(r.ents)
		r.eLen -= drop
		r.histSeq += drop
	}
	if len(r.ents) > 4*minEnts && r.eLen < len(r.ents)/4 {
		r.resizeEnts(len(r.ents) / 2)
	}
}

func (r *Ring) resizeEnts(n int) {
	ents := make([]uint64, n)
	k := copy(ents, r.ents[r.eHead:min(len(r.ents), r.eHead+r.eLen)])
	copy(ents[k:], r.ents[:r.eLen-k])
	r.ents, r.eHead = ents, 0
}

// grow replaces the data buffer by one of at least need bytes, doubling up to
// the cap, and moves the bytes at offsets [from, to) that are still retained.
func (r *Ring) grow(need int, from, to int64) {
	size := min(r.Cap(), max(need, 2*len(r.buf), minBuf))
	old := r.buf
	r.buf = make([]byte, size)
	for o := from; o < to; {
		si := int(o % int64(len(old)))
		di := int(o % int64(size))
		n := min(int(to-o), len(old)-si, size-di)
		copy(r.buf[di:di+n], old[si:si+n])
		o += int64(n)
	}
}

// write copies data to the buffer positions of offsets [off, off+len(data)).
func (r *Ring) write(off int64, data []byte) {
	i := int(off % int64(len(r.buf)))
	n := copy(r.buf[i:], data)
	copy(r.buf, data[n:])
}

// read fills p with the bytes at offsets [off, off+len(p)), which must be
// retained.
func (r *Ring) read(p []byte, off int64) {
	if len(p) == 0 {
		return
	}
	i := int(off % int64(len(r.buf)))
	n := copy(p, r.buf[i:])
	copy(p[n:], r.buf)
}

// Collect returns a copy of every retained chunk with Seq > since, oldest
// first, made by mk from the chunk's stream, Seq and data. A negative since
// counts as 0. All data is copied into one new buffer, each chunk's data a
// full slice expression of it, so the whole call allocates twice whatever the
// number of chunks, and nothing when no chunk is newer than since.
func Collect[C any](r *Ring, since int, mk func(stream string, seq int, data []byte) C) []C {
	since = max(since, 0)
	if since >= r.last {
		return nil
	}
	from := max(since+1, r.first)
	base := max(r.start(from), r.begin)
	data := make([]byte, r.total-base)
	r.read(data, base)
	out := make([]C, 0, r.last-from+1)
	for seq := from; seq <= r.last; seq++ {
		s := max(r.start(seq), r.begin) - base
		e := r.start(seq+1) - base
		out = append(out, mk(r.streams[r.entry(seq)>>offsetBits], seq, data[s:e:e]))
	}
	return out
}

// Missed returns how many bytes appended after chunk since a reader at that
// cursor can no longer receive, because they were dropped from the head: the
// bytes it receives now plus Missed equal the bytes appended after since. A
// negative since counts as 0; a since at or past Last() has missed nothing.
//
// The result is exact when since is 0, within the retained chunks, or at most
// [HistoryChunks] chunks behind them. For an older cursor the boundary is
// forgotten and Missed returns a lower bound: every byte dropped after the
// oldest remembered boundary plus one byte for each forgotten chunk.
func (r *Ring) Missed(since int) int64 {
	since = max(since, 0)
	if since >= r.last || r.begin == 0 {
		return 0
	}
	var end int64 // where chunk since ends; chunk 0 ends at 0
	switch {
	case since == 0:
	case since+1 >= r.histSeq:
		end = r.start(since + 1)
	default:
		return r.begin - r.start(r.histSeq) + int64(r.histSeq-1-since)
	}
	return max(0, r.begin-end)
}
