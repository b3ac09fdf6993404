//go:build linux

package processes_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
)

// heapInuse returns the Go heap in use, in bytes, after a collection.
func heapInuse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// heapPeak samples HeapInuse every few milliseconds until done is closed and
// then sends the highest value it saw. It measures; it waits for nothing.
func heapPeak(done <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		var peak uint64
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-done:
				out <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// isDone reports whether ch is closed, without waiting.
func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

const mib = 1 << 20

// TestFaultFloodWhileNobodyPolls floods 200 MiB into a session nobody polls:
// the ring keeps exactly the newest MaxBufferBytes, counts every dropped
// byte, and the Go heap does not follow the flood.
func TestFaultFloodWhileNobodyPolls(t *testing.T) {
	const total = 200 * mib
	// heapSlack bounds the heap growth during and after the flood: one ring
	// (1 MiB) plus its index, plus the 1 MiB copy a poll makes, plus noise.
	const heapSlack = 16 * mib
	tests := []struct {
		name string
		cmd  func(t *testing.T) *exec.Cmd
		fill byte
	}{
		{"head from /dev/zero", func(*testing.T) *exec.Cmd {
			return exec.Command("head", "-c", strconv.Itoa(total), "/dev/zero")
		}, 0},
		{"flood helper", func(t *testing.T) *exec.Cmd {
			return helperCmd(t, "flood", "FLOOD_BYTES="+strconv.Itoa(total))
		}, 'x'},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newReal(t)
			base := heapInuse()
			s, err := m.Start(tt.cmd(t), processes.StartOptions{})
			require.NoError(t, err)
			peak := heapPeak(s.Done())
			assert.Equal(t, 0, waitDone(t, s), "exit code")
			during := proctest.Recv(t, peak)

			out := s.Output(0)
			retained := 0
			for _, c := range out.Chunks {
				require.Equal(t, "stdout", c.Stream, "chunk %d", c.Seq)
				require.Equal(t, -1, bytes.IndexFunc(c.Data, func(r rune) bool { return r != rune(tt.fill) }),
					"chunk %d holds a byte other than %q", c.Seq, tt.fill)
				retained += len(c.Data)
			}
			assert.Equal(t, processes.MaxBufferBytes, retained, "got %d retained bytes, want the cap", retained)
			assert.Equal(t, total-retained, out.LostBytes, "got %d lost bytes, want total − retained", out.LostBytes)
			assert.Equal(t, out.LostBytes, s.LostBytes(), "LostBytes disagrees with Output")
			assert.Equal(t, out.LostBytes, out.Missed, "a cursor at 0 missed exactly what was lost")
			out = processes.Output{}
			after := heapInuse()
			t.Logf("heap in use: %.1f MiB before, peak %.1f MiB during, %.1f MiB after %d MiB of output",
				float64(base)/mib, float64(during)/mib, float64(after)/mib, total/mib)
			assert.LessOrEqual(t, during, base+heapSlack, "got peak heap %d MiB, want at most %d MiB", during/mib, (base+heapSlack)/mib)
			assert.LessOrEqual(t, after, base+heapSlack, "got heap %d MiB after, want at most %d MiB", after/mib, (base+heapSlack)/mib)

			m.Forget(s.ID)
			proctest.RequireGone(t, s.Pid())
		})
	}
}

// TestFaultOutputClosedWhileRunning: a child that closes its output and
// keeps running has not finished. Done waits for the process itself.
func TestFaultOutputClosedWhileRunning(t *testing.T) {
	tests := []struct {
		name     string
		script   string
		openOuts int // output streams the child keeps open
		stop     func(m *processes.Manager, s *processes.Session)
		wantExit int
	}{
		{"stdout closed, Forget", `echo ready; exec >&-; exec sleep 1000`, 1,
			func(m *processes.Manager, s *processes.Session) { m.Forget(s.ID) }, 128 + int(syscall.SIGTERM)},
		{"stdout and stderr closed, Forget", `echo ready; exec >&- 2>&-; exec sleep 1000`, 0,
			func(m *processes.Manager, s *processes.Session) { m.Forget(s.ID) }, 128 + int(syscall.SIGTERM)},
		{"stdout and stderr closed, exits on end of input", `echo ready; exec >&- 2>&-; exec cat >/dev/null`, 0,
			func(_ *processes.Manager, s *processes.Session) { _ = s.CloseStdin() }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newReal(t)
			base := goroutines(t)
			s := start(t, m, processes.StartOptions{}, "sh", "-c", tt.script)
			waitFor(t, s, "ready")
			// Once the readers saw end of file only the waiter, the
			// reader of a stream still open, and the Manager's forker
			// are left.
			want := base + 2 + tt.openOuts
			require.Eventually(t, func() bool { return runtime.NumGoroutine() <= want }, 10*time.Second, time.Millisecond,
				"the readers never saw the child close its output")

			assert.False(t, isDone(s.Done()), "Done fired while the process runs")
			out := s.Output(0)
			assert.True(t, out.Alive, "got Alive false while the process runs")
			assert.Nil(t, out.Exit, "got an exit code while the process runs")
			assert.NoError(t, s.Signal(syscall.Signal(0)), "the process group is gone")
			assert.True(t, proctest.Alive(s.Pid()), "the child died")

			tt.stop(m, s)
			assert.Equal(t, tt.wantExit, waitDone(t, s), "exit code")
			m.Forget(s.ID)
			proctest.RequireGone(t, s.Pid())
		})
	}
}

