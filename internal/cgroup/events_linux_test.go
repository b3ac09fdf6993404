package cgroup_test

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/cgroup"
	"github.com/sessionkit/sessionkit/internal/proctest"
)

func TestWaitEmpty(t *testing.T) {
	t.Run("empty group", func(t *testing.T) {
		g := cgroup.NewTestGroup(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		assert.NoError(t, g.WaitEmpty(ctx), "an empty group is empty even once ctx is done")
	})
	t.Run("last member exits by itself", func(t *testing.T) {
		g := cgroup.NewTestGroup(t)
		cmd := command(g, "cat")
		stdin, err := cmd.StdinPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		reapAtCleanup(t, cmd)

		done := make(chan error, 1)
		go func() { done <- g.WaitEmpty(waitCtx(t)) }()
		require.NoError(t, stdin.Close()) // cat reads end of file and exits
		assert.NoError(t, proctest.Recv(t, done))
		assert.NoError(t, cmd.Wait())
	})
	t.Run("member in a child group", func(t *testing.T) {
		g := cgroup.NewTestGroup(t)
		child, err := cgroup.Create(filepath.Join(g.Path(), "child"))
		require.NoError(t, err)
		defer child.Close()
		cmd := start(t, child, "sleep", "1000")
		populated, err := g.Populated()
		require.NoError(t, err)
		require.True(t, populated, "a parent is populated by its child group's processes")

		done := make(chan error, 1)
		go func() { done <- g.WaitEmpty(waitCtx(t)) }()
		require.NoError(t, cmd.Process.Kill())
		assert.NoError(t, proctest.Recv(t, done))
		assert.Error(t, cmd.Wait())
	})
	t.Run("removed group", func(t *testing.T) {
		parent := cgroup.NewTestGroup(t)
		g, err := cgroup.Create(filepath.Join(parent.Path(), "gone"))
		require.NoError(t, err)
		defer g.Close()
		require.NoError(t, g.Remove())
		assert.ErrorIs(t, g.WaitEmpty(waitCtx(t)), os.ErrNotExist)
	})
}

func TestWaitEmptyContext(t *testing.T) {
	g := cgroup.NewTestGroup(t)
	start(t, g, "sleep", "1000")

	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel := context.WithDeadline(t.Context(), time.Unix(0, 0))
	defer cancel()
	tests := []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"canceled", canceled, context.Canceled},
		{"deadline passed", expired, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.ErrorIs(t, g.WaitEmpty(tt.ctx), tt.want)
		})
	}

	t.Run("canceled while waiting", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		waiting := make(chan struct{})
		var once atomic.Bool
		cgroup.SetHookEventsRead(t, func([]byte) {
			if once.CompareAndSwap(false, true) {
				close(waiting)
			}
		})
		done := make(chan error, 1)
		go func() { done <- g.WaitEmpty(ctx) }()
		<-waiting
		cancel()
		assert.ErrorIs(t, proctest.Recv(t, done), context.Canceled)
	})
}

// WaitEmpty sleeps until the kernel says something changed: while the test
// keeps the machine busy with other work, it does not read cgroup.events
// again. A timer-driven poll would read it again and again meanwhile.
func TestWaitEmptyDoesNotPoll(t *testing.T) {
	g := cgroup.NewTestGroup(t)
	cmd := start(t, g, "sleep", "1000")
	other := cgroup.NewTestGroup(t)

	var reads atomic.Int64
	blocked := make(chan struct{})
	cgroup.SetHookEventsRead(t, func([]byte) {
		// The first read is the check before waiting, the second the
		// first look once the watch is set up: after it WaitEmpty blocks.
		if reads.Add(1) == 2 {
			close(blocked)
		}
	})
	done := make(chan error, 1)
	go func() { done <- g.WaitEmpty(waitCtx(t)) }()
	<-blocked
	before := time.Now()
	for range 20 {
		require.NoError(t, command(other, "true").Run())
	}
	idle := time.Since(before)
	// One more read may come from the readiness that registering with the
	// runtime's poller reports.
	assert.LessOrEqual(t, reads.Load(), int64(3), "reads of cgroup.events during %v without a change", idle)

	require.NoError(t, cmd.Process.Kill())
	assert.NoError(t, proctest.Recv(t, done))
	assert.Error(t, cmd.Wait())
	t.Logf("%d reads of cgroup.events in all, %v of which without a change", reads.Load(), idle)
}

