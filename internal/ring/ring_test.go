package ring_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sessionkit/sessionkit/internal/ring"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type chunk struct {
	stream string
	seq    int
	data   []byte
}

func mk(stream string, seq int, data []byte) chunk { return chunk{stream, seq, data} }

// model is the reference: every chunk ever appended, in full.
type model struct {
	cap    int
	chunks []chunk
	total  int
}

func (m *model) append(stream string, data []byte) {
	if len(data) == 0 {
		return
	}
	m.chunks = append(m.chunks, chunk{stream, len(m.chunks) + 1, bytes.Clone(data)})
	m.total += len(data)
}

// extendLimit is the size below which the newest chunk may be extended.
func (m *model) extendLimit() int { return max(1, min(ring.MaxExtend, m.cap/8)) }

// room returns how many bytes an extending append of stream may add to the
// newest chunk, 0 when it makes a new chunk.
func (m *model) room(stream string) int {
	if len(m.chunks) == 0 || m.chunks[len(m.chunks)-1].stream != stream {
		return 0
	}
	return max(0, m.extendLimit()-len(m.chunks[len(m.chunks)-1].data))
}

// extend appends data to the newest chunk if room allows, else as a new chunk.
func (m *model) extend(stream string, data []byte) {
	if len(data) == 0 {
		return
	}
	if m.room(stream) == 0 {
		m.append(stream, data)
		return
	}
	last := &m.chunks[len(m.chunks)-1]
	last.data = append(last.data, data...)
	m.total += len(data)
}

func (m *model) retained() int { return min(m.total, m.cap) }

// since returns what a reader at cursor since must receive, and the bytes
// appended after since.
func (m *model) since(since int) (want []chunk, appended int) {
	begin := m.total - m.retained()
	off := 0
	for _, c := range m.chunks {
		end := off + len(c.data)
		if c.seq > since {
			appended += len(c.data)
			if end > begin {
				cut := max(0, begin-off)
				want = append(want, chunk{c.stream, c.seq, c.data[cut:]})
			}
		}
		off = end
	}
	return want, appended
}

// page returns the page CollectPage must return at cursor since.
func (m *model) page(since int, p ring.Page) (want []chunk, more bool) {
	all, _ := m.since(since)
	ov := max(p.Overhead, 0)
	used := 0
	for i, c := range all {
		merge := p.Merge && len(want) > 0 && want[len(want)-1].stream == c.stream
		cost := len(c.data)
		if !merge {
			cost += ov
		}
		if p.MaxBytes > 0 && i > 0 && used+cost > p.MaxBytes {
			return want, true
		}
		used += cost
		if merge {
			w := &want[len(want)-1]
			w.data = append(w.data, c.data...)
			w.seq = c.seq
		} else {
			want = append(want, chunk{c.stream, c.seq, bytes.Clone(c.data)})
		}
		if p.MaxBytes > 0 && used > p.MaxBytes { // the first chunk, alone over
			return want, i+1 < len(all)
		}
	}
	return want, false
}

// check compares r with the model at cursor since.
func check(t *testing.T, r *ring.Ring, m *model, since int) {
	t.Helper()
	want, appended := m.since(since)
	got := ring.Collect(r, since, mk)
	assert.Equal(t, want, got, "since %d: chunks", since)
	received := 0
	for _, c := range got {
		received += len(c.data)
	}
	assert.True(t, tight(got), "since %d: chunk data has spare capacity", since)
	missed := int(r.Missed(since))
	exact := since <= 0 || since+ring.HistoryChunks+1 >= r.First()
	if exact {
		assert.Equal(t, appended, received+missed, "since %d: received %d + missed %d != appended %d", since, received, missed, appended)
	} else {
		assert.LessOrEqual(t, received+missed, appended, "since %d: missed %d is not a lower bound", since, missed)
	}
}

