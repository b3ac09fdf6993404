//go:build !linux

package processes

import (
	"errors"
	"fmt"
)

type cgroupState struct{}

func (m *Manager) closeCgroup() {}

// Containment reports how the Manager contains its sessions: in cgroups,
// or in the process-group and /proc-walk fallback, and why. Cgroups exist
// on Linux only; elsewhere no process can be started.
func (m *Manager) Containment() Containment {
	return Containment{Err: fmt.Errorf("processes: cgroups: %w", errors.ErrUnsupported)}
}
