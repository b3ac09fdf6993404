package httpapi

import (
	"bufio"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sessionkit/sessionkit/processes"
)

// writeBufSize is the size of the buffer through which polls and event
// streams are written: one per response being written, pooled, never kept
// by a stream between two batches.
const writeBufSize = 32 << 10

// The encoding of one chunk in a poll, {"stream":S,"seq":N,"data":"B"},
// is chunkFraming bytes plus the stream name in JSON, the decimal Seq and
// the base64 data; chunks are separated by a comma.
const chunkFraming = len(`{"stream":,"seq":,"data":""}`)

// The encoding of one chunk as an output event is eventFraming bytes plus
// the Seq twice (the id and the seq field), the stream name in JSON and the
// base64 data.
const eventFraming = len("id: \nevent: output\ndata: \n\n") + chunkFraming

// Estimates for [processes.PageOptions], which counts raw bytes: a stream
// name of 8 bytes in JSON ("stdout" quoted) and a Seq of 10 digits. Base64
// makes d bytes into at most (4d+8)/3, so a chunk encoded in e+4d/3+8/3
// bytes counts d + ceil((3e+8)/4) raw bytes against 3/4 of the bound. The
// encoder enforces the exact bound of a poll; stream names or Seqs longer
// than estimated only make a page shorter than it could have been.
const (
	estStream          = 8
	estSeqDigits       = 10
	pollChunkOverhead  = (3*(chunkFraming+estStream+estSeqDigits+1) + 8 + 3) / 4
	eventChunkOverhead = (3*(eventFraming+estStream+2*estSeqDigits) + 8 + 3) / 4
)

// pollHead starts every poll; pollTailReserve bounds what follows the
// chunks (exit, alive, lost_bytes, missed, invocation_id, more) for the
// page's estimate; the exact tail is measured per poll.
const (
	pollHead        = `{"chunks":[`
	pollTailReserve = 256
)

// encoder writes a response through a pooled buffer, setting the write
// deadline before every write to the connection.
type encoder struct {
	bw      *bufio.Writer
	dw      deadlineWriter
	scratch [4096]byte // base64 of 3072 bytes, or a number
	stream  string     // the stream name last encoded, and its JSON
	streamJ []byte
}

var encoders = sync.Pool{New: func() any {
	e := new(encoder)
	e.bw = bufio.NewWriterSize(&e.dw, writeBufSize)
	return e
}}

// getEncoder returns an encoder writing to w, whose controller rc sets a
// deadline of timeout (none when not positive) before each write. Return
// it with release once flushed.
func getEncoder(w io.Writer, rc *http.ResponseController, timeout time.Duration) *encoder {
	e := encoders.Get().(*encoder)
	e.dw = deadlineWriter{w: w, rc: rc, timeout: timeout}
	return e
}

// release drops what the encoder refers to and returns it to the pool.
func (e *encoder) release() {
	e.bw.Reset(&e.dw)
	e.dw = deadlineWriter{}
	e.stream = ""
	if cap(e.streamJ) > 256 {
		e.streamJ = nil
	}
	encoders.Put(e)
}

