package processes

import (
	"bytes"
	"testing"

	"github.com/sessionkit/sessionkit/internal/ring"
)

// reader is one client of a session in FuzzSessionReaders: its cursor, how
// far into everything appended it has accounted for (bytes received plus
// bytes it was told it missed), and how it pages.
type reader struct {
	cursor int
	pos    int
	opts   PageOptions
}

// sessionModel is the reference: every byte appended, in order, with its
// stream.
type sessionModel struct {
	data    []byte
	streams []byte
}

func (m *sessionModel) add(stream byte, p []byte) {
	m.data = append(m.data, p...)
	m.streams = append(m.streams, bytes.Repeat([]byte{stream}, len(p))...)
}

var streamNames = [2]string{"stdout", "stderr"}

// poll reads one page for rd and checks it against the model: the missed
// bytes come first, then every chunk is the next bytes appended, of one
// stream. It returns whether the page had chunks.
func (m *sessionModel) poll(t *testing.T, s *Session, rd *reader) bool {
	t.Helper()
	// Missed is exact unless the cursor fell more than HistoryChunks
	// chunks behind the oldest retained one: then it is a lower bound, and
	// the chunks start at the oldest retained byte.
	exact := rd.cursor+ring.HistoryChunks+1 >= s.ring.First()
	out := s.Page(rd.cursor, rd.opts)
	rd.pos += out.Missed
	if !exact {
		if rd.pos > out.LostBytes {
			t.Fatalf("cursor %d: missed %d is not a lower bound: %d bytes were lost", rd.cursor, out.Missed, out.LostBytes)
		}
		rd.pos = out.LostBytes
	}
	if rd.pos > len(m.data) {
		t.Fatalf("cursor %d: missed %d runs past the %d bytes appended", rd.cursor, out.Missed, len(m.data))
	}
	for _, c := range out.Chunks {
		end := rd.pos + len(c.Data)
		if c.Seq <= rd.cursor {
			t.Fatalf("cursor %d: got chunk seq %d again", rd.cursor, c.Seq)
		}
		if end > len(m.data) || !bytes.Equal(c.Data, m.data[rd.pos:end]) {
			t.Fatalf("cursor %d: chunk seq %d holds %q, want the bytes at [%d, %d) of %d appended", rd.cursor, c.Seq, c.Data, rd.pos, end, len(m.data))
		}
		for _, st := range m.streams[rd.pos:end] {
			if streamNames[st] != c.Stream {
				t.Fatalf("cursor %d: chunk seq %d of %s holds bytes of %s", rd.cursor, c.Seq, c.Stream, streamNames[st])
			}
		}
		rd.pos, rd.cursor = end, c.Seq
	}
	return len(out.Chunks) > 0
}

func FuzzSessionReaders(f *testing.F) {
	f.Add(uint16(40), []byte{0x10, 0x24, 0x11, 0x05, 0x07, 0x10, 0x10, 0x10, 0x06, 0x04})
	f.Add(uint16(7), []byte{0x07, 0x30, 0x31, 0x38, 0x0c, 0x30, 0x30, 0x04, 0x3b, 0x0d})
	f.Add(uint16(300), []byte{0xf0, 0xf3, 0xe8, 0x0f, 0xf1, 0x04, 0x05, 0x06, 0xf1, 0xf9, 0x14})
	f.Fuzz(fuzzSessionReaders)
}

// fuzzSessionReaders feeds a session of a small cap from its readers'
// path (appendRead, which adds to the newest chunk while no read has
// returned it) and from Append, and polls it with three readers paging
// differently, some starting at the newest Seq (LastSeq) as a reader that
// wants only what comes next does. Every byte appended after a reader's
// start must reach it exactly once or be counted in Missed: its bytes
// received plus its missed bytes are exactly the bytes appended since.
func fuzzSessionReaders(t *testing.T, capSeed uint16, ops []byte) {
	ops = ops[:min(len(ops), 300)]
	capacity := int(capSeed%1024) + 1
	s := &Session{}
	s.ring = *ring.New(capacity)
	m := &sessionModel{}
	readers := [3]reader{
		{},
		{opts: PageOptions{Merge: true}},
		{opts: PageOptions{MaxBytes: 1 + capacity/5, ChunkOverhead: 3}},
	}
	payload := make([]byte, 2*1024)
	for i := range payload {
		payload[i] = byte(i*13 + i>>8)
	}
	for i, op := range ops {
		stream := op >> 3 & 1
		n := int(op>>4)*capacity/8 + 1
		data := payload[i%17 : i%17+min(n, len(payload)-17)]
		switch op & 7 {
		case 0, 1, 2: // the readers' path, in reads of up to 1+op%5 bytes
			for len(data) > 0 {
				got, err := s.appendRead(streamNames[stream], func() int { return len(data) }, func(p []byte) (int, error) {
					return copy(p, data[:min(len(data), 1+int(op)%5)]), nil
				})
				if err != nil || got == 0 {
					t.Fatalf("appendRead: %d, %v", got, err)
				}
				m.add(stream, data[:got])
				data = data[got:]
			}
		case 3:
			s.Append(streamNames[stream], data)
			m.add(stream, data)
		case 4, 5, 6:
			m.poll(t, s, &readers[op&7-4])
		case 7: // a reader starts over at the newest Seq
			readers[int(op>>4)%3].cursor = s.LastSeq()
			readers[int(op>>4)%3].pos = len(m.data)
		}
	}
	for i := range readers {
		rd := &readers[i]
		for m.poll(t, s, rd) {
		}
		if rd.pos != len(m.data) {
			t.Errorf("reader %d at seq %d: received + missed = %d bytes of the %d appended", i, rd.cursor, rd.pos, len(m.data))
		}
	}
	if got, want := int64(s.LostBytes())+int64(s.ring.Retained()), int64(len(m.data)); got != want {
		t.Errorf("lost + retained = %d, want %d appended", got, want)
	}
}
