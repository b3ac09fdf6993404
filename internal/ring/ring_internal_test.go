package ring

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type piece struct {
	stream string
	seq    int
	data   string
}

func mkPiece(stream string, seq int, data []byte) piece { return piece{stream, seq, string(data)} }

// TestSeqSaturates checks that once Last is math.MaxInt, appends join the
// newest chunk instead of wrapping its Seq, with exact totals.
func TestSeqSaturates(t *testing.T) {
	r := New(16)
	r.Append("stdout", []byte("ab"))
	shift := math.MaxInt - 2 // Seq 1 becomes math.MaxInt-1
	r.first, r.histSeq, r.last = r.first+shift, r.histSeq+shift, r.last+shift
	r.Append("stderr", []byte("cd"))
	require.Equal(t, math.MaxInt, r.Last(), "precondition")

	r.Append("stdout", []byte("ef"))
	_, err := r.AppendReadTo("stderr", 2, false, func(p []byte) (int, error) { return copy(p, "gh"), nil })
	require.NoError(t, err)
	assert.Equal(t, math.MaxInt, r.Last(), "Seq moved past math.MaxInt")
	assert.Equal(t, []piece{{"stdout", math.MaxInt - 1, "ab"}, {"stderr", math.MaxInt, "cdefgh"}}, Collect(r, 0, mkPiece))
	got, more := CollectPage(r, math.MaxInt-2, Page{MaxBytes: 3, Merge: true}, mkPiece)
	assert.Equal(t, []piece{{"stdout", math.MaxInt - 1, "ab"}}, got)
	assert.True(t, more)
	assert.Nil(t, Collect(r, math.MaxInt, mkPiece))

	r.Append("stdout", []byte(strings.Repeat("x", 12)))
	assert.Equal(t, int64(20), r.Appended())
	assert.Equal(t, 16, r.Retained())
	assert.Equal(t, int64(4), r.Lost())
	assert.Equal(t, 1, r.Len())
	assert.Equal(t, []piece{{"stderr", math.MaxInt, "efgh" + strings.Repeat("x", 12)}}, Collect(r, -1, mkPiece))
	assert.Equal(t, int64(2), r.Missed(math.MaxInt-1), "cursor at the dropped chunk missed cd")
}

// TestOffsetsWrap checks that cumulative offsets past 2^56, which entries
// keep modulo 2^56, are restored exactly.
func TestOffsetsWrap(t *testing.T) {
	const base = 1<<offsetBits - 10
	r := New(64)
	r.total, r.begin = base, base
	// 20 chunks of 7 bytes: 140 appended, 64 retained from offset 76 on,
	// which falls in chunk 11 at its seventh byte.
	var all strings.Builder
	for k := range 20 {
		stream := []string{"stdout", "stderr"}[k%2]
		data := strings.Repeat(string(rune('a'+k)), 7)
		r.Append(stream, []byte(data))
		all.WriteString(data)
	}
	require.Greater(t, r.Appended(), int64(1<<offsetBits), "precondition: offsets wrapped")
	got := Collect(r, 0, mkPiece)
	require.Len(t, got, 10)
	assert.Equal(t, piece{"stdout", 11, "k"}, got[0], "the oldest chunk is cut at its front")
	var data strings.Builder
	for _, c := range got {
		data.WriteString(c.data)
	}
	assert.Equal(t, all.String()[76:], data.String())
	for since := 1; since <= 20; since++ {
		want := int64(max(0, 76-7*since))
		assert.Equal(t, want, r.Missed(since), "since %d: missed", since)
	}
	assert.Equal(t, int64(base+76), r.Missed(0))
	page, more := CollectPage(r, 12, Page{MaxBytes: 14, Merge: true}, mkPiece)
	assert.Equal(t, []piece{{"stdout", 13, strings.Repeat("m", 7)}, {"stderr", 14, strings.Repeat("n", 7)}}, page)
	assert.True(t, more)
}

