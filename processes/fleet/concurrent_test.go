package fleet_test

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/processes/fleet"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

// TestConcurrentStartsOfOneID: different starts of one ID sent at once
// through the gateway: one is placed and executed, the others answer
// 409, and one seat is held. (The same start sent again while it is on
// its way waits for it instead: TestGatewayRetryOfAStartOnItsWay.)
func TestConcurrentStartsOfOneID(t *testing.T) {
	var mu sync.Mutex
	starts := 0
	f := newFleet(t, nil)
	startHost(t, f.st, "h1", 4, nil, func(c fleet.Command) {
		if c.Kind == fleet.KindStart {
			mu.Lock()
			starts++
			mu.Unlock()
		}
	})
	startHost(t, f.st, "h2", 4, nil, nil)
	ctx := t.Context()
	const n = 8
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := f.client.Start(ctx, httpapi.StartRequest{ID: "one", Argv: []string{"sh", "-c", fmt.Sprintf("exec cat # %d", i)}})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	ok, conflicts := 0, 0
	for err := range errs {
		var ae *httpapi.APIError
		switch {
		case err == nil:
			ok++
		case errors.As(err, &ae) && ae.Status == http.StatusConflict:
			conflicts++
		default:
			t.Errorf("start: %v", err)
		}
	}
	assert.Equal(t, 1, ok, "starts answered 201")
	assert.Equal(t, n-1, conflicts, "starts answered 409")
	hs, err := f.st.Hosts(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, hs[0].Seats+hs[1].Seats, "seats held")
	require.NoError(t, f.client.Delete(ctx, "one"))
}

// TestStopRacesDispatch: commands dispatched while the dispatcher stops
// are either refused (ErrStopped) or stored, never lost nor blocked, and
// Start returns.
func TestStopRacesDispatch(t *testing.T) {
	st := fleet.NewMemoryStore()
	d := fleet.NewCommandDispatcher(st, fleet.DispatcherOptions{QueueCapacity: 64, Workers: 2})
	started := make(chan struct{})
	go func() { defer close(started); d.Start() }()
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := map[string]bool{}
	for w := range 4 {
		wg.Go(func() {
			for i := range 200 {
				c := &fleet.Command{HostID: "h", Kind: fleet.KindForget}
				err := d.DispatchCommand(c)
				switch {
				case err == nil:
					mu.Lock()
					accepted[c.ID] = true
					mu.Unlock()
				case errors.Is(err, fleet.ErrStopped), errors.Is(err, fleet.ErrQueueFull):
				default:
					t.Errorf("worker %d, command %d: %v", w, i, err)
				}
			}
		})
	}
	d.Stop()
	wg.Wait()
	<-started
	for id := range accepted {
		c, err := st.Command(t.Context(), id)
		if assert.NoError(t, err, "an accepted command was not stored") {
			assert.Contains(t, []string{fleet.CommandPending, fleet.CommandSent}, c.State)
		}
	}
	rec, err := st.Recoverable(t.Context(), time.Now(), 1000)
	require.NoError(t, err)
	pending := 0
	for _, c := range rec {
		if c.State == fleet.CommandPending {
			pending++
		}
	}
	d2 := fleet.NewCommandDispatcher(st, fleet.DispatcherOptions{QueueCapacity: 1000})
	require.NoError(t, d2.DispatchPendingCommands())
	assert.Equal(t, pending, d2.GetQueueLength(), "a new dispatcher takes up what was left pending")
	d2.Stop()
}
