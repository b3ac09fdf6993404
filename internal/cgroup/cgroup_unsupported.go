//go:build !linux

package cgroup

import (
	"context"
	"errors"
	"fmt"
	"syscall"
)

// errNeedsLinux is what every function returns where cgroup v2 does not
// exist.
var errNeedsLinux = fmt.Errorf("cgroup: cgroup v2 exists only on Linux: %w", errors.ErrUnsupported)

// A Group is a cgroup v2 group, which exists only on Linux. The zero Group
// is closed.
type Group struct {
	path string
}

// Mount returns an error wrapping errors.ErrUnsupported: cgroup v2 exists
// only on Linux.
func Mount() (string, error) { return "", errNeedsLinux }

// Self returns an error wrapping errors.ErrUnsupported.
func Self() (string, error) { return "", errNeedsLinux }

// Create returns an error wrapping errors.ErrUnsupported.
func Create(dir string) (*Group, error) { return nil, errNeedsLinux }

// Open returns an error wrapping errors.ErrUnsupported.
func Open(dir string) (*Group, error) { return nil, errNeedsLinux }

// Writable returns false.
func Writable(dir string) bool { return false }

// CurrentOwner returns an error wrapping errors.ErrUnsupported.
func CurrentOwner() (Owner, error) { return Owner{}, errNeedsLinux }

// Alive returns false: without /proc nothing can be known of o.
func (o Owner) Alive() bool { return false }

// CreateOwned returns an error wrapping errors.ErrUnsupported.
func CreateOwned(parent string) (*Group, error) { return nil, errNeedsLinux }

// Stale returns false: there are no cgroups to reap.
func Stale(dir string) bool { return false }

// ReapStale returns an error wrapping errors.ErrUnsupported.
func ReapStale(ctx context.Context, parent string) ([]string, error) { return nil, errNeedsLinux }

// FD returns -1.
func (g *Group) FD() int { return -1 }

// Close returns an error wrapping errors.ErrUnsupported.
func (g *Group) Close() error { return errNeedsLinux }

// Remove returns an error wrapping errors.ErrUnsupported.
func (g *Group) Remove() error { return errNeedsLinux }

// Procs returns an error wrapping errors.ErrUnsupported.
func (g *Group) Procs() ([]int, error) { return nil, errNeedsLinux }

// Populated returns an error wrapping errors.ErrUnsupported.
func (g *Group) Populated() (bool, error) { return false, errNeedsLinux }

// Frozen returns an error wrapping errors.ErrUnsupported.
func (g *Group) Frozen() (bool, error) { return false, errNeedsLinux }

// Controllers returns an error wrapping errors.ErrUnsupported.
func (g *Group) Controllers() ([]string, error) { return nil, errNeedsLinux }

// Signal returns an error wrapping errors.ErrUnsupported.
func (g *Group) Signal(sig syscall.Signal) (int, error) { return 0, errNeedsLinux }

// Kill returns an error wrapping errors.ErrUnsupported.
func (g *Group) Kill() error { return errNeedsLinux }

// WaitEmpty returns an error wrapping errors.ErrUnsupported.
func (g *Group) WaitEmpty(ctx context.Context) error { return errNeedsLinux }

// Freeze returns an error wrapping errors.ErrUnsupported.
func (g *Group) Freeze(ctx context.Context) error { return errNeedsLinux }

// Thaw returns an error wrapping errors.ErrUnsupported.
func (g *Group) Thaw(ctx context.Context) error { return errNeedsLinux }

// ThawNow returns an error wrapping errors.ErrUnsupported.
func (g *Group) ThawNow() error { return errNeedsLinux }

// Usage returns an error wrapping errors.ErrUnsupported.
func (g *Group) Usage() (Usage, error) { return Usage{}, errNeedsLinux }

// SetLimits returns an error wrapping [ErrLimit] for an invalid limit, else
// one wrapping errors.ErrUnsupported.
func (g *Group) SetLimits(l Limits) error {
	if _, err := l.files(); err != nil {
		return err
	}
	return errNeedsLinux
}

// EnableControllers returns an error wrapping errors.ErrUnsupported.
func (g *Group) EnableControllers(names ...string) ([]string, error) { return nil, errNeedsLinux }
