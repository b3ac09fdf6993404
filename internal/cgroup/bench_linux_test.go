package cgroup_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/sessionkit/sessionkit/internal/cgroup"
)

// Each benchmark has its bare baseline beside it as a sub-benchmark: the
// same effect without this package (or without cgroups), in the same run.

// tmpfsDir returns a directory on tmpfs (/dev/shm) if there is one, else a
// temporary directory.
func tmpfsDir(b *testing.B) string {
	if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil && strings.Contains(string(mi), " /dev/shm ") {
		if dir, err := os.MkdirTemp("/dev/shm", "cgbench"); err == nil {
			b.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return b.TempDir()
}

func BenchmarkCreateRemove(b *testing.B) {
	b.Run("Create+Remove+Close", func(b *testing.B) {
		dir := filepath.Join(cgroup.NewTestGroup(b).Path(), "g")
		for b.Loop() {
			g, err := cgroup.Create(dir)
			if err != nil {
				b.Fatal(err)
			}
			if err := g.Remove(); err != nil {
				b.Fatal(err)
			}
			g.Close()
		}
	})
	b.Run("bare mkdir+rmdir on cgroupfs", func(b *testing.B) {
		dir := filepath.Join(cgroup.NewTestGroup(b).Path(), "g")
		for b.Loop() {
			if err := syscall.Mkdir(dir, 0o755); err != nil {
				b.Fatal(err)
			}
			if err := syscall.Rmdir(dir); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bare mkdir+rmdir on tmpfs", func(b *testing.B) {
		dir := filepath.Join(tmpfsDir(b), "g")
		for b.Loop() {
			if err := syscall.Mkdir(dir, 0o755); err != nil {
				b.Fatal(err)
			}
			if err := syscall.Rmdir(dir); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkStartTrue(b *testing.B) {
	b.Run("into a group", func(b *testing.B) {
		g := cgroup.NewTestGroup(b)
		for b.Loop() {
			if err := command(g, "/bin/true").Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("into a new group, removed after", func(b *testing.B) {
		dir := filepath.Join(cgroup.NewTestGroup(b).Path(), "g")
		for b.Loop() {
			g, err := cgroup.Create(dir)
			if err != nil {
				b.Fatal(err)
			}
			if err := command(g, "/bin/true").Run(); err != nil {
				b.Fatal(err)
			}
			if err := g.Remove(); err != nil {
				b.Fatal(err)
			}
			g.Close()
		}
	})
	b.Run("bare", func(b *testing.B) {
		for b.Loop() {
			if err := exec.Command("/bin/true").Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// countReads reports how many times per operation a wait read
// cgroup.events: 1 when it found the state it waited for at once.
func countReads(b *testing.B) func() {
	var reads atomic.Int64
	cgroup.SetHookEventsRead(b, func([]byte) { reads.Add(1) })
	return func() { b.ReportMetric(float64(reads.Load())/float64(b.N), "reads/op") }
}

// Kill of a group with one sleeping member, until WaitEmpty returns; the
// member is started and reaped outside the timed part.
func BenchmarkKillWaitEmpty(b *testing.B) {
	group := func(pidfds bool) func(b *testing.B) {
		return func(b *testing.B) {
			cgroup.SetWatchPidfds(b, pidfds)
			g := cgroup.NewTestGroup(b)
			ctx := context.Background()
			report := countReads(b)
			b.StopTimer()
			for range b.N {
				cmd := command(g, "sleep", "1000")
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := g.Kill(); err != nil {
					b.Fatal(err)
				}
				if err := g.WaitEmpty(ctx); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				_ = cmd.Wait()
			}
			report()
		}
	}
	b.Run("Kill+WaitEmpty", group(true))
	b.Run("Kill+WaitEmpty without pidfds", group(false))
	b.Run("bare Process.Kill+Wait", func(b *testing.B) {
		b.StopTimer()
		for range b.N {
			cmd := exec.Command("sleep", "1000")
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			b.StopTimer()
		}
	})
}

// The wake-up of a waiter blocked on a group whose last member exits by
// itself: the time from closing cat's stdin to the waiter's return.
func BenchmarkWakeOnExit(b *testing.B) {
	wake := func(b *testing.B, g *cgroup.Group, wait func(*exec.Cmd) error, blocked <-chan struct{}) {
		b.StopTimer()
		for range b.N {
			cmd := exec.Command("cat")
			if g != nil {
				cmd = command(g, "cat")
			}
			stdin, err := cmd.StdinPipe()
			if err != nil {
				b.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- wait(cmd) }()
			if blocked != nil {
				<-blocked
			}
			b.StartTimer()
			stdin.Close()
			err = <-done
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if g != nil {
				_ = cmd.Wait()
			}
		}
	}
	group := func(pidfds bool) func(b *testing.B) {
		return func(b *testing.B) {
			cgroup.SetWatchPidfds(b, pidfds)
			g := cgroup.NewTestGroup(b)
			var reads atomic.Int64
			blocked := make(chan struct{}, 1)
			cgroup.SetHookEventsRead(b, func([]byte) {
				if reads.Add(1) == 2 { // the second read comes just before blocking
					blocked <- struct{}{}
				}
			})
			wake(b, g, func(*exec.Cmd) error {
				reads.Store(0)
				return g.WaitEmpty(context.Background())
			}, blocked)
		}
	}
	b.Run("WaitEmpty", group(true))
	b.Run("WaitEmpty without pidfds", group(false))
	b.Run("bare cmd.Wait", func(b *testing.B) {
		wake(b, nil, (*exec.Cmd).Wait, nil)
	})
}

func BenchmarkFreezeThaw(b *testing.B) {
	for _, member := range []struct{ name, script string }{
		{"sleeping member", "exec sleep 1000"},
		{"busy member", "while :; do :; done"},
	} {
		b.Run("Freeze+Thaw "+member.name, func(b *testing.B) {
			g := cgroup.NewTestGroup(b)
			start(b, g, "sh", "-c", member.script)
			ctx := context.Background()
			report := countReads(b)
			for b.Loop() {
				if err := g.Freeze(ctx); err != nil {
					b.Fatal(err)
				}
				if err := g.Thaw(ctx); err != nil {
					b.Fatal(err)
				}
			}
			report()
		})
		b.Run("bare SIGSTOP+SIGCONT "+member.name, func(b *testing.B) {
			pid := start(b, nil, "sh", "-c", member.script).Process.Pid
			var ws syscall.WaitStatus
			for b.Loop() {
				_ = syscall.Kill(pid, syscall.SIGSTOP)
				if _, err := syscall.Wait4(pid, &ws, syscall.WUNTRACED, nil); err != nil || !ws.Stopped() {
					b.Fatal("not stopped", err)
				}
				_ = syscall.Kill(pid, syscall.SIGCONT)
				if _, err := syscall.Wait4(pid, &ws, syscall.WCONTINUED, nil); err != nil || !ws.Continued() {
					b.Fatal("not continued", err)
				}
			}
		})
	}
}

func BenchmarkUsage(b *testing.B) {
	b.Run("Usage", func(b *testing.B) {
		g := cgroup.NewTestGroup(b)
		start(b, g, "sleep", "1000")
		for b.Loop() {
			if _, err := g.Usage(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bare os.ReadFile cpu.stat", func(b *testing.B) {
		g := cgroup.NewTestGroup(b)
		start(b, g, "sleep", "1000")
		file := filepath.Join(g.Path(), "cpu.stat")
		for b.Loop() {
			if _, err := os.ReadFile(file); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// WaitEmpty of a group that is empty already: what closing a session whose
// processes have exited costs.
func BenchmarkWaitEmptyEmpty(b *testing.B) {
	b.Run("WaitEmpty", func(b *testing.B) {
		g := cgroup.NewTestGroup(b)
		ctx := context.Background()
		for b.Loop() {
			if err := g.WaitEmpty(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bare os.ReadFile cgroup.events", func(b *testing.B) {
		file := filepath.Join(cgroup.NewTestGroup(b).Path(), "cgroup.events")
		for b.Loop() {
			if _, err := os.ReadFile(file); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkSignal(b *testing.B) {
	b.Run("Signal of one member", func(b *testing.B) {
		g := cgroup.NewTestGroup(b)
		start(b, g, "sleep", "1000")
		for b.Loop() {
			if n, err := g.Signal(syscall.SIGCONT); err != nil || n != 1 {
				b.Fatal(n, err)
			}
		}
	})
	b.Run("bare Process.Signal", func(b *testing.B) {
		p := start(b, nil, "sleep", "1000").Process
		for b.Loop() {
			if err := p.Signal(syscall.SIGCONT); err != nil {
				b.Fatal(err)
			}
		}
	})
}
