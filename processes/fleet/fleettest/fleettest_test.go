package fleettest_test

import (
	"testing"

	"github.com/sessionkit/sessionkit/processes/fleet"
	"github.com/sessionkit/sessionkit/processes/fleet/fleettest"
)

// TestMemoryStore: the memory Store passes the contract.
func TestMemoryStore(t *testing.T) {
	fleettest.Run(t, func(*testing.T) fleet.Store { return fleet.NewMemoryStore() })
}
