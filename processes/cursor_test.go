//go:build linux

package processes_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/processes"
)

// TestLastSeqCursorSeesLaterOutput takes a cursor at the newest Seq before
// any read returned the newest chunk, as a reader that wants only what
// comes next does: the output written after it must come in newer chunks,
// not be added to the chunk the cursor already counts (which the readers
// do to a chunk no read has returned), where that reader would never see
// it nor be told it missed it (and WaitOutput at the cursor would not wake
// before the exit).
func TestLastSeqCursorSeesLaterOutput(t *testing.T) {
	m := newReal(t)
	s := start(t, m, processes.StartOptions{}, "cat")
	_, err := s.Write([]byte("a"))
	require.NoError(t, err)
	require.NoError(t, s.WaitOutput(t.Context(), 0)) // "a" is in, unread
	since := s.LastSeq()
	_, err = s.Write([]byte("b"))
	require.NoError(t, err)
	require.NoError(t, s.CloseStdin())
	assert.Equal(t, 0, waitDone(t, s))

	out := s.Output(since)
	var got []byte
	for _, c := range out.Chunks {
		got = append(got, c.Data...)
	}
	assert.Equal(t, "b", string(got), "output after LastSeq")
	assert.Zero(t, out.Missed)
	assert.Equal(t, "ab", streams(s)["stdout"])
}