func checkTotals(t *testing.T, r *ring.Ring, m *model) {
	t.Helper()
	require.Equal(t, int64(m.total), r.Appended(), "appended")
	require.Equal(t, m.retained(), r.Retained(), "retained")
	require.LessOrEqual(t, r.Retained(), r.Cap(), "retained over cap")
	require.Equal(t, r.Appended(), int64(r.Retained())+r.Lost(), "retained + lost != appended")
	require.Equal(t, len(m.chunks), r.Last(), "last seq")
}

// tight reports whether no chunk's data has capacity past its length, so
// that appending to one cannot overwrite the next.
func tight(chunks []chunk) bool {
	for _, c := range chunks {
		if len(c.data) != cap(c.data) {
			return false
		}
	}
	return true
}

// checkPage compares one CollectPage at cursor since with the model.
func checkPage(t *testing.T, r *ring.Ring, m *model, since int, p ring.Page) {
	t.Helper()
	want, wantMore := m.page(since, p)
	got, more := ring.CollectPage(r, since, p, mk)
	assert.Equal(t, want, got, "since %d, %+v: chunks", since, p)
	assert.True(t, tight(got), "since %d, %+v: chunk data has spare capacity", since, p)
	assert.Equal(t, wantMore, more, "since %d, %+v: more", since, p)
}

// walk pages from cursor since to the newest chunk, each page from the Seq of
// the last chunk returned, and checks that the pages hold what Collect
// returns, each within its bound unless it is a single chunk of the ring.
func walk(t *testing.T, r *ring.Ring, since int, p ring.Page) {
	t.Helper()
	var want, got []byte
	for _, c := range ring.Collect(r, since, mk) {
		want = append(want, c.data...)
	}
	for range r.Len() + 1 {
		page, more := ring.CollectPage(r, since, p, mk)
		if len(page) == 0 {
			assert.False(t, more, "since %d, %+v: more without chunks", since, p)
			break
		}
		used := 0
		for _, c := range page {
			got = append(got, c.data...)
			used += len(c.data) + max(p.Overhead, 0)
		}
		if p.MaxBytes > 0 && used > p.MaxBytes {
			single := len(page) == 1 && page[0].seq == max(since+1, r.First())
			assert.True(t, single, "since %d, %+v: page of %d bytes is over its bound and more than one chunk", since, p, used)
		}
		since = page[len(page)-1].seq
		assert.Equal(t, since < r.Last(), more, "more at seq %d of %d", since, r.Last())
		if !more {
			break
		}
	}
	assert.Equal(t, want, got, "pages do not add up to Collect")
}

func FuzzRing(f *testing.F) {
	f.Add(uint16(16), uint16(0), []byte{3, 5, 0, 200, 17, 1, 1, 1, 90}, []byte{0, 1, 2, 255})
	f.Add(uint16(1), uint16(0x0205), []byte{1, 2, 3}, []byte{0, 3})
	f.Add(uint16(64), uint16(0x0a30), []byte{64, 64, 63, 65, 1}, []byte{1, 2, 4})
	f.Add(uint16(3<<9|200), uint16(0x0310), []byte{1, 2, 1, 1, 3, 1, 129, 1, 1, 1, 1, 40, 1}, []byte{3, 4})
	f.Add(uint16(1<<9|511), uint16(0x0047), []byte{5, 133, 5, 5, 133, 133, 7, 7, 7, 7}, []byte{0, 5})
	f.Fuzz(fuzzRing)
}

