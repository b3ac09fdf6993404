//go:build linux

package cgroup_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/sessionkit/sessionkit/internal/cgroup"
)

// exampleParent returns a directory where the examples may create groups:
// this process's own group, or the root of the cgroup2 mount.
func exampleParent() string {
	for _, f := range []func() (string, error){cgroup.Self, cgroup.Mount} {
		if dir, err := f(); err == nil && cgroup.Writable(dir) {
			return dir
		}
	}
	panic("the examples need a writable cgroup2 directory")
}

// A child starts inside a group, and a daemon it leaves behind, in a new
// session, with a cleared environment, is still in the group: Kill ends
// both, WaitEmpty returns once they are gone, and the group can be removed.
func Example() {
	g, err := cgroup.Create(filepath.Join(exampleParent(), "example-"+strconv.Itoa(os.Getpid())))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer g.Close()

	cmd := exec.Command("sh", "-c", "env -i setsid sleep 1000 & exec sleep 1000")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: g.FD()}
	if err := cmd.Start(); err != nil {
		fmt.Println(err)
		return
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Println("kill:", g.Kill())
	fmt.Println("wait empty:", g.WaitEmpty(ctx))
	fmt.Println("child:", cmd.Wait())
	fmt.Println("remove:", g.Remove())
	// Output:
	// kill: <nil>
	// wait empty: <nil>
	// child: signal: killed
	// remove: <nil>
}

// Freeze stops every process of a group where it is, and Thaw lets them
// go on; the CPU time is still kept.
func ExampleGroup_Freeze() {
	g, err := cgroup.Create(filepath.Join(exampleParent(), "example-freeze-"+strconv.Itoa(os.Getpid())))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer g.Close()
	cmd := exec.Command("sh", "-c", "while :; do :; done")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: g.FD()}
	if err := cmd.Start(); err != nil {
		fmt.Println(err)
		return
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Println("freeze:", g.Freeze(ctx))
	frozen, _ := g.Frozen()
	u, _ := g.Usage()
	fmt.Println("frozen:", frozen, "processes:", u.Procs)
	fmt.Println("thaw:", g.Thaw(ctx))

	_ = g.Kill()
	_ = g.WaitEmpty(ctx)
	_ = cmd.Wait()
	fmt.Println("remove:", g.Remove())
	// Output:
	// freeze: <nil>
	// frozen: true processes: 1
	// thaw: <nil>
	// remove: <nil>
}

// A limit needs its controller enabled for the group by the parent's
// cgroup.subtree_control. A new group enables nothing for its children, so
// a limit on its child is refused, naming the controller, and never
// silently ignored.
func ExampleGroup_SetLimits() {
	parent, err := cgroup.Create(filepath.Join(exampleParent(), "example-limits-"+strconv.Itoa(os.Getpid())))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer parent.Close()
	child, err := cgroup.Create(filepath.Join(parent.Path(), "child"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer child.Close()

	err = child.SetLimits(cgroup.Limits{MemoryMax: 256 << 20, PidsMax: 100})
	var ce *cgroup.ControllerError
	if errors.As(err, &ce) {
		fmt.Println("missing:", ce.Controllers, "unsupported:", errors.Is(err, errors.ErrUnsupported))
	}
	fmt.Println(child.Remove(), parent.Remove())
	// Output:
	// missing: [memory pids] unsupported: true
	// <nil> <nil>
}

// The name of a group made by CreateOwned records its owner, so that a
// later process can tell a group whose owner died from a live one.
func ExampleCreateOwned() {
	g, err := cgroup.CreateOwned(exampleParent())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer g.Close()
	owner, ok := cgroup.Owned(g.Path())
	fmt.Println(ok, owner.PID == os.Getpid(), cgroup.Stale(g.Path()))
	fmt.Println(g.Remove())
	// Output:
	// true true false
	// <nil>
}

// Owned reads the ownership record in a directory's name, nothing else.
func ExampleOwned() {
	o, ok := cgroup.Owned("/sys/fs/cgroup/sessions/owner-4242-987654-1")
	fmt.Println(o.PID, o.Start, ok)
	_, ok = cgroup.Owned("/sys/fs/cgroup/system.slice")
	fmt.Println(ok)
	// Output:
	// 4242 987654 true
	// false
}
