package pgfleet_test

import (
	"context"
	"log"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessionkit/sessionkit/processes/fleet"
	"github.com/sessionkit/sessionkit/processes/fleet/pgfleet"
)

// A control-plane process: migrate, then the dispatcher, reconciler and
// gateway over the shared Store. (It needs a database, so it is compiled,
// not run; the tests run the same calls against a throwaway server.)
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	if err := pgfleet.Migrate(ctx, pool); err != nil {
		log.Fatal(err)
	}
	st := pgfleet.New(pool)

	d := fleet.NewCommandDispatcher(st, fleet.DispatcherOptions{})
	go d.Start() // DispatchPendingCommands first: what a dead predecessor left
	defer d.Stop()
	r := fleet.NewSessionReconciler(fleet.ReconcilerOptions{Store: st, Dispatcher: d})
	r.Start()
	defer r.Stop()
	gw, err := fleet.NewGateway(ctx, st, fleet.NewAgentSelector(st, fleet.SelectorOptions{}), d, fleet.GatewayOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer gw.Close()
	_ = gw // http.ListenAndServe(":8080", gw)
}
