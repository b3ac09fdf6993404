package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

// fuzzOutput is everything FuzzPollReaders appends, at most: 2 MiB, twice
// the ring.
var fuzzOutput = func() []byte {
	b := make([]byte, 2*processes.MaxBufferBytes)
	for o := range b {
		b[o] = byte(o*7 + o>>9)
	}
	return b
}()

// pollReader is one client of FuzzPollReaders: its cursor and the bytes it
// accounted for (received and told it missed).
type pollReader struct {
	seq, pos int
	merge    bool
	done     bool // it saw the exit
}

type wirePoll struct {
	Chunks []struct {
		Stream string
		Seq    int
		Data   []byte
	}
	Exit      *int
	Alive     bool
	LostBytes int64 `json:"lost_bytes"`
	Missed    int64
	More      bool
}

// FuzzPollReaders appends chunks of many sizes to a session, up to 2 MiB
// through its 1 MiB ring, and polls it over HTTP with answers bounded to
// the least Options.MaxResponseBytes, merged or not, from three cursors
// that fall behind by different amounts, then reads each to the exit. Every poll's
// chunks must be the next bytes appended after what the reader has
// accounted for plus the missed bytes it reports, and the exit must come
// only after the last byte.
func FuzzPollReaders(f *testing.F) {
	f.Add([]byte{0x01, 0xc0, 0x7f, 0xc1, 0xbf, 0xbf, 0xbf, 0xc5, 0xc2, 0x02, 0xc0, 0xc4})
	f.Add([]byte{0xbf, 0xbf, 0xbf, 0xbf, 0xbf, 0xc0, 0x00, 0x00, 0x40, 0xc1, 0xbf, 0xc0})
	f.Add([]byte{0x10, 0x11, 0x12, 0xc4, 0xc5, 0x90, 0xc6, 0xbf, 0xbf, 0xbf, 0xbf, 0xbf, 0xc2})
	m := processes.NewManager(0)
	h := httpapi.NewHandler(m, httpapi.Options{MaxResponseBytes: httpapi.MinResponseBytes})
	var ids atomic.Int64
	f.Fuzz(func(t *testing.T, ops []byte) {
		pollReaders(t, m, h, fmt.Sprint(ids.Add(1)), ops)
	})
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			f.Errorf("Shutdown: %v", err)
		}
	})
}

func pollReaders(t *testing.T, m *processes.Manager, h http.Handler, id string, ops []byte) {
	ops = ops[:min(len(ops), 64)]
	s := &processes.Session{ID: id}
	m.Register(s)
	defer m.Forget(id)
	inv := s.InvocationID()
	total := 0
	readers := [3]pollReader{{}, {merge: true}, {merge: true}}

	poll := func(rd *pollReader) wirePoll {
		q := fmt.Sprintf("/api/sdk/processes/%s/output?since=%d&invocation=%s", id, rd.seq, inv)
		if rd.merge {
			q += "&merge=1"
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, q, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", q, rec.Code, rec.Body)
		}
		var out wirePoll
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("GET %s: %v", q, err)
		}
		if rd.done && len(out.Chunks) > 0 {
			t.Fatalf("GET %s: chunks after the exit was reported", q)
		}
		rd.pos += int(out.Missed)
		for _, c := range out.Chunks {
			if c.Seq <= rd.seq {
				t.Fatalf("GET %s: seq %d again", q, c.Seq)
			}
			if end := rd.pos + len(c.Data); end > total || !bytes.Equal(c.Data, fuzzOutput[rd.pos:end]) {
				t.Fatalf("GET %s: chunk %d is not the %d bytes at offset %d of %d appended", q, c.Seq, len(c.Data), rd.pos, total)
			}
			rd.pos += len(c.Data)
			rd.seq = c.Seq
		}
		if rd.pos > total {
			t.Fatalf("GET %s: accounted for %d bytes of %d appended", q, rd.pos, total)
		}
		if !out.Alive {
			rd.done = true
		}
		return out
	}

	for _, op := range ops {
		var n int
		switch op >> 6 {
		case 0: // small
			n = int(op&0x3f) + 1
		case 1: // a few KiB, around the page bound
			n = int(op&0x3f)*97 + 1
		case 2: // up to the whole ring and past it
			n = (int(op&0x3f) + 1) * 17 << 10
		case 3: // a poll of one reader
			poll(&readers[int(op&0x3f)%3])
			continue
		}
		stream := "stdout"
		if op&1 != 0 {
			stream = "stderr"
		}
		n = min(n, len(fuzzOutput)-total)
		s.Append(stream, fuzzOutput[total:total+n])
		total += n
	}
	s.SetExit(3)
	for i := range readers {
		rd := &readers[i]
		for n := 0; ; n++ {
			if n > 1<<14 {
				t.Fatalf("reader %d: no exit after %d polls, at seq %d, %d bytes of %d", i, n, rd.seq, rd.pos, total)
			}
			out := poll(rd)
			if !out.Alive {
				if out.Exit == nil || *out.Exit != 3 || out.More {
					t.Fatalf("reader %d: the end of the output says exit %v, more %v", i, out.Exit, out.More)
				}
				break
			}
		}
		if rd.pos != total {
			t.Errorf("reader %d: received + missed = %d, want the %d bytes appended", i, rd.pos, total)
		}
		poll(rd) // nothing after the exit
	}
}