// TestFaultExitWhileStdinIsWritten writes 8 MiB to children that stop
// reading: the write ends with ErrExited (or ErrStdinClosed, if the
// child closed its end before it was reaped), not with SIGPIPE killing this
// process, nor hangs.
func TestFaultExitWhileStdinIsWritten(t *testing.T) {
	const size = 8 * mib
	tests := []struct {
		name    string
		script  string
		wantOut string // stdout of the child, given the data below
	}{
		{"reads 10 bytes and exits", `head -c 10`, "0123456789"},
		{"exits without reading", `exit 0`, ""},
		{"closes stdin and exits", `exec 0<&-; exit 0`, ""},
		// The leader exits once the write is under way (it read some of
		// it); a descendant keeps stdin open and never reads, but not
		// stdout, so the session's output ends with the leader.
		{"exits leaving a descendant that holds stdin",
			`exec 3<&0; sleep 1000 <&3 3<&- >/dev/null 2>&1 & head -c 1 >/dev/null; exit 0`, ""},
	}
	data := make([]byte, size)
	for i := range data {
		data[i] = '0' + byte(i%10)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newReal(t)
			s := start(t, m, processes.StartOptions{}, "sh", "-c", tt.script)
			type result struct {
				n   int
				err error
			}
			wrote := make(chan result, 1)
			go func() {
				n, err := s.Write(data)
				wrote <- result{n, err}
			}()
			// The child exits and is reaped while the write is under way.
			proctest.RequireGone(t, s.Pid())
			select {
			case <-s.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("Done did not fire within 10s of the child being reaped, while a Write was under way")
			}
			got := proctest.Recv(t, wrote)
			// The child closed its end as it exited: which of the two the
			// write saw depends on whether it was reaped by then.
			assert.True(t, errors.Is(got.err, processes.ErrExited) || errors.Is(got.err, processes.ErrStdinClosed), "got error %v", got.err)
			assert.Less(t, got.n, size, "got %d bytes written to a child that stopped reading", got.n)
			assert.Equal(t, 0, waitDone(t, s), "exit code")
			assert.Equal(t, tt.wantOut, streams(s)["stdout"])

			// The process is still here and still ignores SIGPIPE on
			// descriptors other than stdout and stderr.
			_, err := s.Write([]byte("late"))
			assert.ErrorIs(t, err, processes.ErrExited, "write after the exit")
			m.Forget(s.ID)
			proctest.RequireGone(t, s.Pid())
		})
	}
}

// TestFaultDaemonizedGrandchild: the child forks a grandchild and exits at
// once; the grandchild survives the exit, stays until the session is closed,
// and dies with it, whether it stayed in the process group or left it with
// setsid.
func TestFaultDaemonizedGrandchild(t *testing.T) {
	const idle = time.Minute
	scripts := []struct {
		name       string
		script     string
		leftGroup  bool
		leftParent bool
	}{
		{"background subshell in the group", `(sleep 1000 >/dev/null 2>&1 & echo $!); exit 0`, false, true},
		{"double fork with setsid", `setsid sh -c 'sleep 1000 >/dev/null 2>&1 & echo $!'; exit 0`, true, true},
	}
	stops := endings(idle)
	for _, mode := range containments(t) {
		for _, sc := range scripts {
			for _, st := range stops {
				t.Run(mode.name+"/"+sc.name+"/"+st.name, func(t *testing.T) {
					c := clock.NewMock()
					m := processes.NewManager(idle, processes.WithClock(c), processes.WithKillGrace(time.Second), mode.opt)
					shutdown(t, m)
					s := start(t, m, processes.StartOptions{}, "sh", "-c", sc.script)
					assert.Equal(t, 0, waitDone(t, s), "exit code of the child")
					pids := pidsIn(t, streams(s)["stdout"])
					require.Len(t, pids, 1, "got stdout %q, want one pid", streams(s)["stdout"])
					gc := pids[0]
					st0, ok := proctest.Stat(gc)
					require.True(t, ok && st0.State != "Z", "the grandchild %d is not running", gc)
					require.Equal(t, sc.leftGroup, st0.Pgrp != s.Pid(), "got pgrp %d, leader %d", st0.Pgrp, s.Pid())
					require.NotEqual(t, s.Pid(), st0.PPid, "the grandchild's parent is still the leader")

					st.end(t, m, c, s)
					proctest.RequireGone(t, gc, s.Pid())
				})
			}
		}
	}
}

