package processes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sessionkit/sessionkit/internal/cgroup"
)

// cgroupState is the Manager's cgroup, decided at its first Start.
type cgroupState struct {
	decided  bool
	group    *cgroup.Group // the Manager's own, under the parent; nil in the fallback
	err      error         // why there is none
	watchdog *exec.Cmd     // kills the group if this process dies
	watchW   *os.File      // the only writer of the watchdog's stdin
}

// errNoCgroup is the fallback's reason when WithoutCgroup asked for it.
var errNoCgroup = errors.New("processes: cgroups turned off by WithoutCgroup")

// cgroupFor returns the Manager's cgroup, creating it at the first call:
// under the parent given with WithCgroup, or, by default, under this
// process's own cgroup where it may create groups (a delegated subtree).
// Groups left under the same parent by Managers whose process died are
// killed and removed first, and a watchdog is started. It returns nil, and
// logs once why, where no cgroup can be had.
func (m *Manager) cgroupFor() *cgroup.Group {
	m.cgMu.Lock()
	defer m.cgMu.Unlock()
	cs := &m.cg
	if cs.decided {
		return cs.group
	}
	cs.decided = true
	g, err := m.setupCgroup()
	if err != nil {
		cs.err = err
		m.logger().Info("processes: no cgroup; containment falls back to the process group and /proc walk", "reason", err)
		return nil
	}
	w, watchdog, err := startWatchdog(g.Path())
	if err != nil {
		_ = g.Remove()
		_ = g.Close()
		cs.err = fmt.Errorf("processes: watchdog: %w", err)
		m.logger().Info("processes: no cgroup; containment falls back to the process group and /proc walk", "reason", cs.err)
		return nil
	}
	cs.group, cs.watchW, cs.watchdog = g, w, watchdog
	m.logger().Debug("processes: sessions contained in cgroups", "cgroup", g.Path())
	return g
}

func (m *Manager) setupCgroup() (*cgroup.Group, error) {
	if m.cgOff {
		return nil, errNoCgroup
	}
	parent := m.cgParent
	if parent == "" {
		self, err := cgroup.Self()
		if err != nil {
			return nil, err
		}
		parent = self
	}
	if !cgroup.Writable(parent) {
		return nil, fmt.Errorf("processes: cgroup %s is not writable here: %w", parent, errors.ErrUnsupported)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if removed, err := cgroup.ReapStale(ctx, parent); len(removed) > 0 || err != nil {
		m.logger().Info("processes: reaped cgroups of a Manager whose process is gone", "removed", removed, "err", err)
	}
	return cgroup.CreateOwned(parent)
}

// startWatchdog starts the process that kills every session if this one
// dies for any reason: a shell outside the Manager's cgroup, in a session
// of its own, reading a pipe whose only writer is this process. When this
// process dies the kernel closes the writer, the shell reads end of file
// and writes cgroup.kill (Linux 5.14) of dir, which kills every process of
// every session at once. Shutdown closes the writer once dir is removed,
// and the shell exits without a word.
func startWatchdog(dir string) (*os.File, *exec.Cmd, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	cmd := exec.Command("/bin/sh", "-c",
		`while read -r _; do :; done; [ -e "$1/cgroup.kill" ] && echo 1 > "$1/cgroup.kill"; exit 0`,
		"sessionkit-watchdog", dir)
	cmd.Stdin = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Env = []string{}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, nil, err
	}
	return w, cmd, nil
}

// closeCgroup removes the Manager's cgroup, every session being gone, and
// ends its watchdog.
func (m *Manager) closeCgroup() {
	m.cgMu.Lock()
	cs := m.cg
	m.cg = cgroupState{decided: cs.decided, err: cs.err}
	if cs.group != nil {
		m.cg.err = ErrClosed
	}
	m.cgMu.Unlock()
	if cs.group == nil {
		return
	}
	if err := cs.group.Remove(); err != nil {
		m.logger().Warn("processes: removing the Manager's cgroup", "cgroup", cs.group.Path(), "err", err)
	}
	_ = cs.group.Close()
	cs.watchW.Close()
	_ = cs.watchdog.Wait()
}

// Containment reports how the Manager contains its sessions: in cgroups,
// or in the process-group and /proc-walk fallback, and why. The choice is
// made at the first Start; before it, Containment makes it.
func (m *Manager) Containment() Containment {
	m.cgroupFor()
	m.cgMu.Lock()
	defer m.cgMu.Unlock()
	if m.cg.group != nil {
		return Containment{Cgroup: m.cg.group.Path()}
	}
	return Containment{Err: m.cg.err}
}

// sessionCgroup creates the cgroup of a session being started, with its
// limits; nil, nil in the fallback, where limits are refused.
func (m *Manager) sessionCgroup(name string, l Limits) (*cgroup.Group, error) {
	parent := m.cgroupFor()
	if parent == nil {
		if l != (Limits{}) {
			m.cgMu.Lock()
			why := m.cg.err
			m.cgMu.Unlock()
			return nil, fmt.Errorf("processes: limits need a cgroup (%v): %w", why, errors.ErrUnsupported)
		}
		return nil, nil
	}
	g, err := cgroup.Create(filepath.Join(parent.Path(), name))
	if err != nil {
		return nil, fmt.Errorf("processes: session cgroup: %w", err)
	}
	if l != (Limits{}) {
		if err := g.SetLimits(cgroup.Limits(l)); err != nil {
			_ = g.Remove()
			_ = g.Close()
			return nil, fmt.Errorf("processes: limits: %w", err)
		}
	}
	return g, nil
}
