package proctest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Descendants returns the pids of this process's descendants, zombies
// included, whose command name (/proc/<pid>/comm) or program (argv[0])
// contains name: the processes a test started, through any depth of
// children, and none of another program's, so that a test counting
// leftovers is not misled by others running on the same machine.
func Descendants(name string) []int {
	parent := map[int]int{}
	for _, p := range Table() {
		parent[p.Pid] = p.PPid
	}
	self := os.Getpid()
	ours := func(pid int) bool {
		for n := 0; pid > 1 && n < 64; n++ {
			if pid = parent[pid]; pid == self {
				return true
			}
		}
		return false
	}
	var pids []int
	for pid := range parent {
		if !ours(pid) {
			continue
		}
		dir := filepath.Join("/proc", strconv.Itoa(pid))
		comm, err := os.ReadFile(filepath.Join(dir, "comm"))
		if err != nil {
			continue // gone
		}
		cmdline, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
		argv0, _, _ := strings.Cut(string(cmdline), "\x00")
		if strings.Contains(string(comm), name) || strings.Contains(filepath.Base(argv0), name) {
			pids = append(pids, pid)
		}
	}
	return pids
}