// fuzzRing runs ops against a ring and the model, checking after each op the
// totals (the model decides independently whether an extending append makes
// a new Seq), Collect and Missed at every cursor, and CollectPage, merged and
// not, at a few cursors and through whole walks of pages.
func fuzzRing(t *testing.T, capSeed, pageSeed uint16, ops, cursors []byte) {
	// The low 9 bits of capSeed pick the cap, the next two whether even
	// and odd ops extend; pageSeed picks a page's bound and overhead,
	// some of each out of range.
	// Longer inputs add time, not cases: the checks after each op are
	// quadratic in the ops.
	ops, cursors = ops[:min(len(ops), 400)], cursors[:min(len(cursors), 12)]
	capacity := int(capSeed%512) + 1
	extendEven, extendOdd := capSeed&(1<<9) != 0, capSeed&(1<<10) != 0
	page := ring.Page{MaxBytes: int(pageSeed%97) - 8, Overhead: int(pageSeed>>8%11) - 3}
	r := ring.New(capacity)
	m := &model{cap: capacity}
	payload := make([]byte, 4*512+8)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	for i, op := range ops {
		// Low 7 bits pick a size, scaled past the cap for op >= 120;
		// the top bit picks the stream.
		n := int(op & 0x7f)
		if n >= 120 {
			n = capacity + (n-120)*capacity/3
		}
		stream := "stdout"
		if op&0x80 != 0 {
			stream = "stderr"
		}
		data := payload[i%7 : i%7+n]
		extend := extendEven && i%2 == 0 || extendOdd && i%2 == 1
		if i%2 == 1 || extend {
			// Read straight into the ring: it may offer fewer bytes
			// than wanted (up to the end of its storage, or the room
			// the newest chunk has left), and the reader may fill
			// fewer still.
			room := m.room(stream)
			got, err := r.AppendReadTo(stream, n, extend, func(p []byte) (int, error) {
				require.NotEmpty(t, p, "read offered no room")
				if extend && room > 0 {
					require.LessOrEqual(t, len(p), room, "read offered more than the newest chunk may grow by")
				}
				return copy(p, data[:min(len(data), len(p), 1+int(op)%97)]), nil
			})
			require.NoError(t, err)
			data = data[:got]
		} else {
			r.Append(stream, data)
		}
		if extend {
			m.extend(stream, data)
		} else {
			m.append(stream, data)
		}
		checkTotals(t, r, m)
		for j, c := range cursors {
			check(t, r, m, int(c)-3)
			if j < 4 { // pages at a few cursors; the walks page through all
				for _, merge := range []bool{false, true} {
					page.Merge = merge
					checkPage(t, r, m, int(c)-3, page)
				}
			}
		}
		check(t, r, m, r.Last())
		check(t, r, m, r.First()-1)
		for _, merge := range []bool{false, true} {
			page.Merge = merge
			walk(t, r, r.First()-1, page)
			if len(cursors) > 0 {
				walk(t, r, int(cursors[0])-3, page)
			}
		}
	}
}

func TestZeroRingUsesDefaultCap(t *testing.T) {
	var r ring.Ring
	assert.Equal(t, ring.DefaultCap, r.Cap())
	assert.Nil(t, ring.Collect(&r, 0, mk), "empty ring returned chunks")
	assert.Zero(t, r.Missed(0))
	assert.Zero(t, r.Last())
	assert.Zero(t, r.Len())
}

func TestEmptyAppendAddsNothing(t *testing.T) {
	var r ring.Ring
	r.Append("stdout", nil)
	r.Append("stdout", []byte{})
	assert.Zero(t, r.Last(), "got seq %d after empty appends, want 0", r.Last())
}

func TestAppendCopies(t *testing.T) {
	var r ring.Ring
	buf := []byte("hello")
	r.Append("stdout", buf)
	copy(buf, "XXXXX")
	got := ring.Collect(&r, 0, mk)
	require.Len(t, got, 1)
	assert.Equal(t, "hello", string(got[0].data))
}

func TestOversizeAppendKeepsTail(t *testing.T) {
	r := ring.New(4)
	r.Append("stdout", []byte("ab"))
	r.Append("stderr", []byte("0123456789"))
	got := ring.Collect(r, 0, mk)
	require.Len(t, got, 1)
	assert.Equal(t, chunk{"stderr", 2, []byte("6789")}, got[0])
	assert.Equal(t, int64(8), r.Lost())
	assert.Equal(t, int64(8), r.Missed(0))
	assert.Equal(t, int64(6), r.Missed(1), "cursor 1 saw ab, missed 012345")
}

func TestHeadChunkCutKeepsSeq(t *testing.T) {
	r := ring.New(5)
	r.Append("stdout", []byte("abc"))
	r.Append("stdout", []byte("def"))
	got := ring.Collect(r, 0, mk)
	require.Len(t, got, 2)
	assert.Equal(t, chunk{"stdout", 1, []byte("bc")}, got[0])
	assert.Equal(t, chunk{"stdout", 2, []byte("def")}, got[1])
}