// rotated returns a copy of r whose boundary ring starts at position head:
// the same ring in another layout, which reads must not tell apart.
func rotated(r *Ring, head int) *Ring {
	c := *r
	c.ents = make([]uint64, len(r.ents))
	for i := range r.eLen {
		c.ents[(head+i)%len(c.ents)] = r.entry(r.histSeq + i)
	}
	c.eHead = head
	return &c
}

// reads is everything a reader can ask of a ring, for comparing layouts.
type reads struct {
	since  int
	page   Page
	chunks []piece
	more   bool
	missed int64
}

// readAll returns every read of r at cursors from First()-2 to Last() with
// each of pages.
func readAll(r *Ring, pages []Page) []reads {
	var out []reads
	for since := r.First() - 2; since <= r.Last(); since++ {
		for _, p := range pages {
			chunks, more := CollectPage(r, since, p, mkPiece)
			out = append(out, reads{since, p, chunks, more, r.Missed(since)})
		}
	}
	return out
}

// TestBoundaryRingWraps reads rings whose boundary ring wraps at every
// possible position, which the fuzz test, staying within HistoryChunks
// drops, never reaches: every read matches the same ring unwrapped.
func TestBoundaryRingWraps(t *testing.T) {
	pages := []Page{{}, {Merge: true}, {MaxBytes: 1}, {MaxBytes: 7, Overhead: 2}, {MaxBytes: 9, Overhead: 1, Merge: true}, {MaxBytes: 40, Merge: true}}
	rng := rand.New(rand.NewPCG(7, 11))
	for _, capacity := range []int{16, 64} {
		t.Run(fmt.Sprint("cap ", capacity), func(t *testing.T) {
			r := New(capacity)
			for range 80 {
				stream := []string{"stdout", "stderr"}[rng.IntN(3)/2]
				r.Append(stream, bytes.Repeat([]byte{byte('a' + rng.IntN(26))}, 1+rng.IntN(capacity/4)))
				want := readAll(r, pages)
				// Reads touch the newest Len()+2 entries at most; put the
				// end of the boundary ring after each of them in turn.
				n := len(r.ents)
				for head := max(0, n-r.eLen+1); head < n && head <= n-r.eLen+r.Len()+2; head++ {
					require.Equal(t, want, readAll(rotated(r, head), pages), "boundary ring from position %d of %d", head, n)
				}
			}
		})
	}
}

// TestSpareReadsTakeNoMemory checks that a read offered Spare() bytes never
// grows the data buffer, before and after the ring reached its cap, that a
// full ring offers all of it, and that the bytes read are kept: the readers
// size their reads by Spare.
func TestSpareReadsTakeNoMemory(t *testing.T) {
	const capacity = 64 << 10
	r := New(capacity)
	if got := r.Spare(); got != 0 {
		t.Fatalf("empty ring: got Spare %d, want 0", got)
	}
	var want []byte // everything appended
	fill := func(p []byte) (int, error) {
		n := min(len(p), 3000)
		for i := range p[:n] {
			p[i] = byte(len(want) + i)
		}
		want = append(want, p[:n]...)
		return n, nil
	}
	for range 200 {
		spare, size := r.Spare(), len(r.buf)
		if spare == 0 {
			if _, err := r.AppendRead("stdout", 4096, fill); err != nil { // grows, as a FIONREAD-sized read does
				t.Fatal(err)
			}
			continue
		}
		if _, err := r.AppendRead("stdout", spare, fill); err != nil {
			t.Fatal(err)
		}
		if len(r.buf) != size {
			t.Fatalf("a read of the %d spare bytes grew the buffer from %d to %d bytes", spare, size, len(r.buf))
		}
	}
	if r.Retained() != capacity || r.Spare() != capacity {
		t.Fatalf("got Retained %d and Spare %d, want %d each: a full ring overwrites its head", r.Retained(), r.Spare(), capacity)
	}
	var got []byte
	for _, c := range Collect(r, 0, func(_ string, seq int, data []byte) []byte { return data }) {
		got = append(got, c...)
	}
	if !bytes.Equal(got, want[len(want)-capacity:]) {
		t.Fatal("the ring does not hold the last bytes read")
	}
}
