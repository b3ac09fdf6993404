//go:build !linux

package cgroup_test

import (
	"context"
	"errors"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/sessionkit/sessionkit/internal/cgroup"
)

// Everything fails with an error wrapping errors.ErrUnsupported where there
// is no cgroup v2.
func TestUnsupported(t *testing.T) {
	g := new(cgroup.Group)
	ctx := context.Background()
	calls := map[string]func() error{
		"Mount":       func() error { _, err := cgroup.Mount(); return err },
		"Self":        func() error { _, err := cgroup.Self(); return err },
		"Create":      func() error { _, err := cgroup.Create("x"); return err },
		"Open":        func() error { _, err := cgroup.Open("x"); return err },
		"CreateOwned": func() error { _, err := cgroup.CreateOwned("x"); return err },
		"CurrentOwner": func() error {
			_, err := cgroup.CurrentOwner()
			return err
		},
		"ReapStale": func() error { _, err := cgroup.ReapStale(ctx, "x"); return err },
		"Close":     g.Close,
		"Remove":    g.Remove,
		"Kill":      g.Kill,
		"WaitEmpty": func() error { return g.WaitEmpty(ctx) },
		"Freeze":    func() error { return g.Freeze(ctx) },
		"Thaw":      func() error { return g.Thaw(ctx) },
		"Procs":     func() error { _, err := g.Procs(); return err },
		"Populated": func() error { _, err := g.Populated(); return err },
		"Frozen":    func() error { _, err := g.Frozen(); return err },
		"Usage":     func() error { _, err := g.Usage(); return err },
		"Signal":    func() error { _, err := g.Signal(syscall.SIGTERM); return err },
		"SetLimits": func() error { return g.SetLimits(cgroup.Limits{}) },
		"Controllers": func() error {
			_, err := g.Controllers()
			return err
		},
		"EnableControllers": func() error {
			_, err := g.EnableControllers("pids")
			return err
		},
	}
	for name, call := range calls {
		assert.ErrorIs(t, call(), errors.ErrUnsupported, name)
	}
	assert.False(t, cgroup.Writable("/"))
	assert.False(t, cgroup.Stale("owner-1-1-1"))
	assert.Equal(t, -1, g.FD())
}