// shutdownLog is a slog.Handler that watches a Manager around Shutdown: it
// keeps the "process exited" records logged after Shutdown returned, which
// only a goroutine of the Manager that outlived Shutdown can log, and it can
// hold up the first record with a given message, to stop a Manager method
// at the point where it logs.
type shutdownLog struct {
	hold     string        // the message whose first record is held up
	held     chan struct{} // closed when that record arrives
	release  chan struct{} // closed to let it go on
	holdOnce sync.Once

	mu   sync.Mutex
	shut bool     // Shutdown returned
	late []string // exits logged after that
}

func newShutdownLog(hold string) *shutdownLog {
	return &shutdownLog{hold: hold, held: make(chan struct{}), release: make(chan struct{})}
}

func (h *shutdownLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *shutdownLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *shutdownLog) WithGroup(string) slog.Handler            { return h }

func (h *shutdownLog) Handle(_ context.Context, r slog.Record) error {
	if h.hold != "" && r.Message == h.hold {
		first := false
		h.holdOnce.Do(func() { first = true })
		if first {
			close(h.held)
			<-h.release
		}
	}
	if r.Message != "processes: process exited" {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.shut {
		var pid string
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "pid" {
				pid = a.Value.String()
			}
			return true
		})
		h.late = append(h.late, pid)
	}
	return nil
}

// shutdown runs m.Shutdown and then marks that it returned.
func (h *shutdownLog) shutdown(m *processes.Manager) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := m.Shutdown(ctx)
	h.mu.Lock()
	h.shut = true
	h.mu.Unlock()
	return err
}

// lateExits returns the pids whose exit was logged after Shutdown returned.
func (h *shutdownLog) lateExits() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.late)
}

// TestFaultShutdownRacesStart calls Start from several goroutines in a loop
// while Shutdown runs: each Start succeeds, and its process is then killed
// by Shutdown, or fails with ErrClosed. No process and no goroutine is left,
// and no goroutine of the Manager outlives Shutdown.
func TestFaultShutdownRacesStart(t *testing.T) {
	const rounds, starters, beforeShutdown = 20, 4, 8
	for r := range rounds {
		t.Run(strconv.Itoa(r), func(t *testing.T) {
			base := goroutines(t)
			h := newShutdownLog("")
			m := processes.NewManager(0, processes.WithKillGrace(2*time.Second),
				processes.WithWaitDelay(200*time.Millisecond), processes.WithLogger(slog.New(h)))
			shutdown(t, m)

			var mu sync.Mutex
			var started []*processes.Session
			enough := make(chan struct{})
			var once sync.Once
			var wg sync.WaitGroup
			for range starters {
				wg.Go(func() {
					for {
						s, err := m.Start(exec.Command("sleep", "1000"), processes.StartOptions{})
						if err != nil {
							assert.ErrorIs(t, err, processes.ErrClosed, "got %v from Start, want ErrClosed", err)
							return
						}
						mu.Lock()
						started = append(started, s)
						if len(started) >= beforeShutdown {
							once.Do(func() { close(enough) })
						}
						mu.Unlock()
					}
				})
			}
			proctest.Recv(t, enough)
			require.NoError(t, h.shutdown(m))
			wg.Wait()

			// Every successful Start's session was closed and its process
			// reaped by the time Shutdown returned.
			for _, s := range started {
				assert.True(t, s.Closed(), "session %s not closed by Shutdown", s.ID)
				assert.True(t, isDone(s.Done()), "session %s not done after Shutdown", s.ID)
				assert.False(t, proctest.Alive(s.Pid()), "pid %d alive or unreaped after Shutdown", s.Pid())
			}
			assert.Zero(t, m.Len())
			require.Eventually(t, func() bool { return len(proctest.Children()) == 0 }, 10*time.Second, 5*time.Millisecond,
				"child processes left after Shutdown and every Start returned")
			require.Eventually(t, func() bool { return runtime.NumGoroutine() <= base }, 10*time.Second, time.Millisecond,
				"goroutines left after Shutdown")
			assert.Empty(t, h.lateExits(), "processes reaped by the Manager after Shutdown returned")
			t.Logf("%d Starts succeeded before Shutdown", len(started))
		})
	}
}

