package cgroup_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/sessionkit/sessionkit/internal/cgroup"
	"github.com/sessionkit/sessionkit/internal/proctest"
)

// leftovers reports the groups this test process created and did not
// remove, and its children that are still alive or unreaped: after the
// whole suite there must be none.
func leftovers() string {
	var out string
	seen := map[string]bool{}
	for _, f := range []func() (string, error){cgroup.Self, cgroup.Mount} {
		base, err := f()
		if err != nil || seen[base] {
			continue
		}
		seen[base] = true
		dirs, _ := filepath.Glob(filepath.Join(base, "cgtest-"+strconv.Itoa(os.Getpid())+"-*"))
		for _, d := range dirs {
			out += " group " + d
		}
	}
	for _, p := range proctest.Children() {
		out += fmt.Sprintf(" process %d (state %s)", p.Pid, p.State)
	}
	return out
}
