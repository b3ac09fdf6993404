package sweep_test

import (
	"fmt"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/sessionkit/sessionkit/sweep"
)

// A mock clock drives the loop deterministically: each Add of one interval
// produces one call.
func Example() {
	c := clock.NewMock()
	calls := make(chan time.Time, 1)
	s := sweep.Start(c, time.Minute, func(now time.Time) { calls <- now })
	defer s.Stop()

	for range 3 {
		c.Add(time.Minute)
		now := <-calls
		fmt.Println(now.Sub(time.Unix(0, 0)))
	}
	// Output:
	// 1m0s
	// 2m0s
	// 3m0s
}