// TestFaultShutdownWaitsForStartInFlight holds a Start up past its check
// for Shutdown (where it reclaims the slot of an exited session, and logs
// that), shuts the Manager down, then lets the Start go on. The Start must
// fail with ErrClosed, and Shutdown must not have returned while the Start
// could still spawn a process: no process of the Manager is reaped, and no
// goroutine of it runs, after Shutdown returned.
func TestFaultShutdownWaitsForStartInFlight(t *testing.T) {
	base := goroutines(t)
	h := newShutdownLog("processes: session closed")
	// The limit is per workspace so that the probes below, in workspace "",
	// cannot take the held Start's slot.
	m := processes.NewManager(0, processes.WithMaxSessionsPerWorkspace(1), processes.WithKillGrace(2*time.Second),
		processes.WithWaitDelay(200*time.Millisecond), processes.WithLogger(slog.New(h)))
	shutdown(t, m)
	t.Cleanup(func() {
		select {
		case <-h.release:
		default:
			close(h.release)
		}
	})
	exited := start(t, m, processes.StartOptions{WorkspaceID: "w"}, "true")
	waitDone(t, exited)

	type result struct {
		s   *processes.Session
		err error
	}
	started := make(chan result, 1)
	go func() {
		s, err := m.Start(exec.Command("sleep", "1000"), processes.StartOptions{WorkspaceID: "w"})
		started <- result{s, err}
	}()
	proctest.Recv(t, h.held) // the Start is reclaiming the exited session's slot

	shut := make(chan error, 1)
	go func() { shut <- h.shutdown(m) }()
	// Shutdown has begun once Register closes what it is given.
	require.Eventually(t, func() bool {
		probe := &processes.Session{ID: "probe"}
		m.Register(probe)
		return probe.Closed()
	}, 10*time.Second, time.Millisecond, "Shutdown never began")
	close(h.release)

	got := proctest.Recv(t, started)
	assert.Nil(t, got.s)
	assert.ErrorIs(t, got.err, processes.ErrClosed, "got %v from a Start that Shutdown overtook", got.err)
	require.NoError(t, proctest.Recv(t, shut))
	require.Eventually(t, func() bool { return len(proctest.Children()) == 0 }, 10*time.Second, 5*time.Millisecond,
		"child processes left after Shutdown and Start returned")
	assert.Empty(t, h.lateExits(), "processes (pids) reaped by the Manager after Shutdown returned")
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= base }, 10*time.Second, time.Millisecond,
		"goroutines left after Shutdown")
}

// TestFaultManagerAfterShutdown uses every method of a Manager that was shut
// down: nothing panics, nothing starts, nothing is kept.
func TestFaultManagerAfterShutdown(t *testing.T) {
	base := goroutines(t)
	c := clock.NewMock()
	m := processes.NewManager(time.Minute, processes.WithClock(c), processes.WithKillGrace(time.Second))
	before := start(t, m, processes.StartOptions{ID: "before"}, "sleep", "1000")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, m.Shutdown(ctx))
	assert.True(t, isDone(before.Done()), "the running session was not done after Shutdown")
	proctest.RequireGone(t, before.Pid())

	s, err := m.Start(exec.Command("sleep", "1000"), processes.StartOptions{ID: "after"})
	assert.Nil(t, s)
	assert.ErrorIs(t, err, processes.ErrClosed, "Start after Shutdown")
	assert.Empty(t, proctest.Children(), "Start after Shutdown started a process")

	late := &processes.Session{ID: "late"}
	m.Register(late)
	assert.True(t, late.Closed(), "Register after Shutdown kept the session open")
	assert.True(t, isDone(late.Done()), "Done of a session registered after Shutdown")
	assert.ErrorIs(t, late.WaitOutput(t.Context(), 0), processes.ErrClosed)

	for _, id := range []string{"before", "after", "late"} {
		_, ok := m.Get(id)
		assert.False(t, ok, "Get(%q) after Shutdown", id)
	}
	assert.False(t, m.Remove(before), "Remove after Shutdown")
	assert.NotPanics(t, func() {
		m.Forget("before")
		m.Forget("late")
		c.Add(time.Hour)
		m.Sweep()
		m.Run()
		m.Stop()
		m.Stop()
	})
	assert.Zero(t, m.Len())
	assert.NoError(t, m.Shutdown(ctx), "second Shutdown")
	assert.Empty(t, proctest.Children(), "child processes after Shutdown")
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= base }, 10*time.Second, time.Millisecond,
		"goroutines left after Shutdown, Run and Stop")
}

