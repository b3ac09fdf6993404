//go:build linux

package wake_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/wake"
)

// TestStressSleepWakeRace: sweeps that put an idle unit to sleep race
// requests that arrive at the same moment, in a loop; every request is
// answered by the application, never left on a frozen, stopped or dead
// upstream (the client's timeout would fail it), and sleeps do happen.
func TestStressSleepWakeRace(t *testing.T) {
	for _, mode := range []wake.Mode{wake.ModeFreeze, wake.ModePause, wake.ModeStop} {
		t.Run(mode.String(), func(t *testing.T) {
			c := clock.NewMock()
			m := newManager(t, processes.WithClock(c))
			g := newGroup(t, m, wake.WithSweepInterval(time.Hour))
			spec := httpSpec(t, "web", mode, nil)
			spec.IdleTimeout = time.Minute
			u, err := g.Add(spec)
			require.NoError(t, err)
			srv := httptest.NewServer(u.Handler(wake.ProxyOptions{}))
			t.Cleanup(srv.Close)
			code, _ := get(t, srv.URL+"/")
			require.Equal(t, 200, code)

			const rounds, requests = 30, 6
			var failed atomic.Int32
			for i := range rounds {
				c.Add(time.Minute + time.Nanosecond)
				var wg sync.WaitGroup
				sweep := func() { wg.Go(g.Sweep) }
				if i%2 == 0 {
					sweep() // the sweep first, the requests while it sleeps
				}
				for range requests {
					wg.Go(func() {
						code, body := get(t, srv.URL+"/")
						if code != 200 || len(body) < 11 || body[:11] != "hello from " {
							failed.Add(1)
							t.Errorf("round %d: %d %q", i, code, body)
						}
					})
				}
				if i%2 == 1 {
					sweep() // the requests first
				}
				wg.Wait()
				if failed.Load() > 0 {
					break
				}
			}
			st := u.Status()
			assert.Greater(t, st.Attempts, 1, "no sweep ever put the unit to sleep")
			t.Logf("%s: %d wakes in %d rounds", mode, st.Attempts, rounds)
		})
	}
}

// TestStressTenThousandWaitersOneStart: 10,000 requests waiting on one
// wake cause one start, and each is then proxied. With -short, 1,000.
func TestStressTenThousandWaitersOneStart(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	var starts atomic.Int32
	spec := httpSpec(t, "web", wake.ModeStop, &starts)
	proceed := make(chan struct{})
	spec.Probe = wake.FuncProbe(func(ctx context.Context, s *processes.Session) error {
		select {
		case <-proceed:
			return wake.TCPProbe(spec.Upstream).Check(ctx, s)
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	u, err := g.Add(spec)
	require.NoError(t, err)
	tr := &http.Transport{MaxConnsPerHost: 32}
	t.Cleanup(tr.CloseIdleConnections)
	h := u.Handler(wake.ProxyOptions{Transport: tr})

	n := 10_000
	if testing.Short() {
		n = 1_000 // the quick run; CI runs the full count, with and without -race
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code == 200 {
				ok.Add(1)
			}
		})
	}
	require.Eventually(t, func() bool { return u.Status().Holds == n }, time.Minute, time.Millisecond,
		"the requests never all waited")
	assert.Equal(t, wake.Waking, u.State())
	close(proceed)
	wg.Wait()
	assert.Equal(t, int32(n), ok.Load())
	assert.Equal(t, int32(1), starts.Load())
	assert.Equal(t, 1, u.Status().Attempts)
}

// heapAlloc returns the bytes of live heap after a collection.
func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// goroutinesIn counts the goroutines running code of package pkg (its
// import path and a dot: "github.com/sessionkit/sessionkit/processes/wake.").
func goroutinesIn(pkg string) int {
	buf := make([]byte, 4<<20)
	n := 0
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, pkg) {
			n++
		}
	}
	return n
}

const (
	wakePkg      = "github.com/sessionkit/sessionkit/processes/wake."
	processesPkg = "github.com/sessionkit/sessionkit/processes."
)

