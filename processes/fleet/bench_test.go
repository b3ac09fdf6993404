package fleet_test

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/processes/fleet"
)

// BenchmarkPlaceMemory: placement decisions of the memory Store over 100
// hosts (a scan of every host under one lock), beside the bare scan
// (the least loaded of 100 structs chosen and its count raised).
func BenchmarkPlaceMemory(b *testing.B) {
	st := fleet.NewMemoryStore()
	now := time.Now()
	for i := range 100 {
		require.NoError(b, st.RegisterHost(context.Background(), fleet.Host{ID: fmt.Sprintf("h%03d", i), Capacity: 1 << 30}, now))
	}
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		if _, err := st.Place(ctx, fleet.Placement{SessionID: "s" + strconv.Itoa(i), Now: now, TTL: time.Hour}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}

func BenchmarkPlaceMemoryBare(b *testing.B) {
	type host struct {
		id              string
		seats, capacity int
	}
	hosts := make([]host, 100)
	for i := range hosts {
		hosts[i] = host{id: fmt.Sprintf("h%03d", i), capacity: 1 << 30}
	}
	placed := map[string]string{}
	i := 0
	for b.Loop() {
		i++
		best := -1
		for j := range hosts {
			h := &hosts[j]
			if h.seats >= h.capacity {
				continue
			}
			if best < 0 || cmp.Compare(int64(h.seats)*int64(hosts[best].capacity), int64(hosts[best].seats)*int64(h.capacity)) < 0 {
				best = j
			}
		}
		hosts[best].seats++
		placed["s"+strconv.Itoa(i)] = hosts[best].id
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}
