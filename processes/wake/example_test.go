package wake_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"

	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/wake"
)

// Units are added together when their dependencies name each other;
// a cycle is refused, and nothing of the call is added.
func ExampleGroup_AddAll() {
	m := processes.NewManager(0)
	defer m.Shutdown(context.Background())
	g := wake.NewGroup(m)
	defer g.Shutdown(context.Background())

	cmd := func(context.Context) (*exec.Cmd, error) { return exec.Command("sleep", "1000"), nil }
	_, err := g.AddAll(
		wake.Spec{ID: "web", Command: cmd, DependsOn: []wake.Dependency{{Unit: "api"}}},
		wake.Spec{ID: "api", Command: cmd, DependsOn: []wake.Dependency{{Unit: "web"}}},
	)
	fmt.Println(errors.Is(err, wake.ErrCycle))
	fmt.Println(err)
	fmt.Println(len(g.Units()))

	_, err = g.AddAll(
		wake.Spec{ID: "db", Command: cmd},
		wake.Spec{ID: "web", Command: cmd, DependsOn: []wake.Dependency{{Unit: "db"}}},
	)
	fmt.Println(err, len(g.Units()))
	// Output:
	// true
	// wake: dependency cycle: [web api web]
	// 0
	// <nil> 2
}

// States, modes and conditions print as words, for logs and status pages.
func ExampleState() {
	fmt.Println(wake.Asleep, wake.Waking, wake.Ready, wake.Sleeping, wake.Failed)
	fmt.Println(wake.ModeStop, wake.ModeFreeze, wake.ModePause)
	fmt.Println(wake.WhenReady, wake.WhenStarted)
	// Output:
	// asleep waking ready sleeping failed
	// stop freeze pause
	// ready started
}
