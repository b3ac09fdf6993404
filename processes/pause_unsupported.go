//go:build !linux

package processes

import (
	"context"
	"errors"
)

func (p *process) pauseWith(context.Context, PauseMethod) error { return errors.ErrUnsupported }
