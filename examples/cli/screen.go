//go:build linux

package main

import (
	"io"
	"sync"
)

// screen is the user's terminal as the program's output reaches it. Write
// passes the output through unchanged and follows where it stands in the
// grammar of escape sequences and UTF-8, so that Insert puts cli's own
// sequences (the idle warning in the title) between the program's
// characters and sequences, never inside one. It is safe for concurrent
// use; the zero screen is not usable, w must be set.
type screen struct {
	mu      sync.Mutex
	w       io.Writer
	vt      vtScanner
	pending []byte // inserted while the output stood inside a sequence
}

// Write writes the program's output p, with what Insert left pending
// slipped in at the first point of p that is between two sequences or
// characters. It returns how many bytes of p were written, and the first
// error.
func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	if len(s.pending) > 0 {
		for n < len(p) && !s.vt.atBoundary() {
			s.vt.next(p[n])
			n++
		}
		if _, err := s.w.Write(p[:n]); err != nil {
			return 0, err
		}
		if !s.vt.atBoundary() {
			return n, nil // still inside: the next Write inserts
		}
		if err := s.flushLocked(); err != nil {
			return n, err
		}
	}
	rest := p[n:]
	for _, b := range rest {
		s.vt.next(b)
	}
	m, err := s.w.Write(rest)
	return n + m, err
}

// Insert writes seq at once if the output stands between two sequences or
// characters, which is nearly always so, or else leaves it for the next
// Write to put where the sequence in progress ends. It returns the error of
// the write.
func (s *screen) Insert(seq []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = append(s.pending, seq...)
	if !s.vt.atBoundary() {
		return nil
	}
	return s.flushLocked()
}

// Flush writes what Insert left pending, wherever the output stands: for
// the end, once the program is gone and no sequence of its will complete.
func (s *screen) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flushLocked()
}

func (s *screen) flushLocked() error {
	if len(s.pending) == 0 {
		return nil
	}
	p := s.pending
	s.pending = nil
	_, err := s.w.Write(p)
	return err
}

// vtScanner follows a terminal's output byte by byte, as far as needed to
// know whether it stands between sequences: the states of the ECMA-48
// parser that matter here (escape, control and string sequences), and
// UTF-8 characters. The zero vtScanner is at the start of the output.
type vtScanner struct {
	state vtState
	more  int // continuation bytes still due in vtUTF8
}

type vtState uint8

const (
	vtGround    vtState = iota // between sequences and characters
	vtEscape                   // after ESC
	vtEscInter                 // after ESC and intermediate bytes
	vtCSI                      // in a control sequence, ESC [ ... final byte
	vtString                   // in OSC, DCS, SOS, PM or APC, until BEL or ST
	vtStringEsc                // after ESC in a string: ST if \ follows
	vtUTF8                     // in a multibyte UTF-8 character
)

// atBoundary reports whether the output so far ends between two sequences
// or characters, where another sequence may go.
func (v *vtScanner) atBoundary() bool { return v.state == vtGround }

// next advances over one byte of output.
func (v *vtScanner) next(b byte) {
	switch v.state {
	case vtString:
		switch b {
		case 0x07, 0x18, 0x1a: // BEL ends an OSC; CAN and SUB cancel
			v.state = vtGround
		case 0x1b:
			v.state = vtStringEsc
		}
		return
	case vtStringEsc:
		if b == '\\' { // ST
			v.state = vtGround
			return
		}
		v.state = vtEscape // that ESC began another sequence
	}
	switch b {
	case 0x1b: // starts a sequence, cancelling one in progress
		v.state = vtEscape
		return
	case 0x18, 0x1a: // CAN, SUB
		v.state = vtGround
		return
	}
	switch v.state {
	case vtGround:
		switch {
		case b >= 0xc2 && b <= 0xdf:
			v.state, v.more = vtUTF8, 1
		case b >= 0xe0 && b <= 0xef:
			v.state, v.more = vtUTF8, 2
		case b >= 0xf0 && b <= 0xf4:
			v.state, v.more = vtUTF8, 3
		}
	case vtUTF8:
		if b&0xc0 != 0x80 { // not a continuation: the character was cut short
			v.state = vtGround
			v.next(b)
			return
		}
		if v.more--; v.more == 0 {
			v.state = vtGround
		}
	case vtEscape:
		switch {
		case b == '[':
			v.state = vtCSI
		case b == ']', b == 'P', b == 'X', b == '^', b == '_':
			v.state = vtString
		case b >= 0x20 && b <= 0x2f:
			v.state = vtEscInter
		case b >= 0x30 && b <= 0x7e:
			v.state = vtGround
		}
		// C0 controls inside a sequence are executed and leave it open.
	case vtEscInter:
		if b >= 0x30 && b <= 0x7e {
			v.state = vtGround
		}
	case vtCSI:
		if b >= 0x40 && b <= 0x7e {
			v.state = vtGround
		}
	}
}
