package ring

import "math"

// DefaultCap is the cap of a Ring whose cap was not set: 1 MiB.
const DefaultCap = 1 << 20

// HistoryChunks is how many chunk boundaries are remembered after their
// chunks were dropped from the head, so that [Ring.Missed] stays exact for a
// cursor that fell behind the retained chunks by up to this many chunks.
const HistoryChunks = 4000

// MaxExtend is the most bytes [Ring.AppendReadTo] lets the newest chunk grow
// to by extension: 64 KiB, or an eighth of the ring's cap if that is smaller.
const MaxExtend = 64 << 10

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
// bits) with the cumulative offset of its first byte modulo 2^56 (low 56
// bits), which [Ring.offset] restores from total. A chunk ends where the next
// one starts, the newest at total. The byte at cumulative offset o lives at
// buf[o % len(buf)].
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

// Spare returns how many bytes can be appended without the buffer growing:
// all of Cap() once the buffer has reached it (an append then overwrites
// the head, which it drops), else the part of the buffer not retained.
// [Ring.AppendReadTo] offered up to Spare() bytes takes no memory.
func (r *Ring) Spare() int {
	if len(r.buf) >= r.Cap() {
		return len(r.buf)
	}
	return len(r.buf) - r.Retained()
}

// Lost returns the bytes dropped from the head: Appended − Retained.
func (r *Ring) Lost() int64 { return r.begin }

// Footprint returns the bytes of memory the ring holds for data and chunk
// boundaries, for tests and benchmarks of memory use, saturating at
// math.MaxInt. The package documentation bounds it.
func (r *Ring) Footprint() int {
	return int(min(int64(cap(r.buf))+8*int64(cap(r.ents)), math.MaxInt))
}

// Append adds data as one chunk of the given stream with Seq = Last()+1 and
// copies it: the caller may reuse data. Empty data appends nothing. Whole
// chunks are dropped from the head to stay within the cap, and the oldest
// survivor is cut at its front; a single append larger than the cap keeps its
// last Cap() bytes. It panics if more than 255 distinct stream names are
// used, which only a programming error can do. Once Last() is math.MaxInt
// the data joins the newest chunk instead (see the package documentation).
func (r *Ring) Append(stream string, data []byte) {
	n := len(data)
	if n == 0 {
		return
	}
	sid := r.streamID(stream)
	stored := data[n-min(n, r.Cap()):]
	r.reserve(len(stored))
	r.write(r.total+int64(n-len(stored)), stored)
	r.commit(sid, n, false)
}

// AppendRead appends one chunk of the given stream read by read straight
// into the ring's storage, so that the ring holds the only copy. read is
// called once, with a slice of at most want bytes (and at least one), and
// returns how many bytes it put there; want is capped to Cap(). Nothing is
// appended when read returns no bytes. AppendRead returns read's results.
// It is AppendReadTo with extend false.
func (r *Ring) AppendRead(stream string, want int, read func(p []byte) (int, error)) (int, error) {
	return r.AppendReadTo(stream, want, false, read)
}

// AppendReadTo is [Ring.AppendRead] that, when extend is true, may append the
// bytes read to the newest chunk instead of making a new one: it does so when
// the newest chunk is of the same stream and holds fewer than
// min([MaxExtend], Cap()/8) bytes (counting any bytes cut from its front),
// and then offers read at most the room left below that bound, so that
// extension never makes a chunk larger. An extended chunk keeps its Seq, so
// Last() does not move; the head is dropped and cut as for a new chunk, and
// Appended, Retained, Lost and Missed stay exact.
//
// A reader that already received the newest chunk would never see what is
// added to it, so the caller passes extend true only while no reader has
// observed the newest chunk; then nobody can tell an extended chunk from
// separate ones, and a writer of one byte at a time makes chunks as small as
// its readers poll, not as small as its writes. AppendReadTo returns read's
// results; nothing is appended when read returns no bytes.
func (r *Ring) AppendReadTo(stream string, want int, extend bool, read func(p []byte) (int, error)) (int, error) {
	want = max(1, min(want, r.Cap()))
	sid := r.streamID(stream)
	if extend {
		if room := r.room(sid); room > 0 {
			want = min(want, room)
		} else {
			extend = false
		}
	}
	r.reserve(want)
	w := int(r.total % int64(len(r.buf)))
	n, err := read(r.buf[w : w+min(want, len(r.buf)-w)])
	if n > 0 {
		r.commit(sid, n, extend)
	}
	return n, err
}