// TestSleepingUnitCost: a unit asleep costs at most 4 KiB of heap and no
// goroutine: 10,000 units never woken, and 100 woken and stopped again,
// are measured (after the Manager ran as many bare sessions, so that its
// own tables have grown); a frozen unit holds no goroutine of its own,
// only its session's, which package processes keeps for any session.
func TestSleepingUnitCost(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m, wake.WithMaxConcurrentWakes(8))
	cmd := shCommand("exec sleep 1000", nil)

	const never = 10_000
	before := heapAlloc()
	specs := make([]wake.Spec, never)
	for i := range specs {
		specs[i] = wake.Spec{ID: "never-" + strconv.Itoa(i), Command: cmd, Upstream: "127.0.0.1:1", Probe: wake.StartedProbe()}
	}
	_, err := g.AddAll(specs...)
	require.NoError(t, err)
	specs = nil
	perNever := float64(heapAlloc()-before) / never
	t.Logf("a unit never woken: %.0f B", perNever)
	assert.LessOrEqual(t, perNever, 4096.0)

	const slept = 100
	var wg sync.WaitGroup
	for range slept { // the warm-up of the Manager
		wg.Go(func() {
			s, err := m.Start(mustCmd(t, cmd), processes.StartOptions{})
			if assert.NoError(t, err) {
				assert.NoError(t, s.Terminate(t.Context()))
				m.Remove(s)
			}
		})
	}
	wg.Wait()
	before = heapAlloc()
	var units []*wake.Unit
	for i := range slept {
		u, err := g.Add(wake.Spec{ID: "slept-" + strconv.Itoa(i), Command: cmd, Upstream: "127.0.0.1:1", Probe: wake.StartedProbe()})
		require.NoError(t, err)
		units = append(units, u)
	}
	for _, u := range units {
		wg.Go(func() { assert.NoError(t, u.Wake(t.Context())) })
	}
	wg.Wait()
	// The wakes' goroutines end just after their callers return.
	assert.Eventually(t, func() bool { return goroutinesIn(wakePkg) == slept }, 20*time.Second, time.Millisecond,
		"a ready unit watches its process, and nothing more")
	for _, u := range units {
		require.NoError(t, u.Sleep(t.Context()))
	}
	assert.Eventually(t, func() bool { return goroutinesIn(wakePkg) == 0 }, 20*time.Second, time.Millisecond,
		"goroutines of package wake with every unit asleep")
	assert.Eventually(t, func() bool { return goroutinesIn(processesPkg) == 0 }, 20*time.Second, time.Millisecond,
		"goroutines of package processes with every unit stopped")
	perSlept := float64(heapAlloc()-before) / slept
	t.Logf("a unit woken and stopped: %.0f B", perSlept)
	assert.LessOrEqual(t, perSlept, 4096.0)

	// Frozen: the unit has no goroutine; its session has what any has:
	// the goroutines of package processes grow by as much for a frozen
	// unit as for a second bare frozen session.
	var counts []int
	for range 2 {
		bare, err := m.Start(mustCmd(t, cmd), processes.StartOptions{})
		require.NoError(t, err)
		require.NoError(t, bare.PauseWith(t.Context(), processes.PauseFreeze))
		counts = append(counts, goroutinesIn(processesPkg))
		t.Cleanup(func() { assert.NoError(t, bare.Terminate(context.Background())) })
	}
	frozen, err := g.Add(wake.Spec{ID: "frozen", Command: cmd, Mode: wake.ModeFreeze})
	require.NoError(t, err)
	require.NoError(t, frozen.Wake(t.Context()))
	require.NoError(t, frozen.Sleep(t.Context()))
	assert.Eventually(t, func() bool { return goroutinesIn(wakePkg) == 0 }, 20*time.Second, time.Millisecond,
		"goroutines of package wake with a unit frozen")
	perSession := counts[1] - counts[0]
	assert.Positive(t, perSession)
	assert.Eventually(t, func() bool { return goroutinesIn(processesPkg)-counts[1] == perSession }, 20*time.Second, time.Millisecond,
		"goroutines of a frozen unit's session vs a bare frozen session's (%d)", perSession)
}
