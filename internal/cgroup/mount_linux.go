package cgroup

import (
	"errors"
	"fmt"
	"os"
)

// Mount returns the mount point of the cgroup2 file system, the first mount
// of type "cgroup2" in /proc/self/mountinfo (cgroup-v2.rst, "Mounting"):
// /sys/fs/cgroup on hosts where systemd mounts only cgroup2,
// /sys/fs/cgroup/unified on hybrid hosts. The error wraps
// errors.ErrUnsupported when there is none.
func Mount() (string, error) {
	mp, _, err := mount()
	return mp, err
}

func mount() (mountpoint, root string, err error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", "", err
	}
	mp, root, ok := parseMountinfo(string(b))
	if !ok {
		return "", "", fmt.Errorf("cgroup: no cgroup2 mount in /proc/self/mountinfo: %w", errors.ErrUnsupported)
	}
	return mp, root, nil
}

// Self returns the directory of this process's cgroup2 group: the mount
// point joined with the "0::" path of /proc/self/cgroup, less the root of
// the mount where only a subtree is mounted (cgroup-v2.rst, "Processes").
// The error wraps errors.ErrUnsupported without a cgroup2 mount, and says
// so when this process's group was removed or lies outside the mount.
func Self() (string, error) {
	mp, root, err := mount()
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	p, err := parseCgroupFile(string(b))
	if err != nil {
		return "", err
	}
	return joinSelf(mp, root, p)
}