// room returns how many bytes a chunk of stream sid may add to the newest
// chunk by extension; zero or less when it may not.
func (r *Ring) room(sid int) int {
	if r.last == 0 || int(r.entry(r.last)>>offsetBits) != sid {
		return 0
	}
	limit := max(1, min(MaxExtend, r.Cap()/8))
	return int(max(int64(limit)-(r.total-r.start(r.last)), 0))
}

// reserve makes the buffer large enough to retain n more bytes with what it
// retains now, up to the cap.
func (r *Ring) reserve(n int) {
	if need := min(r.Retained()+n, r.Cap()); len(r.buf) < need {
		r.grow(need, r.begin, r.total)
	}
}

// commit accounts for n bytes whose retained part was written at their
// offsets: unless extend is set or Seqs are exhausted, as a new chunk with the
// next Seq, else as part of the newest chunk. It moves the head past what was
// overwritten and drops the chunks that ended there.
func (r *Ring) commit(sid, n int, extend bool) {
	if !extend && r.last < math.MaxInt {
		r.last++
		if r.first == 0 {
			r.first, r.histSeq = r.last, r.last
		}
		r.push(uint64(sid)<<offsetBits | uint64(r.total)&offsetMask)
	}
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

// index returns the position in ents of the entry of seq, which must be in
// [histSeq, last].
func (r *Ring) index(seq int) int {
	i := r.eHead + (seq - r.histSeq)
	if i >= len(r.ents) {
		i -= len(r.ents)
	}
	return i
}

// span returns the entries of the n chunks from Seq from on, which must be in
// [histSeq, last], as up to two runs of the boundary ring.
func (r *Ring) span(from, n int) (a, b []uint64) {
	if n <= 0 {
		return nil, nil
	}
	i := r.index(from)
	if n <= len(r.ents)-i {
		return r.ents[i : i+n], nil
	}
	return r.ents[i:], r.ents[:n-(len(r.ents)-i)]
}

// entry returns the packed entry of seq, which must be in [histSeq, last].
func (r *Ring) entry(seq int) uint64 { return r.ents[r.index(seq)] }

// offset returns the cumulative offset packed in entry e. Entries keep it
// modulo 2^56, and the distance back from total restores it as long as the
// oldest remembered boundary lies less than 2^56 bytes (64 PiB) before total.
// What lies between is the retained bytes and at most HistoryChunks+1 chunks
// dropped or cut at the head, which would have to average 16 TiB each.
func (r *Ring) offset(e uint64) int64 {
	return r.total - int64((uint64(r.total)-e)&offsetMask)
}

// start returns the cumulative offset where seq begins, for seq in
// [histSeq, last].
func (r *Ring) start(seq int) int64 { return r.offset(r.entry(seq)) }

// maxEnts returns the most entries the boundary ring ever holds: every
// retained chunk holds a byte, so at most Cap() of them, plus HistoryChunks
// remembered boundaries, plus the entry pushed before the head is dropped.
func (r *Ring) maxEnts() int {
	return min(r.Cap(), math.MaxInt-HistoryChunks-1) + HistoryChunks + 1
}

func (r *Ring) push(e uint64) {
	if r.eLen == len(r.ents) {
		r.resizeEnts(min(max(minEnts, 2*len(r.ents)), r.maxEnts()))
	}
	i := r.eHead + r.eLen
	if i >= len(r.ents) {
		i -= len(r.ents)
	}
	r.ents[i] = e
	r.eLen++
}

// trimHistory forgets boundaries of dropped chunks beyond HistoryChunks and
// halves the boundary ring when it is less than a quarter full.
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
// number of chunks, and nothing when no chunk is newer than since. It is
// [CollectPage] with the zero [Page]; a caller that answers others should
// bound what it returns with CollectPage.
func Collect[C any](r *Ring, since int, mk func(stream string, seq int, data []byte) C) []C {
	out, _ := CollectPage(r, since, Page{}, mk)
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
