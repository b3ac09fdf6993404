//go:build linux

package wake_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/wake"
)

// TestDependenciesWakeFirstInParallel: web depends on db (ready) and
// cache (started); both dependencies wake before web starts, and at the
// same time: each one's probe waits for the other's to begin, which a
// sequential wake would never satisfy.
func TestDependenciesWakeFirstInParallel(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	var barrier sync.WaitGroup
	barrier.Add(2)
	meet := wake.FuncProbe(func(ctx context.Context, _ *processes.Session) error {
		barrier.Done()
		done := make(chan struct{})
		go func() { barrier.Wait(); close(done) }()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			barrier.Add(1) // undo, so the other one does not pass alone
			return ctx.Err()
		}
	})
	var order []string
	var mu sync.Mutex
	started := func(id string) func(context.Context) (*exec.Cmd, error) {
		return func(ctx context.Context) (*exec.Cmd, error) {
			mu.Lock()
			order = append(order, id)
			mu.Unlock()
			return shCommand("exec sleep 1000", nil)(ctx)
		}
	}
	_, err := g.AddAll(
		wake.Spec{ID: "db", Command: started("db"), Probe: meet, WakeTimeout: 10 * time.Second},
		wake.Spec{ID: "cache", Command: started("cache"), Probe: meet, WakeTimeout: 10 * time.Second},
		wake.Spec{ID: "web", Command: started("web"), DependsOn: []wake.Dependency{
			{Unit: "db"}, {Unit: "cache", Condition: wake.WhenStarted},
		}},
	)
	require.NoError(t, err)
	web, _ := g.Unit("web")
	require.NoError(t, web.Wake(t.Context()))
	mu.Lock()
	assert.Len(t, order, 3)
	assert.Equal(t, "web", order[2], "web started before its dependencies")
	mu.Unlock()

	evs := web.Events()
	assert.ElementsMatch(t, []wake.EventKind{
		wake.EventWakingDependency, wake.EventWakingDependency,
		wake.EventDependencyReady, wake.EventDependencyReady,
		wake.EventStarting, wake.EventWaitingForReady, wake.EventReady,
	}, kinds(evs))
	assert.Equal(t, wake.EventStarting, evs[4].Kind, "events: %v", kinds(evs))
	db, _ := g.Unit("db")
	assert.Equal(t, "dependency of web", db.Status().Woke.Why)
}

// TestSharedDependencyIsHeld: a dependency shared by two units never
// sleeps under an awake dependent; once both sleep, it sleeps one idle
// timeout after the last released it.
func TestSharedDependencyIsHeld(t *testing.T) {
	c := clock.NewMock()
	m := newManager(t, processes.WithClock(c))
	g := newGroup(t, m, wake.WithSweepInterval(time.Hour))
	const idle = time.Minute
	sleeper := shCommand("exec sleep 1000", nil)
	dep := []wake.Dependency{{Unit: "db"}}
	_, err := g.AddAll(
		wake.Spec{ID: "db", Command: sleeper, IdleTimeout: idle, Mode: wake.ModeFreeze},
		wake.Spec{ID: "a", Command: sleeper, IdleTimeout: idle, DependsOn: dep},
		wake.Spec{ID: "b", Command: sleeper, IdleTimeout: 3 * idle, DependsOn: dep},
	)
	require.NoError(t, err)
	db, _ := g.Unit("db")
	a, _ := g.Unit("a")
	b, _ := g.Unit("b")
	require.NoError(t, a.Wake(t.Context()))
	require.NoError(t, b.Wake(t.Context()))
	assert.Equal(t, 1, db.Status().ColdStarts, "the shared dependency started twice")
	assert.Equal(t, 2, db.Status().Holds)
	assert.ErrorIs(t, db.Sleep(t.Context()), wake.ErrHeld)

	c.Add(idle + time.Nanosecond)
	g.Sweep()
	assert.Equal(t, wake.Asleep, a.State())
	assert.Equal(t, wake.Ready, db.State(), "db slept under b")
	assert.Equal(t, 1, db.Status().Holds)

	c.Add(2 * idle)
	g.Sweep()
	assert.Equal(t, wake.Asleep, b.State())
	assert.Equal(t, wake.Ready, db.State(), "db slept in the same sweep as its last dependent")
	assert.Equal(t, 0, db.Status().Holds)
	c.Add(idle + time.Nanosecond)
	g.Sweep()
	assert.Equal(t, wake.Asleep, db.State())
	assert.True(t, db.Status().Kept)

	// Waking a dependent wakes the frozen dependency again.
	require.NoError(t, a.Wake(t.Context()))
	assert.Equal(t, wake.Ready, db.State())
	assert.Equal(t, 1, db.Status().ColdStarts)
	assert.Contains(t, kinds(db.Events()), wake.EventWoke)
}

