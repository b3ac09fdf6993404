//go:build !linux

package processes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync/atomic"
	"time"
)

// process is what runs behind a started session. Starting processes is
// supported on Linux only; elsewhere Start returns an error for which
// errors.Is(err, errors.ErrUnsupported) holds, and no process exists.
type process struct {
	m        *Manager
	pid      int
	tty      *os.File
	finished atomic.Bool
	paused   atomic.Bool
	lastCPU  atomic.Int64
	s        *Session
	gone     chan struct{}
}

func (m *Manager) spawn(cmd *exec.Cmd, id string, opts StartOptions) (*Session, *process, error) {
	return nil, nil, fmt.Errorf("processes: starting processes: %w", errors.ErrUnsupported)
}

func (p *process) start()                                     {}
func (p *process) write(context.Context, []byte) (int, error) { return 0, errors.ErrUnsupported }
func (p *process) signal(os.Signal) error                     { return errors.ErrUnsupported }
func (p *process) closeStdin() error                          { return errors.ErrUnsupported }
func (p *process) resize(rows, cols uint16) error             { return errors.ErrUnsupported }
func (p *process) kill()                                      {}

func (m *Manager) terminate(ps []*process) {}
func (m *Manager) killAll()                {}
func (m *Manager) liveProcs() []*process   { return nil }
func (m *Manager) waitForker()             {}

type forkReq struct{}

func (p *process) pause(context.Context) error  { return errors.ErrUnsupported }
func (p *process) resume(context.Context) error { return errors.ErrUnsupported }
func (p *process) usage() (Usage, error)        { return Usage{}, errors.ErrUnsupported }

type treeStats struct{ cpu time.Duration }

func treeUsage([]*process) map[*process]treeStats { return nil }

func (p *process) size() (rows, cols uint16, err error) { return 0, 0, errors.ErrUnsupported }