// Freeze stops a busy loop: its CPU time does not grow while the test does
// other work that a running loop would share the CPUs with, and grows again
// after Thaw.
func TestFreezeThaw(t *testing.T) {
	g := cgroup.NewTestGroup(t)
	start(t, g, "sh", "-c", "while :; do :; done")
	other := cgroup.NewTestGroup(t)
	// work runs a CPU-bound shell loop of some 10 ms to its end outside g.
	work := func() {
		require.NoError(t, command(other, "sh", "-c", "i=0; while [ $i -lt 5000 ]; do i=$((i+1)); done").Run())
	}
	cpu := func() time.Duration {
		u, err := g.Usage()
		require.NoError(t, err)
		return u.CPU
	}
	// grows reports whether the loop's CPU time grows while work runs,
	// trying a few times: a loaded machine may not run it during one.
	grows := func() bool {
		for range 50 {
			c := cpu()
			work()
			if cpu() > c {
				return true
			}
		}
		return false
	}
	require.True(t, grows(), "the loop runs")

	require.NoError(t, g.Freeze(waitCtx(t)))
	frozen, err := g.Frozen()
	require.NoError(t, err)
	require.True(t, frozen)
	// "frozen 1" is reported as the last task enters the freezer, just
	// before it leaves the CPU, and its last slice may be charged after
	// that: a first stretch of work lets that settle, and from then on
	// the CPU time must not move at all.
	c1 := cpu()
	work()
	c2 := cpu()
	assert.Less(t, c2-c1, 5*time.Millisecond, "CPU time charged after frozen 1")
	for range 3 {
		work()
	}
	assert.Equal(t, c2, cpu(), "CPU time of the frozen loop while other work ran")

	require.NoError(t, g.Thaw(waitCtx(t)))
	frozen, err = g.Frozen()
	require.NoError(t, err)
	assert.False(t, frozen)
	assert.True(t, grows(), "the loop runs again after Thaw")
}

func TestFreezeEmptyAndNested(t *testing.T) {
	g := cgroup.NewTestGroup(t)
	child, err := cgroup.Create(filepath.Join(g.Path(), "child"))
	require.NoError(t, err)
	defer child.Close()

	require.NoError(t, g.Freeze(waitCtx(t)), "an empty group freezes at once")
	frozen, err := child.Frozen()
	require.NoError(t, err)
	assert.True(t, frozen, "a child of a frozen group is frozen")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	assert.ErrorIs(t, child.Thaw(ctx), context.Canceled, "a child cannot thaw while its parent is frozen")

	require.NoError(t, g.Thaw(waitCtx(t)))
	frozen, err = child.Frozen()
	require.NoError(t, err)
	assert.False(t, frozen)
}

// A waiter returns when another one removes the group the moment it is
// empty, although the removal cancels the notification of cgroup.events
// that the kernel's rate limit may be holding back.
func TestWaitEmptyWhileRemoved(t *testing.T) {
	parent := cgroup.NewTestGroup(t)
	for range 20 {
		g, err := cgroup.Create(filepath.Join(parent.Path(), "g"))
		require.NoError(t, err)
		cmd := start(t, g, "sleep", "1000")
		done := make(chan error, 1)
		go func() { done <- g.WaitEmpty(waitCtx(t)) }()
		require.NoError(t, g.Kill())
		require.NoError(t, g.WaitEmpty(waitCtx(t)))
		require.NoError(t, g.Remove())
		if err := proctest.Recv(t, done); err != nil {
			assert.ErrorIs(t, err, os.ErrNotExist)
		}
		assert.Error(t, cmd.Wait())
		require.NoError(t, g.Close())
	}
}

// TestThawNow: ThawNow writes the thaw and returns without waiting for it,
// also under a frozen parent, where the thaw takes effect once the parent
// is thawed.
func TestThawNow(t *testing.T) {
	g := cgroup.NewTestGroup(t)
	child, err := cgroup.Create(filepath.Join(g.Path(), "child"))
	require.NoError(t, err)
	defer child.Close()

	require.NoError(t, child.Freeze(waitCtx(t)))
	require.NoError(t, g.Freeze(waitCtx(t)))
	require.NoError(t, child.ThawNow(), "a thaw under a frozen parent")
	frozen, err := child.Frozen()
	require.NoError(t, err)
	assert.True(t, frozen, "the parent still freezes the child")

	require.NoError(t, g.Thaw(waitCtx(t)))
	frozen, err = child.Frozen()
	require.NoError(t, err)
	assert.False(t, frozen, "the child's thaw took effect with its parent's")
	require.NoError(t, child.Close())
	assert.ErrorIs(t, child.ThawNow(), cgroup.ErrClosed)
}
