//go:build linux

package processes_test

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/sessionkit/sessionkit/processes"
)

const floodBytes = 64 << 20

func floodCmd() *exec.Cmd {
	return exec.Command("head", "-c", strconv.Itoa(floodBytes), "/dev/zero")
}

// BenchmarkPipeReadBaseline is the bare baseline of BenchmarkCaptureFlood:
// an os/exec child's stdout read in a loop with the same buffer size.
func BenchmarkPipeReadBaseline(b *testing.B) {
	buf := make([]byte, 64<<10)
	b.SetBytes(floodBytes)
	b.ReportAllocs()
	for b.Loop() {
		cmd := floodCmd()
		r, w, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		cmd.Stdout = w
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		w.Close()
		n := 0
		for {
			k, err := r.Read(buf)
			n += k
			if err != nil {
				break
			}
		}
		r.Close()
		if err := cmd.Wait(); err != nil || n != floodBytes {
			b.Fatalf("read %d bytes, err %v", n, err)
		}
	}
}

// BenchmarkCaptureFlood captures the same flood into a session, until Done.
// The exited sessions are forgotten after the timed loop, as the baseline
// has nothing to forget.
func BenchmarkCaptureFlood(b *testing.B) {
	m := processes.NewManager(0)
	defer m.Shutdown(context.Background())
	b.SetBytes(floodBytes)
	b.ReportAllocs()
	for b.Loop() {
		s, err := m.Start(floodCmd(), processes.StartOptions{})
		if err != nil {
			b.Fatal(err)
		}
		<-s.Done()
		if s.LostBytes() != floodBytes-processes.MaxBufferBytes {
			b.Fatalf("lost %d bytes, want %d", s.LostBytes(), floodBytes-processes.MaxBufferBytes)
		}
	}
}

// BenchmarkExecTrueBaseline is the bare baseline of BenchmarkStartTrue:
// exec.Cmd Start and Wait of /bin/true.
func BenchmarkExecTrueBaseline(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if err := exec.Command("/bin/true").Run(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStartTrue starts /bin/true as a session and waits until Done.
// The exited sessions stay registered until the Manager shuts down after
// the timed loop, as they would for final polls.
func BenchmarkStartTrue(b *testing.B) {
	m := processes.NewManager(0)
	defer m.Shutdown(context.Background())
	b.ReportAllocs()
	for b.Loop() {
		s, err := m.Start(exec.Command("/bin/true"), processes.StartOptions{})
		if err != nil {
			b.Fatal(err)
		}
		<-s.Done()
	}
}

// BenchmarkForgetExited forgets an exited session: the final sweep of its
// process tree through /proc.
func BenchmarkForgetExited(b *testing.B) {
	m := processes.NewManager(0)
	defer m.Shutdown(context.Background())
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		s, err := m.Start(exec.Command("/bin/true"), processes.StartOptions{})
		if err != nil {
			b.Fatal(err)
		}
		<-s.Done()
		b.StartTimer()
		m.Forget(s.ID)
	}
}
