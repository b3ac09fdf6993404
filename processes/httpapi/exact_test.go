//go:build linux

package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

// numberedLine is the length of a line of `seq -f %07g`: seven digits
// and a newline.
const numberedLine = 8

// numberedAt returns the n bytes at offset o of the output of
// `seq -f %07g 1 N`, whose line i (from 1) is i in seven digits.
func numberedAt(o, n int) []byte {
	b := make([]byte, 0, n+2*numberedLine)
	for i := o / numberedLine; len(b) < o%numberedLine+n; i++ {
		b = fmt.Appendf(b, "%07d\n", i+1)
	}
	return b[o%numberedLine : o%numberedLine+n]
}

// account is what one reader made of the output: the bytes it was told it
// missed and the bytes it received, in order, which must be the output
// itself, every byte accounted for once.
type account struct {
	name string
	pos  int // bytes received plus bytes missed so far
	seq  int // the cursor
}

func (a *account) missed(n int) error {
	if n < 0 {
		return fmt.Errorf("%s: missed %d", a.name, n)
	}
	a.pos += n
	return nil
}

// received checks data against the output at a.pos; seq 0 is a message
// without a Seq (an attachment's).
func (a *account) received(seq int, data []byte) error {
	if seq != 0 && seq <= a.seq {
		return fmt.Errorf("%s: seq %d after %d", a.name, seq, a.seq)
	}
	if want := numberedAt(a.pos, len(data)); !bytes.Equal(data, want) {
		return fmt.Errorf("%s: %d bytes at offset %d (seq %d) are not the output there", a.name, len(data), a.pos, seq)
	}
	a.pos += len(data)
	if seq != 0 {
		a.seq = seq
	}
	return nil
}

// TestEveryPathAccountsForEveryByte runs a process that writes 1.6 MB,
// waits, then writes 1.6 MB more, through a 1 MiB ring, and reads it over
// every route: bounded polls (merged or not), Follow, an event stream
// that reconnects with Last-Event-ID, and an attachment from a cursor in
// the middle. Each reader starts at 0 once the first half has overwritten
// its start, reads a page, the second half then overwrites what it had
// not read, and it reads on to the exit: the bytes it received plus the missed bytes it was told of are
// exactly the output, each byte at its place, none twice.
func TestEveryPathAccountsForEveryByte(t *testing.T) {
	const lines = 400000
	const total = lines * numberedLine
	e := newEnv(t, nil, httpapi.Options{MaxResponseBytes: 64 << 10})
	s, err := e.m.Start(exec.Command("sh", "-c",
		fmt.Sprintf("seq -f %%07g 1 %d; read x; seq -f %%07g %d %d", lines/2, lines/2+1, lines)),
		processes.StartOptions{ID: "s"})
	require.NoError(t, err)
	ctx := t.Context()
	inv := s.InvocationID()
	// The first half is in, and has overwritten its start.
	for s.LostBytes() < total/2-processes.MaxBufferBytes {
		require.NoError(t, s.WaitOutput(ctx, s.LastSeq()))
	}

	// Readers by poll: a page each now, the rest after the second half.
	polls := []*account{{name: "poll"}, {name: "poll merged"}}
	poll := func(a *account, merge bool) bool {
		out, err := e.c.Poll(ctx, "s", httpapi.Cursor{InvocationID: inv, Seq: a.seq},
			httpapi.PollOptions{Merge: merge, Wait: 10 * time.Second})
		require.NoError(t, err)
		require.NoError(t, a.missed(out.Missed))
		for _, c := range out.Chunks {
			require.NoError(t, a.received(c.Seq, c.Data))
		}
		return out.Alive || out.More
	}
	for i, a := range polls {
		poll(a, i == 1)
	}
	mid := *polls[0] // where the attachment starts

	// An event stream, left after its first output event.
	events := &account{name: "events"}
	sse := func(lastID string) bool {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		resp := openEvents(t, e, ctx, "?merge=1&invocation="+inv, lastID)
		exited := false
		_, err := readEvents(resp.Body, func(ev event) bool {
			switch ev.name {
			case "missed":
				var m struct{ Missed int }
				require.NoError(t, json.Unmarshal([]byte(ev.data), &m))
				require.NoError(t, events.missed(m.Missed))
			case "output":
				var c struct {
					Seq  int
					Data []byte
				}
				require.NoError(t, json.Unmarshal([]byte(ev.data), &c))
				require.Equal(t, strconv.Itoa(c.Seq), ev.id)
				require.NoError(t, events.received(c.Seq, c.Data))
				return lastID == "" // the first connection leaves here
			case "exit":
				exited = true
				return true
			}
			return false
		})
		require.NoError(t, err)
		return exited
	}
	sse("")

	// Follow, held in its first callback until the second half is out.
	follow := &account{name: "follow"}
	first, release := make(chan struct{}), make(chan struct{})
	followed := make(chan error, 1)
	go func() {
		held := false
		code, err := e.c.FollowCursor(ctx, "s", httpapi.Cursor{}, func(out processes.Output) error {
			if !held {
				held = true
				close(first)
				<-release
			}
			if err := follow.missed(out.Missed); err != nil {
				return err
			}
			for _, c := range out.Chunks {
				if err := follow.received(c.Seq, c.Data); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil && code != 0 {
			err = fmt.Errorf("exit %d", code)
		}
		followed <- err
	}()
	proctest.Recv(t, first)

	_, err = s.Write([]byte("\n"))
	require.NoError(t, err)
	proctest.Recv(t, s.Done())
	close(release)

	for i, a := range polls {
		for poll(a, i == 1) {
		}
	}
	for !sse(strconv.Itoa(events.seq)) {
	}
	require.NoError(t, proctest.Recv(t, followed))

	attach := &mid
	attach.name = "attach"
	c := dial(t, e, fmt.Sprintf("/s/attach?since=%d&invocation=%s", attach.seq, inv), nil)
	for {
		m, err := next(t, c)
		require.NoError(t, err)
		if m.kind == "output" {
			require.NoError(t, attach.received(0, m.out))
			continue
		}
		if m.kind == "missed" {
			require.NoError(t, attach.missed(int(m.ctl["missed"].(float64))))
		}
		if m.kind == "exit" {
			break
		}
	}

	for _, a := range append(polls, events, follow, attach) {
		assert.Equal(t, total, a.pos, "%s: received + missed", a.name)
	}
	assert.Equal(t, total-processes.MaxBufferBytes, s.LostBytes())
}
