package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

// byteRing returns a Manager holding "s": a full ring of one-byte chunks,
// as a child that writes a byte at a time makes, exited.
func byteRing(b *testing.B) *processes.Manager {
	b.Helper()
	m := processes.NewManager(0)
	s := &processes.Session{ID: "s"}
	one := []byte{'x'}
	for range processes.MaxBufferBytes + 1000 {
		s.Append("stdout", one)
	}
	s.SetExit(0)
	m.Register(s)
	return m
}

// BenchmarkMarshalBaseline is the bare baseline of the polls below:
// json.Marshal of the ring's 1 MiB as one []byte.
func BenchmarkMarshalBaseline(b *testing.B) {
	data := make([]byte, processes.MaxBufferBytes)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPollByteRing polls a full ring of one-byte chunks from 0 with
// the default bound: merged (one poll returns the whole ring as one
// chunk), one page unmerged, and every page unmerged until "more" is
// false. SetBytes counts the output bytes delivered.
func BenchmarkPollByteRing(b *testing.B) {
	m := byteRing(b)
	h := httpapi.NewHandler(m, httpapi.Options{})
	poll := func(since int, merge bool) (delivered, body int, last int, more bool) {
		q := "?since=" + strconv.Itoa(since)
		if merge {
			q += "&merge=1"
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", httpapi.DefaultPrefix+"/s/output"+q, nil))
		var out struct {
			Chunks []struct {
				Seq  int
				Data []byte
			}
			More bool
		}
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			b.Fatal(err)
		}
		for _, c := range out.Chunks {
			delivered += len(c.Data)
			last = c.Seq
		}
		return delivered, w.Body.Len(), last, out.More
	}
	// The decoding above is the client's cost; the benchmarks time the
	// handler alone, into a writer that keeps nothing.
	serve := func(since int, merge bool) int {
		q := "?since=" + strconv.Itoa(since)
		if merge {
			q += "&merge=1"
		}
		w := &discard{}
		h.ServeHTTP(w, httptest.NewRequest("GET", httpapi.DefaultPrefix+"/s/output"+q, nil))
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
		return w.n
	}

	b.Run("merge", func(b *testing.B) {
		delivered, body, _, _ := poll(0, true)
		b.SetBytes(int64(delivered))
		b.ReportMetric(float64(body), "body-bytes/op")
		b.ReportAllocs()
		for b.Loop() {
			serve(0, true)
		}
	})
	b.Run("nomerge-page", func(b *testing.B) {
		delivered, body, _, _ := poll(0, false)
		b.SetBytes(int64(delivered))
		b.ReportMetric(float64(body), "body-bytes/op")
		b.ReportAllocs()
		for b.Loop() {
			serve(0, false)
		}
	})
	b.Run("nomerge-all", func(b *testing.B) {
		var pages []int // the since of each page
		delivered, body := 0, 0
		for since, more := 0, true; more; {
			pages = append(pages, since)
			var d, n int
			d, n, since, more = poll(since, false)
			delivered += d
			body += n
		}
		b.SetBytes(int64(delivered))
		b.ReportMetric(float64(body), "body-bytes/op")
		b.ReportMetric(float64(len(pages)), "polls/op")
		b.ReportAllocs()
		for b.Loop() {
			for _, since := range pages {
				serve(since, false)
			}
		}
	})
}

// ringOf4K returns a Manager holding "s": a full ring of 4 KiB chunks, as
// a child that floods its stdout makes, exited.
func ringOf4K(b *testing.B) *processes.Manager {
	b.Helper()
	m := processes.NewManager(0)
	s := &processes.Session{ID: "s"}
	chunk := make([]byte, 4<<10)
	for i := range chunk {
		chunk[i] = byte(i)
	}
	for range 2 * processes.MaxBufferBytes / len(chunk) {
		s.Append("stdout", chunk)
	}
	s.SetExit(0)
	m.Register(s)
	return m
}

// BenchmarkEventsFlood streams a full ring of 4 KiB chunks as events, from
// 0 to the exit event, into an httptest.ResponseRecorder. SetBytes counts
// the output bytes, 1 MiB.
func BenchmarkEventsFlood(b *testing.B) {
	h := httpapi.NewHandler(ringOf4K(b), httpapi.Options{Heartbeat: -1})
	b.SetBytes(processes.MaxBufferBytes)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", httpapi.DefaultPrefix+"/s/events?since=0", nil))
	}
}

// BenchmarkEventsBaseline is the bare baseline of BenchmarkEventsFlood: a
// loop writing the same bytes, event by event, to an
// httptest.ResponseRecorder.
func BenchmarkEventsBaseline(b *testing.B) {
	h := httpapi.NewHandler(ringOf4K(b), httpapi.Options{Heartbeat: -1})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", httpapi.DefaultPrefix+"/s/events?since=0", nil))
	var events [][]byte
	body := rec.Body.Bytes()
	for len(body) > 0 {
		end := len(body)
		for i := 0; i+1 < len(body); i++ {
			if body[i] == '\n' && body[i+1] == '\n' {
				end = i + 2
				break
			}
		}
		events = append(events, body[:end])
		body = body[end:]
	}
	b.SetBytes(processes.MaxBufferBytes)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		for _, ev := range events {
			_, _ = w.Write(ev)
		}
		w.Flush()
	}
}