// TestDependencyFailureFailsTheDependent: a dependency that cannot wake
// fails its dependent with its error, and releases the other holds.
func TestDependencyFailureFailsTheDependent(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	_, err := g.AddAll(
		wake.Spec{ID: "ok", Command: shCommand("exec sleep 1000", nil)},
		wake.Spec{ID: "bad", Command: func(context.Context) (*exec.Cmd, error) { return nil, errors.New("no such thing") }},
		wake.Spec{ID: "web", Command: shCommand("exec sleep 1000", nil), DependsOn: []wake.Dependency{{Unit: "ok"}, {Unit: "bad"}}},
	)
	require.NoError(t, err)
	web, _ := g.Unit("web")
	ok, _ := g.Unit("ok")
	err = web.Wake(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `dependency "bad"`)
	assert.Contains(t, err.Error(), "no such thing")
	assert.Equal(t, wake.Failed, web.State())
	assert.Equal(t, 0, ok.Status().Holds, "a failed dependent still holds its dependency")
}

// TestProbes: each kind of probe waits until its condition holds.
func TestProbes(t *testing.T) {
	tests := []struct {
		name  string
		probe func(addr string) wake.Probe
	}{
		{"default", func(string) wake.Probe { return wake.Probe{} }},
		{"tcp", func(addr string) wake.Probe { return wake.TCPProbe(addr) }},
		{"http path", func(string) wake.Probe { return wake.HTTPProbe("/status/204") }},
		{"http redirect", func(addr string) wake.Probe { return wake.HTTPProbe("http://" + addr + "/status/302") }},
		{"output", func(string) wake.Probe { return wake.OutputProbe(regexp.MustCompile(`^listen`)) }},
		{"func", func(addr string) wake.Probe {
			return wake.FuncProbe(func(ctx context.Context, s *processes.Session) error {
				if s.Pid() == 0 {
					return errors.New("no process")
				}
				return wake.TCPProbe(addr).Check(ctx, s)
			})
		}},
	}
	m := newManager(t)
	g := newGroup(t, m)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := httpSpec(t, tt.name, wake.ModeStop, nil)
			spec.Probe = tt.probe(spec.Upstream)
			u, err := g.Add(spec)
			require.NoError(t, err)
			require.NoError(t, u.Wake(t.Context()))
			// Ready means serving: the probe waited for the server.
			code, body := get(t, "http://"+spec.Upstream+"/")
			assert.Equal(t, 200, code, body)
		})
	}

	// A 500 is not ready: the probe's tries are seen, with no timeout
	// that a slow start of the server under load could outrun.
	t.Run("http 500 is not ready", func(t *testing.T) {
		spec := httpSpec(t, "500", wake.ModeStop, nil)
		tries := make(chan error, 100)
		http500 := wake.HTTPProbe("http://" + spec.Upstream + "/status/500")
		spec.Probe = wake.FuncProbe(func(ctx context.Context, s *processes.Session) error {
			err := http500.Check(ctx, s)
			select {
			case tries <- err:
			default:
			}
			return err
		})
		u, err := g.Add(spec)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() { _ = u.Wake(ctx) }()
		for {
			err := recv(t, tries)
			require.Error(t, err)
			if strings.Contains(err.Error(), "500 Internal Server Error") {
				break
			}
		}
		require.Error(t, recv(t, tries), "a try after the 500 passed")
		assert.Equal(t, wake.Waking, u.State())
	})
}

