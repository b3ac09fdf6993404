package ring_test

import (
	"bytes"
	"fmt"
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

// check compares r with the model at cursor since.
func check(t *testing.T, r *ring.Ring, m *model, since int) {
	t.Helper()
	want, appended := m.since(since)
	got := ring.Collect(r, since, mk)
	require.Equal(t, len(want), len(got), "since %d: got %d chunks, want %d", since, len(got), len(want))
	received := 0
	for i := range want {
		assert.Equal(t, want[i].seq, got[i].seq, "since %d: chunk %d seq", since, i)
		assert.Equal(t, want[i].stream, got[i].stream, "since %d: chunk %d stream", since, i)
		assert.Equal(t, want[i].data, got[i].data, "since %d: chunk %d data", since, i)
		assert.Equal(t, len(got[i].data), cap(got[i].data), "since %d: chunk %d data has spare capacity", since, i)
		if i > 0 {
			assert.Greater(t, got[i].seq, got[i-1].seq, "seq not strictly increasing")
		}
		received += len(got[i].data)
	}
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

func FuzzRing(f *testing.F) {
	f.Add(uint16(16), []byte{3, 5, 0, 200, 17, 1, 1, 1, 90}, []byte{0, 1, 2, 255})
	f.Add(uint16(1), []byte{1, 2, 3}, []byte{0, 3})
	f.Add(uint16(64), []byte{64, 64, 63, 65, 1}, []byte{1, 2, 4})
	f.Fuzz(func(t *testing.T, capSeed uint16, ops, cursors []byte) {
		capacity := int(capSeed%512) + 1
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
			if i%2 == 1 {
				// Read straight into the ring: it may offer fewer bytes
				// than wanted (up to the end of its storage), and the
				// reader may fill fewer still.
				got, err := r.AppendRead(stream, n, func(p []byte) (int, error) {
					return copy(p, data[:min(len(data), len(p), 1+int(op)%97)]), nil
				})
				require.NoError(t, err)
				data = data[:got]
			} else {
				r.Append(stream, data)
			}
			m.append(stream, data)
			checkTotals(t, r, m)
			for _, c := range cursors {
				check(t, r, m, int(c)-3)
			}
			check(t, r, m, r.Last())
			check(t, r, m, r.First()-1)
		}
	})
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