// flush writes out the buffer and flushes the response to the client.
func (e *encoder) flush() error {
	if err := e.bw.Flush(); err != nil {
		return err
	}
	e.dw.arm()
	if err := e.dw.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

// deadlineWriter sets the connection's write deadline before each write,
// so that a client that stops reading fails the write after timeout.
type deadlineWriter struct {
	w       io.Writer
	rc      *http.ResponseController
	timeout time.Duration
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	d.arm()
	return d.w.Write(p)
}

// arm sets the deadline of the next write; a ResponseWriter without
// deadlines is written without.
func (d *deadlineWriter) arm() {
	if d.timeout > 0 {
		_ = d.rc.SetWriteDeadline(time.Now().Add(d.timeout))
	}
}

// streamJSON returns the JSON string of a stream name, cached for the run
// of chunks of one stream.
func (e *encoder) streamJSON(stream string) []byte {
	if stream != e.stream || e.streamJ == nil {
		e.stream = stream
		e.streamJ = appendJSONString(e.streamJ[:0], stream)
	}
	return e.streamJ
}

// chunkSize returns the length of c's encoding in a poll.
func (e *encoder) chunkSize(c processes.Chunk) int {
	return chunkFraming + len(e.streamJSON(c.Stream)) + len(strconv.AppendInt(e.scratch[:0], int64(c.Seq), 10)) +
		base64.StdEncoding.EncodedLen(len(c.Data))
}

// chunk writes c as in a poll.
func (e *encoder) chunk(c processes.Chunk) {
	e.bw.WriteString(`{"stream":`)
	e.bw.Write(e.streamJSON(c.Stream))
	e.bw.WriteString(`,"seq":`)
	e.int(int64(c.Seq))
	e.bw.WriteString(`,"data":"`)
	e.base64(c.Data)
	e.bw.WriteString(`"}`)
}

// outputEvent writes c as an output event.
func (e *encoder) outputEvent(c processes.Chunk) {
	e.bw.WriteString("id: ")
	e.int(int64(c.Seq))
	e.bw.WriteString("\nevent: output\ndata: ")
	e.chunk(c)
	e.bw.WriteString("\n\n")
}

func (e *encoder) int(n int64) {
	e.bw.Write(strconv.AppendInt(e.scratch[:0], n, 10))
}

// base64 writes data in standard base64 with padding, as encoding/json
// encodes a []byte, without allocating.
func (e *encoder) base64(data []byte) {
	const block = 3 * 1024 // encodes to 4096 bytes, without padding inside
	for len(data) > 0 {
		n := min(len(data), block)
		base64.StdEncoding.Encode(e.scratch[:], data[:n])
		e.bw.Write(e.scratch[:base64.StdEncoding.EncodedLen(n)])
		data = data[n:]
	}
}

// appendPollTail appends what follows the chunks of a poll.
func appendPollTail(dst []byte, exit *int, alive bool, lost, missed int, inv string, more bool) []byte {
	dst = append(dst, `],"exit":`...)
	if exit == nil {
		dst = append(dst, "null"...)
	} else {
		dst = strconv.AppendInt(dst, int64(*exit), 10)
	}
	dst = append(dst, `,"alive":`...)
	dst = strconv.AppendBool(dst, alive)
	dst = append(dst, `,"lost_bytes":`...)
	dst = strconv.AppendInt(dst, int64(lost), 10)
	dst = append(dst, `,"missed":`...)
	dst = strconv.AppendInt(dst, int64(missed), 10)
	dst = append(dst, `,"invocation_id":`...)
	dst = appendJSONString(dst, inv)
	dst = append(dst, `,"more":`...)
	dst = strconv.AppendBool(dst, more)
	return append(dst, "}\n"...)
}

// pollLayout is how a poll lays out its page: how many of the page's
// chunks it carries, whether it says "more", and its exact length in bytes,
// which the handler sends as Content-Length.
type pollLayout struct {
	n    int
	more bool
	size int
}

// layoutPoll lays out out as the JSON body of a poll, at most limit bytes
// long unless its first chunk alone is longer: chunks that do not fit are
// left for the next poll, and "more" says so.
func (e *encoder) layoutPoll(out processes.Output, limit int) pollLayout {
	var tail [512]byte
	cut := len(appendPollTail(tail[:0], nil, true, out.LostBytes, out.Missed, out.InvocationID, true))
	end := len(appendPollTail(tail[:0], out.Exit, out.Alive, out.LostBytes, out.Missed, out.InvocationID, out.More))
	budget := limit - len(pollHead) - max(cut, end)
	n, used := 0, 0
	for i, c := range out.Chunks {
		size := e.chunkSize(c)
		if i > 0 {
			size++ // the comma
			if used+size > budget {
				break
			}
		}
		used += size
		n++
	}
	l := pollLayout{n: n, more: n < len(out.Chunks) || out.More, size: len(pollHead) + used + end}
	if l.more {
		l.size += cut - end
	}
	return l
}

// writePoll writes out as the JSON body of a poll laid out by layoutPoll:
// exactly l.size bytes. Until the page reaches the end of the output, it
// reports the session as alive with no exit, so that a client that stops
// at the exit has read all of the output first. It returns the error of
// writing to the client.
func (e *encoder) writePoll(out processes.Output, l pollLayout) error {
	e.bw.WriteString(pollHead)
	for i, c := range out.Chunks[:l.n] {
		if i > 0 {
			e.bw.WriteByte(',')
		}
		e.chunk(c)
	}
	var tail [512]byte
	if l.more {
		e.bw.Write(appendPollTail(tail[:0], nil, true, out.LostBytes, out.Missed, out.InvocationID, true))
	} else {
		e.bw.Write(appendPollTail(tail[:0], out.Exit, out.Alive, out.LostBytes, out.Missed, out.InvocationID, false))
	}
	return e.flush()
}

// hex is for \u escapes.
const hex = "0123456789abcdef"

// appendJSONString appends s as a JSON string exactly as encoding/json
// encodes it: with <, > and & escaped for HTML, U+2028 and U+2029 escaped,
// and each byte of invalid UTF-8 as U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= ' ' && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