// TestOutputProbeAcrossChunks: the output probe finds a match split
// across two chunks of output, printed one after the other, and is not
// satisfied by the first half.
func TestOutputProbeAcrossChunks(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	u, err := g.Add(wake.Spec{
		ID:      "split",
		Command: shCommand(`printf 'rea'; read x; printf 'dy\n'; exec sleep 1000`, nil),
		Probe:   wake.OutputProbe(regexp.MustCompile(`ready`)),
	})
	require.NoError(t, err)
	woke := make(chan error, 1)
	go func() { woke <- u.Wake(t.Context()) }()
	var s *processes.Session
	require.Eventually(t, func() bool { s = u.Session(); return s != nil }, 20*time.Second, time.Millisecond)
	for since := 0; ; {
		if len(s.Output(since).Chunks) > 0 {
			break
		}
		require.NoError(t, s.WaitOutput(t.Context(), since))
	}
	// "rea" is in; whatever the probe did with it, it is not ready.
	assert.Equal(t, wake.Waking, u.State())
	_, err = s.Write([]byte("\n"))
	require.NoError(t, err)
	require.NoError(t, recv(t, woke))
	out := s.Output(0)
	require.GreaterOrEqual(t, len(out.Chunks), 2)
	for _, c := range out.Chunks {
		assert.NotContains(t, string(c.Data), "ready", "the match was in one chunk")
	}
}

// TestOutputProbeOfAnExitedProcess: the output probe fails as soon as the
// process exits without printing a match.
func TestOutputProbeOfAnExitedProcess(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	u, err := g.Add(wake.Spec{ID: "x", Command: shCommand("echo nope; exit 1", nil), Probe: wake.OutputProbe(regexp.MustCompile(`ready`))})
	require.NoError(t, err)
	err = u.Wake(t.Context())
	require.ErrorIs(t, err, wake.ErrExitedBeforeReady)
	assert.Contains(t, err.Error(), "exit status 1")
}

// TestWakeTimeoutCoversDependencies: a dependent's WakeTimeout bounds its
// dependencies' wakes too.
func TestWakeTimeoutCoversDependencies(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	stuck := wake.FuncProbe(func(context.Context, *processes.Session) error { return errors.New("still loading") })
	_, err := g.AddAll(
		wake.Spec{ID: "db", Command: shCommand("exec sleep 1000", nil), Probe: stuck, WakeTimeout: time.Hour},
		wake.Spec{ID: "web", Command: shCommand("exec sleep 1000", nil), WakeTimeout: 100 * time.Millisecond,
			DependsOn: []wake.Dependency{{Unit: "db"}}},
	)
	require.NoError(t, err)
	web, _ := g.Unit("web")
	err = web.Wake(t.Context())
	require.ErrorIs(t, err, wake.ErrWakeTimeout)
	assert.Contains(t, err.Error(), `dependency "db"`)
	assert.Equal(t, wake.Failed, web.State())
	assert.Zero(t, web.Status().ColdStarts, "web started before its dependency was ready")
	db, _ := g.Unit("db")
	assert.Equal(t, wake.Waking, db.State(), "db's own wake goes on, bounded by its own timeout")
	assert.Zero(t, db.Status().Holds, "the failed dependent still holds db")
}

