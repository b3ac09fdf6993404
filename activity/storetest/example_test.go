package storetest_test

import (
	"testing"

	"github.com/sessionkit/sessionkit/activity"
	"github.com/sessionkit/sessionkit/activity/storetest"
)

// A test of a Store runs the suite with a function that makes an empty Store
// for each subtest; here the Store is activity's MemoryStore, as in
// activity's own TestMemoryStoreContract. (An example cannot be handed a
// *testing.T, so this one is compiled, not run.)
func ExampleRun() {
	testMyStore := func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) activity.Store {
			return activity.NewMemoryStore() // yours: a Store over a fresh database, released with t.Cleanup
		})
	}
	_ = testMyStore
}
