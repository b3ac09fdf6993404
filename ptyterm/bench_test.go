//go:build linux

package ptyterm_test

import (
	"context"
	"os/exec"
	"strconv"
	"testing"

	"github.com/creack/pty"

	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/ptyterm"
)

const floodBytes = 16 << 20

func floodCmd() *exec.Cmd {
	return exec.Command("head", "-c", strconv.Itoa(floodBytes), "/dev/zero")
}

// BenchmarkPtyReadBaseline is the bare baseline of BenchmarkTerminalFlood: a
// creack/pty child's output read from the master in a loop until EIO.
func BenchmarkPtyReadBaseline(b *testing.B) {
	buf := make([]byte, 64<<10)
	b.SetBytes(floodBytes)
	b.ReportAllocs()
	for b.Loop() {
		cmd := floodCmd()
		master, err := pty.Start(cmd)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			k, err := master.Read(buf)
			n += k
			if err != nil {
				break
			}
		}
		master.Close()
		if err := cmd.Wait(); err != nil || n != floodBytes {
			b.Fatalf("read %d bytes, err %v", n, err)
		}
	}
}

// BenchmarkTerminalFlood captures the same flood through a Terminal, until
// its session is Done. The Manager is shut down after the timed loop.
func BenchmarkTerminalFlood(b *testing.B) {
	m := processes.NewManager(0)
	defer m.Shutdown(context.Background())
	b.SetBytes(floodBytes)
	b.ReportAllocs()
	for b.Loop() {
		term, err := ptyterm.Start(m, floodCmd(), ptyterm.Options{})
		if err != nil {
			b.Fatal(err)
		}
		s := term.Session()
		<-s.Done()
		if got := s.LostBytes() + retained(s); got != floodBytes {
			b.Fatalf("captured %d bytes, want %d", got, floodBytes)
		}
	}
}

func retained(s *processes.Session) int {
	chunks, _, _ := s.OutputSince(0)
	n := 0
	for _, c := range chunks {
		n += len(c.Data)
	}
	return n
}
