package fakeclock_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLogRacingTheSweepIsKept: a line logged while the sweep evicts its
// idle job is in the job's log afterwards, in the old session or a new one;
// it went with the evicted session when the sweep came between Log's Get
// and its Append. Each round logs to a hundred idle jobs while one sweep
// evicts them, which hits the race within a few rounds; one clock serves
// every round, since each Add of the mock pauses a millisecond.
func TestLogRacingTheSweepIsKept(t *testing.T) {
	const rounds, perRound = 200, 100
	jobs, m, c := newJobs(t)
	for r := range rounds {
		ids := make([]string, perRound)
		for i := range ids {
			ids[i] = fmt.Sprintf("r%d-%d", r, i)
			jobs.Log(ids[i], "first")
		}
		c.Add(idle + time.Nanosecond) // idle now: the sweep may evict them
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Go(func() { jobs.Log(id, "second") })
		}
		wg.Go(m.Sweep)
		wg.Wait()
		for _, id := range ids {
			tail, ok := jobs.Tail(id)
			require.True(t, ok && strings.Contains(tail, "second"), "round %d, job %s: the line logged while the sweep evicted the job was lost: %q %v", r, id, tail, ok)
		}
	}
}
