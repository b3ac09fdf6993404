package fakeclock_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLogRacingTheSweepIsKept: a line logged while the sweep evicts its
// idle job is in the job's log afterwards, in the old session or a new one;
// it went with the evicted session when the sweep came between Log's Get
// and its Append. The race is hit within a few hundred rounds.
func TestLogRacingTheSweepIsKept(t *testing.T) {
	for i := range 3000 {
		jobs, m, c := newJobs(t)
		jobs.Log("a", "first")
		c.Add(idle + time.Nanosecond) // idle now: the sweep may evict it
		var wg sync.WaitGroup
		wg.Go(func() { jobs.Log("a", "second") })
		wg.Go(m.Sweep)
		wg.Wait()
		tail, ok := jobs.Tail("a")
		require.True(t, ok && strings.Contains(tail, "second"), "round %d: the line logged while the sweep evicted the job was lost: %q %v", i, tail, ok)
	}
}
