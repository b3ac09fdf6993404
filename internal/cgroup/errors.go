package cgroup

import (
	"errors"
	"strings"
)

var (
	// ErrBusy is returned by [Group.Remove] while the group still has live
	// processes or child groups: rmdir(2) fails with EBUSY. The error also
	// matches syscall.EBUSY.
	ErrBusy = errors.New("cgroup: group is populated or has children")

	// ErrClosed is returned by the methods of a [Group] after [Group.Close],
	// and by those of a zero Group.
	ErrClosed = errors.New("cgroup: group is closed")

	// ErrNotCgroup is returned by [Open] and [Create] for a directory that is
	// not on a cgroup2 file system.
	ErrNotCgroup = errors.New("cgroup: not a cgroup2 directory")

	// ErrRoot is returned by [Group.Signal] for the root group, which holds
	// every process of the system that no other group holds.
	ErrRoot = errors.New("cgroup: refusing to signal the root group")

	// ErrLimit is returned by [Group.SetLimits] for a limit the kernel would
	// refuse: a negative value, or a CPU limit below the kernel's 1 ms quota
	// per 100 ms period.
	ErrLimit = errors.New("cgroup: invalid limit")
)

// ControllerError reports limits that need controllers which are not enabled
// for a group: they are missing from the group's cgroup.controllers, which
// lists what the parent's cgroup.subtree_control enables
// (Documentation/admin-guide/cgroup-v2.rst, "Enabling and Disabling").
// errors.Is(err, errors.ErrUnsupported) holds for it.
type ControllerError struct {
	Dir         string   // the group's directory
	Controllers []string // the missing controllers: "cpu", "memory", "pids"
	Enabled     []string // what the group's cgroup.controllers lists
}

func (e *ControllerError) Error() string {
	enabled := "none"
	if len(e.Enabled) > 0 {
		enabled = strings.Join(e.Enabled, " ")
	}
	word := "controller"
	if len(e.Controllers) > 1 {
		word = "controllers"
	}
	return "cgroup: " + word + " " + strings.Join(e.Controllers, ", ") +
		" not enabled in " + e.Dir + " (cgroup.controllers: " + enabled + ")"
}

// Unwrap returns errors.ErrUnsupported.
func (e *ControllerError) Unwrap() error { return errors.ErrUnsupported }