// lastPidFile sets the pid the kernel allocated last in this pid namespace,
// so that the next child gets the one after it. Writing it needs
// CAP_SYS_ADMIN.
const lastPidFile = "/proc/sys/kernel/ns_last_pid"

// startWithPid starts `sleep 1000` outside any Manager with the given pid,
// which must be free, retrying while other forks on the machine take it
// first. It returns nil if another process took the pid for good.
func startWithPid(t *testing.T, pid int) *exec.Cmd {
	t.Helper()
	for range 100 {
		if proctest.Alive(pid) {
			return nil // a fork elsewhere got it and lives on
		}
		require.NoError(t, os.WriteFile(lastPidFile, []byte(strconv.Itoa(pid-1)), 0))
		cmd := exec.Command("sleep", "1000")
		require.NoError(t, cmd.Start())
		if cmd.Process.Pid == pid {
			return cmd
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	return nil
}

// TestFaultClosingExitedSessionSparesReusedPid closes a session whose
// process exited and was reaped long ago, after the kernel gave its pid to
// an unrelated process (pids wrap: pid_max is 32,768 on many hosts, and an
// exited session stays for a whole idle window). Closing the session must
// not signal that bystander.
func TestFaultClosingExitedSessionSparesReusedPid(t *testing.T) {
	if f, err := os.OpenFile(lastPidFile, os.O_WRONLY, 0); err != nil {
		t.Skipf("cannot force pid reuse without writing %s: %v", lastPidFile, err)
	} else {
		f.Close()
	}
	const idle = time.Minute
	tests := endings(idle)
	for _, mode := range containments(t) {
		for _, tt := range tests {
			t.Run(mode.name+"/"+tt.name, func(t *testing.T) {
				c := clock.NewMock()
				m := processes.NewManager(idle, processes.WithClock(c), processes.WithKillGrace(time.Second), mode.opt)
				shutdown(t, m)
				// Other tests fork too: retry with a new session while
				// one of their processes takes the pid first.
				var s *processes.Session
				var bystander *exec.Cmd
				for range 10 {
					s = start(t, m, processes.StartOptions{}, "true")
					assert.Equal(t, 0, waitDone(t, s), "exit code")
					proctest.RequireGone(t, s.Pid())
					if bystander = startWithPid(t, s.Pid()); bystander != nil {
						break
					}
					m.Forget(s.ID)
				}
				require.NotNil(t, bystander, "could not get a session's old pid for a new process")
				waited := false
				t.Cleanup(func() {
					if !waited {
						_ = bystander.Process.Kill()
						_ = bystander.Wait()
					}
				})
				tt.end(t, m, c, s)

				// Whatever the Manager sent went out before it returned; a
				// SIGKILL among it wins over the SIGTERM sent now.
				require.NoError(t, bystander.Process.Signal(syscall.SIGTERM))
				_ = bystander.Wait()
				waited = true
				ws := bystander.ProcessState.Sys().(syscall.WaitStatus)
				assert.Equal(t, syscall.SIGTERM, ws.Signal(),
					"the bystander that got the session's old pid %d died of %q; want it alive until the test's SIGTERM", s.Pid(), ws.Signal().String())
			})
		}
	}
}

// ending is one way a session ends: what the fault tests check holds for
// each of them.
type ending struct {
	name string
	end  func(t *testing.T, m *processes.Manager, c *clock.Mock, s *processes.Session)
}

// endings returns Forget, eviction by Sweep on the mock clock of a Manager
// whose idle timeout is idle, and Shutdown.
func endings(idle time.Duration) []ending {
	return []ending{
		{"Forget", func(_ *testing.T, m *processes.Manager, _ *clock.Mock, s *processes.Session) { m.Forget(s.ID) }},
		{"eviction", func(t *testing.T, m *processes.Manager, c *clock.Mock, s *processes.Session) {
			c.Add(idle + time.Nanosecond)
			m.Sweep()
			_, ok := m.Get(s.ID)
			require.False(t, ok, "the idle session was not evicted")
		}},
		{"Shutdown", func(t *testing.T, m *processes.Manager, _ *clock.Mock, _ *processes.Session) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			require.NoError(t, m.Shutdown(ctx))
		}},
	}
}
