package fleettest_test

import (
	"fmt"
	"testing"

	"github.com/sessionkit/sessionkit/processes/fleet"
	"github.com/sessionkit/sessionkit/processes/fleet/fleettest"
)

// A Store implementation's test runs the suite with a fresh Store per
// subtest. (An example has no *testing.T, so this one shows the call.)
func ExampleRun() {
	test := func(t *testing.T) {
		fleettest.Run(t, func(*testing.T) fleet.Store { return fleet.NewMemoryStore() })
	}
	fmt.Println(test != nil, fleettest.Claimers, fleettest.Placers)
	// Output: true 8 8
}
