// Package storetest is the contract suite of [activity.Store]: the tests
// that every Store implementation must pass for a [activity.Tracker] over it
// to keep its promises.
//
// Run it from a test of your own Store, with a function that returns an
// empty Store for each subtest:
//
//	func TestMyStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) activity.Store {
//			return mystore.New(openTestDatabase(t))
//		})
//	}
//
// [Run] checks creation, Get, List, compare-and-set (a stale Version
// conflicts and stores nothing; 16 concurrent updaters lose no update; two
// Updates with the same Version never both succeed), not-found errors, that
// values returned are copies and not aliases, that a done context is
// honoured, that a namespace or name the Store cannot hold (a NUL byte,
// invalid UTF-8) is absent rather than an error, that a time it cannot
// represent stays on its side of now, and, when the Store implements
// [activity.BatchRecorder], that batched stamps only move forward and
// invalidate older reads, and that a stamp it cannot hold fails neither
// the batch nor the other stamps. It ends with
// several Trackers over one Store hibernating each idle session exactly once.
// activity.MemoryStore and package pgstore run it in their tests.
//
// # What a Store may do that the suite allows
//
// Times may come back in another location and at microsecond precision, as
// PostgreSQL keeps them: the suite compares times with time.Time.Equal and
// uses whole microseconds. Versions need only increase with each Update;
// List may return sessions in any order. A Store may refuse, with an error
// other than ErrConflict, to create a session whose namespace or name it
// cannot hold (PostgreSQL's text takes no NUL byte nor invalid UTF-8, and
// its index entries a few kilobytes), provided it then treats that session
// as absent everywhere; and it may store a time it cannot represent as the
// nearest one it can, on the same side of now.
//
// # Concurrency
//
// The subtests run one after the other; several of them call the Store from
// many goroutines at once. Each subtest gets a Store of its own from
// newStore, which may use t.Cleanup to release it.
//
// # What it does not do
//
// It does not measure speed, check durability across restarts, or test
// stores that hold other state than [activity.Session].
package storetest