// TestDependencyExitedUnderAReadyDependent: a dependency whose process
// exits while its dependent is ready is started again by the next request
// to the dependent, rather than left asleep under it until the dependent
// itself sleeps; a dependency of a dependency too.
func TestDependencyExitedUnderAReadyDependent(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	web := httpSpec(t, "web", wake.ModeStop, nil)
	web.DependsOn = []wake.Dependency{{Unit: "api"}}
	_, err := g.AddAll(
		wake.Spec{ID: "db", Command: shCommand("read x; exit 4", nil)},
		wake.Spec{ID: "api", Command: shCommand("read x; exit 5", nil), DependsOn: []wake.Dependency{{Unit: "db"}}},
		web,
	)
	require.NoError(t, err)
	w, _ := g.Unit("web")
	api, _ := g.Unit("api")
	db, _ := g.Unit("db")
	srv := httptest.NewServer(w.Handler(wake.ProxyOptions{}))
	t.Cleanup(srv.Close)
	code, body := get(t, srv.URL+"/")
	require.Equal(t, 200, code, body)

	for _, d := range []*wake.Unit{db, api} {
		sub := d.Subscribe()
		_, err = d.Session().Write([]byte("\n"))
		require.NoError(t, err)
		for {
			e, err := sub.Next(t.Context())
			require.NoError(t, err)
			if e.Kind == wake.EventAsleep {
				break
			}
		}
		require.Equal(t, wake.Asleep, d.State())
		assert.Equal(t, wake.Ready, w.State())

		// A browser too waits for it: a loading page would replay the
		// ready dependent's history and reload for ever.
		code, body = get(t, srv.URL+"/", "Accept", "text/html")
		require.Equal(t, 200, code, body)
		assert.Equal(t, wake.Ready, d.State(), "%s left asleep under a ready dependent", d.ID())
		assert.Equal(t, 1, d.Status().Holds)
	}
	assert.Equal(t, 2, db.Status().ColdStarts)
	assert.Equal(t, 2, api.Status().ColdStarts)
	assert.Equal(t, 1, w.Status().ColdStarts)
}

// TestFuncProbeTryIsBounded: a FuncProbe gets a context that ends two
// seconds after the call at the latest, however long the WakeTimeout,
// as its documentation says.
func TestFuncProbeTryIsBounded(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	var called time.Time
	var deadline time.Time
	var ok bool
	u, err := g.Add(wake.Spec{ID: "u", Command: shCommand("exec sleep 1000", nil), WakeTimeout: time.Hour,
		Probe: wake.FuncProbe(func(ctx context.Context, _ *processes.Session) error {
			called = time.Now()
			deadline, ok = ctx.Deadline()
			return nil
		})})
	require.NoError(t, err)
	require.NoError(t, u.Wake(t.Context()))
	require.True(t, ok, "no deadline")
	assert.LessOrEqual(t, deadline.Sub(called), 2*time.Second)
}

// TestCheckOfAnUnresolvedProbe: Check cannot resolve a probe against a
// unit's Upstream, so the probes that need one fail, the zero Probe (a
// TCP probe of the Upstream) included, rather than pass unchecked.
func TestCheckOfAnUnresolvedProbe(t *testing.T) {
	m := newManager(t)
	s, err := m.Start(exec.Command("sleep", "1000"), processes.StartOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.NoError(t, s.Terminate(context.Background()))
		m.Remove(s)
	})
	for _, tt := range []struct {
		name  string
		probe wake.Probe
	}{
		{"zero", wake.Probe{}},
		{"tcp of the upstream", wake.TCPProbe("")},
		{"http path", wake.HTTPProbe("/healthz")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assert.Error(t, tt.probe.Check(t.Context(), s))
		})
	}
	assert.NoError(t, wake.StartedProbe().Check(t.Context(), s))
}

// TestHTTPSProbeOfASelfSignedServer: an HTTPS probe passes against the
// unit's own server with a certificate no one signed, as Kubernetes'
// httpGet probe does: it asks whether the program answers, not who it
// is (that nothing else listens there is checked before the start).
func TestHTTPSProbeOfASelfSignedServer(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	addr := freeAddr(t)
	u, err := g.Add(wake.Spec{ID: "tls", Command: helperCommand("https", nil, "WAKE_ADDR="+addr),
		Upstream: addr, Probe: wake.HTTPProbe("https://" + addr + "/status/204"), WakeTimeout: 5 * time.Second})
	require.NoError(t, err)
	require.NoError(t, u.Wake(t.Context()))
}
