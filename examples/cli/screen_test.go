//go:build linux

package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Insert puts cli's sequence where the program's output stands between two
// sequences or characters: at once if it does, else where the one in
// progress ends, however the output was cut into writes.
func TestScreenInsertsBetweenSequences(t *testing.T) {
	const ins = "<INS>"
	tests := []struct {
		name   string
		before string // written, then ins inserted
		after  string // written after
		want   string
	}{
		{name: "between characters", before: "abc", after: "def", want: "abc<INS>def"},
		{name: "after a whole sequence", before: "\x1b[31mred", after: "!", want: "\x1b[31mred<INS>!"},
		{name: "in a control sequence", before: "\x1b[3", after: "1mX", want: "\x1b[31m<INS>X"},
		{name: "after a lone ESC", before: "\x1b", after: "[?1049hX", want: "\x1b[?1049h<INS>X"},
		{name: "in an OSC ended by BEL", before: "\x1b]2;ti", after: "tle\aZ", want: "\x1b]2;title\a<INS>Z"},
		{name: "in an OSC ended by ST", before: "\x1b]2;t", after: "\x1b\\Z", want: "\x1b]2;t\x1b\\<INS>Z"},
		{name: "in a DCS", before: "\x1bPq#0", after: "\x1b\\Z", want: "\x1bPq#0\x1b\\<INS>Z"},
		{name: "in a charset designation", before: "\x1b(", after: "B.", want: "\x1b(B<INS>."},
		{name: "in a UTF-8 character", before: "caf\xc3", after: "\xa9!", want: "caf\xc3\xa9<INS>!"},
		{name: "in a 4-byte UTF-8 character", before: "\xf0\x9f", after: "\x98\x80!", want: "\xf0\x9f\x98\x80<INS>!"},
		{name: "cancelled by CAN", before: "\x1b[3", after: "\x18x", want: "\x1b[3\x18<INS>x"},
		{name: "a sequence cut short by another", before: "\x1b[3", after: "\x1b[0mX", want: "\x1b[3\x1b[0m<INS>X"},
		{name: "C0 control inside a sequence", before: "\x1b[3\r", after: "1mX", want: "\x1b[3\r1m<INS>X"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			s := &screen{w: &out}
			n, err := s.Write([]byte(tt.before))
			require.NoError(t, err)
			require.Equal(t, len(tt.before), n)
			require.NoError(t, s.Insert([]byte(ins)))
			n, err = s.Write([]byte(tt.after))
			require.NoError(t, err)
			assert.Equal(t, len(tt.after), n, "got %d bytes written, want %d", n, len(tt.after))
			assert.Equal(t, tt.want, out.String())
		})
	}
}

// What Insert leaves pending keeps its order, waits across writes that
// stay inside the sequence, and Flush writes it at the end wherever the
// output stands.
func TestScreenPendingAcrossWritesAndFlush(t *testing.T) {
	var out bytes.Buffer
	s := &screen{w: &out}
	_, err := s.Write([]byte("\x1b]2;long"))
	require.NoError(t, err)
	require.NoError(t, s.Insert([]byte("1")))
	require.NoError(t, s.Insert([]byte("2")))
	_, err = s.Write([]byte(" title"))
	require.NoError(t, err)
	assert.Equal(t, "\x1b]2;long title", out.String(), "inserted inside the OSC")
	_, err = s.Write([]byte("\a"))
	require.NoError(t, err)
	assert.Equal(t, "\x1b]2;long title\a12", out.String())

	_, err = s.Write([]byte("\x1b["))
	require.NoError(t, err)
	require.NoError(t, s.Insert([]byte("3")))
	require.NoError(t, s.Flush())
	assert.Equal(t, "\x1b]2;long title\a12\x1b[3", out.String())
	require.NoError(t, s.Flush())
	assert.Equal(t, "\x1b]2;long title\a12\x1b[3", out.String(), "flushed twice")
}