func TestMemoryFollowsRetained(t *testing.T) {
	var r ring.Ring
	r.Append("stdout", make([]byte, 100))
	assert.LessOrEqual(t, r.Footprint(), 256, "got footprint %d for 100 bytes", r.Footprint())
	for range 1000 {
		r.Append("stdout", make([]byte, 4096))
	}
	assert.Equal(t, ring.DefaultCap, r.Retained())
	assert.LessOrEqual(t, r.Footprint(), ring.DefaultCap+64<<10, "got footprint %d for a full ring", r.Footprint())
}

func TestHistoryBoundsMissed(t *testing.T) {
	r := ring.New(10)
	m := &model{cap: 10}
	for range 3 * ring.HistoryChunks {
		r.Append("stdout", []byte{'x', 'y'})
		m.append("stdout", []byte{'x', 'y'})
	}
	checkTotals(t, r, m)
	for _, since := range []int{0, 1, r.First() - ring.HistoryChunks - 2, r.First() - ring.HistoryChunks - 1, r.First() - 2, r.First(), r.Last()} {
		t.Run(fmt.Sprint("since ", since), func(t *testing.T) { check(t, r, m, since) })
	}
	// The boundary ring shrank back: history plus retained, not every chunk.
	assert.LessOrEqual(t, r.Footprint(), 8*4*ring.HistoryChunks+64)
}

func TestTooManyStreamsPanics(t *testing.T) {
	var r ring.Ring
	for i := range 256 {
		r.Append(fmt.Sprint("s", i), []byte{1})
	}
	assert.Panics(t, func() { r.Append("one too many", []byte{1}) })
}

func TestNewPanicsOnNonPositiveCap(t *testing.T) {
	assert.Panics(t, func() { ring.New(0) })
	assert.Panics(t, func() { ring.New(-1) })
}

// step is one write of TestAppendReadTo: through Append, or when read is
// set through AppendReadTo, called until data is consumed as a pipe's reader
// would (a read is offered no more than the storage or the newest chunk's
// room allows).
type step struct {
	stream string
	data   string
	read   bool
	extend bool
}

