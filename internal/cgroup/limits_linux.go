package cgroup

import (
	"errors"
	"slices"
)

// SetLimits writes the non-zero limits of l to the group's memory.max,
// pids.max and cpu.max.
//
// Each limit needs its controller ("memory", "pids", "cpu") enabled for the
// group, that is listed in its cgroup.controllers. If any is not, SetLimits
// writes nothing and returns a [*ControllerError] naming every missing
// controller, for which errors.Is(err, errors.ErrUnsupported) holds: a limit
// is never silently ignored. It returns an error wrapping [ErrLimit] for a
// value the kernel would refuse, and writes nothing then either. The kernel
// may still refuse a write (the error names the file), and the files
// before it are then written.
func (g *Group) SetLimits(l Limits) error {
	files, err := l.files()
	if err != nil || len(files) == 0 {
		return err
	}
	return g.do(func(dirfd int) error {
		enabled, err := readControllers(dirfd, g.path)
		if err != nil {
			return err
		}
		var missing []string
		for _, f := range files {
			if !slices.Contains(enabled, f.controller) {
				missing = append(missing, f.controller)
			}
		}
		if len(missing) > 0 {
			return &ControllerError{Dir: g.path, Controllers: missing, Enabled: enabled}
		}
		for _, f := range files {
			if err := writeAt(dirfd, g.path, f.file, f.value); err != nil {
				return err
			}
		}
		return nil
	})
}

// EnableControllers enables the named controllers ("memory", "pids",
// "cpu", ...) for the group's children by writing "+name" to its
// cgroup.subtree_control, one at a time, and returns those now enabled
// (cgroup-v2.rst, "Enabling and Disabling"). A controller missing from the
// group's own cgroup.controllers cannot be enabled: its error is a
// [*ControllerError], for which errors.Is(err, errors.ErrUnsupported)
// holds. The kernel refuses others too, e.g. with EBUSY while the group
// has processes of its own ("No Internal Process Constraint"); the error
// joins one error for each controller not enabled.
func (g *Group) EnableControllers(names ...string) ([]string, error) {
	var done []string
	err := g.do(func(dirfd int) error {
		have, err := readControllers(dirfd, g.path)
		if err != nil {
			return err
		}
		var errs []error
		for _, name := range names {
			if !slices.Contains(have, name) {
				errs = append(errs, &ControllerError{Dir: g.path, Controllers: []string{name}, Enabled: have})
				continue
			}
			if err := writeAt(dirfd, g.path, "cgroup.subtree_control", "+"+name); err != nil {
				errs = append(errs, err)
				continue
			}
			done = append(done, name)
		}
		return errors.Join(errs...)
	})
	return done, err
}
