package pgfleet_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/processes/fleet"
)

// TestStressClaimers: 8 claimers over 10,000 commands of one host,
// dispatched while they claim: each claimer waits on the host's
// notifications (LISTEN) and claims batches of 1 to 32 with FOR UPDATE
// SKIP LOCKED. Every command is claimed exactly once. With -short, 1,000
// commands.
func TestStressClaimers(t *testing.T) {
	const claimers = 8
	n := 10_000
	if testing.Short() {
		n = 1_000 // the quick run; CI runs the full count, with and without -race
	}
	st, _ := newStore(t)
	ctx := t.Context()
	d := fleet.NewCommandDispatcher(st, fleet.DispatcherOptions{QueueCapacity: n, Workers: 4})
	dispatched := make(chan struct{})
	go func() { defer close(dispatched); d.Start() }()
	defer func() { d.Stop(); <-dispatched }()

	var mu sync.Mutex
	claims := make(map[string]int, n)
	total := 0
	allClaimed := make(chan struct{})
	var wg sync.WaitGroup
	for w := range claimers {
		sub, err := st.Subscribe(ctx, fleet.HostTopic("h"))
		require.NoError(t, err)
		wg.Go(func() {
			defer sub.Close()
			batch := []int{1, 4, 16, 32}[w%4]
			for {
				got, err := st.Claim(context.Background(), "h", batch, time.Now(), time.Minute)
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				for _, c := range got {
					claims[c.ID]++
				}
				total += len(got)
				if len(got) > 0 && total >= n && total-len(got) < n {
					close(allClaimed) // once: a double claim may carry total past n
				}
				mu.Unlock()
				if len(got) == batch {
					continue
				}
				select {
				case <-allClaimed:
					return
				case <-sub.C():
				case <-ctx.Done():
					return
				}
			}
		})
	}
	cmds := make([]*fleet.Command, 0, 500)
	for i := range n {
		cmds = append(cmds, &fleet.Command{ID: fmt.Sprintf("c%05d", i), HostID: "h", Kind: fleet.KindSignal})
		if len(cmds) == cap(cmds) {
			require.NoError(t, st.Enqueue(ctx, time.Now(), cmds...))
			for _, c := range cmds {
				require.NoError(t, d.Redispatch(c.ID))
			}
			cmds = cmds[:0]
		}
	}
	wg.Wait()
	require.Len(t, claims, n, "commands claimed")
	for id, k := range claims {
		if k != 1 {
			t.Errorf("command %s claimed %d times", id, k)
		}
	}
	left, err := st.Commands(ctx, fleet.CommandFilter{States: []string{fleet.CommandPending, fleet.CommandSent}})
	require.NoError(t, err)
	assert.Empty(t, left)
}

// TestStressPlacementsNearFull: rounds of 8 placers filling three small
// hosts at once. Each placement sorts the hosts by load on its own
// snapshot and locks the first that fits; one that finds its first host
// full once locked moves on to the next, so two placements can each
// hold the host the other wants next, and PostgreSQL aborts one of them
// (deadlock_detected). Such a placement is retried: every placement
// either takes a seat or finds none (ErrNoAgent), and no host is ever
// overfilled.
func TestStressPlacementsNearFull(t *testing.T) {
	const placers, tries = 8, 6
	rounds := 60
	if testing.Short() {
		rounds = 15 // the quick run; CI runs every round, with and without -race
	}
	st, db := newStore(t)
	ctx := t.Context()
	caps := map[string]int{"a": 3, "b": 5, "c": 7}
	for r := range rounds {
		_, err := db.Pool.Exec(ctx, `DELETE FROM sessionkit_fleet_sessions; DELETE FROM sessionkit_fleet_hosts`)
		require.NoError(t, err)
		for id, c := range caps {
			require.NoError(t, st.RegisterHost(ctx, fleet.Host{ID: id, Capacity: c}, time.Now()))
		}
		var mu sync.Mutex
		placed := map[string]int{}
		var wg sync.WaitGroup
		for p := range placers {
			wg.Go(func() {
				for i := range tries {
					h, err := st.Place(ctx, fleet.Placement{SessionID: fmt.Sprintf("r%d-p%d-%d", r, p, i), Now: time.Now(), TTL: time.Hour})
					if err != nil {
						assert.ErrorIs(t, err, fleet.ErrNoAgent)
						continue
					}
					mu.Lock()
					placed[h.ID]++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		require.Equal(t, caps, placed, "round %d: seats taken per host", r)
	}
}