func TestAppendReadTo(t *testing.T) {
	o := func(n int) string { return strings.Repeat("o", n) }
	tests := []struct {
		name     string
		capacity int
		steps    []step
		want     []chunk
		wantLost int64
	}{
		{
			name: "extends the newest chunk of the same stream", capacity: 1 << 10,
			steps: []step{{"stdout", "ab", false, false}, {"stdout", "cd", true, true}, {"stdout", "e", true, true}},
			want:  []chunk{{"stdout", 1, []byte("abcde")}},
		},
		{
			name: "without extend makes a new chunk", capacity: 1 << 10,
			steps: []step{{"stdout", "ab", false, false}, {"stdout", "cd", true, false}},
			want:  []chunk{{"stdout", 1, []byte("ab")}, {"stdout", 2, []byte("cd")}},
		},
		{
			name: "another stream makes a new chunk", capacity: 1 << 10,
			steps: []step{{"stdout", "ab", false, false}, {"stderr", "cd", true, true}, {"stderr", "e", true, true}},
			want:  []chunk{{"stdout", 1, []byte("ab")}, {"stderr", 2, []byte("cde")}},
		},
		{
			name: "an empty ring makes the first chunk", capacity: 1 << 10,
			steps: []step{{"stdout", "ab", true, true}},
			want:  []chunk{{"stdout", 1, []byte("ab")}},
		},
		{
			name: "a read of nothing appends nothing", capacity: 1 << 10,
			steps: []step{{"stdout", "ab", false, false}, {"stdout", "", true, true}, {"stderr", "", true, true}},
			want:  []chunk{{"stdout", 1, []byte("ab")}},
		},
		{
			name: "MaxExtend bounds extension", capacity: ring.DefaultCap,
			steps: []step{{"stdout", o(ring.MaxExtend - 1), false, false}, {"stdout", "abc", true, true}, {"stdout", "de", true, true}},
			want:  []chunk{{"stdout", 1, []byte(o(ring.MaxExtend-1) + "a")}, {"stdout", 2, []byte("bcde")}},
		},
		{
			name: "an eighth of a small cap bounds extension", capacity: 32,
			steps: []step{{"stdout", "ab", true, true}, {"stdout", "cdef", true, true}, {"stdout", "gh", true, true}, {"stdout", "i", true, true}},
			want:  []chunk{{"stdout", 1, []byte("abcd")}, {"stdout", 2, []byte("efgh")}, {"stdout", 3, []byte("i")}},
		},
		{
			name: "extension drops and cuts the head", capacity: 80,
			steps:    []step{{"stdout", o(72), false, false}, {"stderr", "eeee", false, false}, {"stderr", "ffffff", true, true}, {"stderr", "g", true, true}},
			want:     []chunk{{"stdout", 1, []byte(o(69))}, {"stderr", 2, []byte("eeeeffffff")}, {"stderr", 3, []byte("g")}},
			wantLost: 3,
		},
		{
			name: "a chunk at the limit is not extended", capacity: 16,
			steps:    []step{{"stdout", "0123456789abcdef", false, false}, {"stdout", "x", true, true}},
			want:     []chunk{{"stdout", 1, []byte("123456789abcdef")}, {"stdout", 2, []byte("x")}},
			wantLost: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ring.New(tt.capacity)
			m := &model{cap: tt.capacity}
			for _, s := range tt.steps {
				if !s.read {
					r.Append(s.stream, []byte(s.data))
					m.append(s.stream, []byte(s.data))
					continue
				}
				for data := []byte(s.data); ; {
					last, room := r.Last(), m.room(s.stream)
					n, err := r.AppendReadTo(s.stream, 1<<10, s.extend, func(p []byte) (int, error) {
						return copy(p, data), nil
					})
					require.NoError(t, err)
					if s.extend && room > 0 {
						assert.Equal(t, last, r.Last(), "an extending append moved Last")
						assert.LessOrEqual(t, n, room, "read more than the newest chunk's room")
						m.extend(s.stream, data[:n])
					} else {
						m.append(s.stream, data[:n])
					}
					if data = data[n:]; len(data) == 0 {
						break
					}
				}
			}
			assert.Equal(t, tt.want, ring.Collect(r, 0, mk))
			assert.Equal(t, tt.wantLost, r.Lost(), "got lost %d, want %d", r.Lost(), tt.wantLost)
			checkTotals(t, r, m)
			for since := range r.Last() + 1 {
				check(t, r, m, since)
			}
		})
	}
}

// TestWorstCaseFootprint checks the worst case the package documentation
// states: a full 1 MiB ring of one-byte chunks that remembers HistoryChunks
// dropped ones.
func TestWorstCaseFootprint(t *testing.T) {
	var r ring.Ring
	one := []byte{'x'}
	for r.First() <= ring.HistoryChunks+1 {
		r.Append("stdout", one)
	}
	require.Equal(t, ring.DefaultCap, r.Len(), "precondition: one chunk per byte")
	want := ring.DefaultCap + 8*(ring.DefaultCap+ring.HistoryChunks+1)
	assert.Equal(t, 9_469_192, want, "the documented figure")
	assert.Equal(t, want, r.Footprint(), "got footprint %d, want %d", r.Footprint(), want)
	for range 3 * ring.HistoryChunks {
		r.Append("stderr", one)
	}
	assert.Equal(t, want, r.Footprint(), "footprint moved in the steady state")

	// Large chunks drop the small ones, and the boundary ring halves down
	// to four times what it holds: 16 retained and HistoryChunks remembered.
	big := make([]byte, 64<<10)
	for range 32 {
		r.Append("stdout", big)
	}
	assert.LessOrEqual(t, r.Footprint(), ring.DefaultCap+8*4*(ring.HistoryChunks+17), "got footprint %d after the chunks grew", r.Footprint())
}
