package activity_test

import (
	"testing"

	"github.com/sessionkit/sessionkit/activity"
	"github.com/sessionkit/sessionkit/activity/storetest"
)

// TestMemoryStoreContract runs the Store contract suite on MemoryStore.
func TestMemoryStoreContract(t *testing.T) {
	storetest.Run(t, func(*testing.T) activity.Store { return activity.NewMemoryStore() })
}
