//go:build !linux

package pgtest

import (
	"errors"
	"fmt"
	"time"
)

// server is a throwaway PostgreSQL cluster; only Linux starts one.
type server struct {
	url  string
	took time.Duration
}

// start reports that the throwaway server needs Linux: the tests skip unless
// EnvURL names a server.
func start() (*server, error) {
	return nil, fmt.Errorf("%w: %w: the throwaway server runs on Linux only", errNoServer, errors.ErrUnsupported)
}

func (s *server) stop() error { return nil }
