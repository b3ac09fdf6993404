//go:build linux

package processes_test

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"syscall"
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

// modes are the two containments, for the benchmarks that compare them.
var modes = []struct {
	name string
	opt  processes.Option
}{{"cgroup", nil}, {"fallback", processes.WithoutCgroup()}}

// BenchmarkStartTrue starts /bin/true as a session and waits until Done,
// with a cgroup per session (created, entered at clone, and removed when
// the Manager shuts down) and in the fallback. The exited sessions stay
// registered until the Manager shuts down after the timed loop, as they
// would for final polls.
func BenchmarkStartTrue(b *testing.B) {
	for _, mode := range modes {
		b.Run(mode.name, func(b *testing.B) {
			m := processes.NewManager(0, mode.opt)
			defer m.Shutdown(context.Background())
			b.ReportAllocs()
			for b.Loop() {
				s, err := m.Start(exec.Command("/bin/true"), processes.StartOptions{})
				if err != nil {
					b.Fatal(err)
				}
				<-s.Done()
			}
		})
	}
}

// BenchmarkCloseExited closes an exited session and waits until it is
// gone: with a cgroup, cgroup.kill, the wait for populated 0 and the
// removal of the cgroup; in the fallback, the last scans of /proc.
func BenchmarkCloseExited(b *testing.B) {
	for _, mode := range modes {
		b.Run(mode.name, func(b *testing.B) {
			m := processes.NewManager(0, mode.opt)
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
				if err := s.Terminate(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSignalBaseline is the bare baseline of BenchmarkPauseResume:
// SIGSTOP and SIGCONT to one process, without waiting for their effect.
func BenchmarkSignalBaseline(b *testing.B) {
	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	for b.Loop() {
		_ = cmd.Process.Signal(syscall.SIGSTOP)
		_ = cmd.Process.Signal(syscall.SIGCONT)
	}
}

// BenchmarkPauseResume pauses and resumes a session of two processes and
// waits each time until the tree is frozen, then running.
func BenchmarkPauseResume(b *testing.B) {
	for _, mode := range modes {
		b.Run(mode.name, func(b *testing.B) {
			m := processes.NewManager(0, mode.opt)
			defer m.Shutdown(context.Background())
			s, err := m.Start(exec.Command("sh", "-c", "sleep 1000 & exec sleep 1000"), processes.StartOptions{})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			for b.Loop() {
				if err := s.Pause(ctx); err != nil {
					b.Fatal(err)
				}
				if err := s.Resume(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUsage reads the usage of a session of two processes.
func BenchmarkUsage(b *testing.B) {
	for _, mode := range modes {
		b.Run(mode.name, func(b *testing.B) {
			m := processes.NewManager(0, mode.opt)
			defer m.Shutdown(context.Background())
			s, err := m.Start(exec.Command("sh", "-c", "sleep 1000 & exec sleep 1000"), processes.StartOptions{})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Usage(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
