package processes

import "time"

// userHZ is the unit of the CPU times in /proc/<pid>/stat: USER_HZ, which
// Linux fixes at 100 for every architecture's user ABI (proc_pid_stat(5),
// times(2)).
const userHZ = 100

// usage reads what the tree uses: its CPU time and processes, from the
// /proc walk.
func (p *process) usage() (Usage, error) {
	if p.finished.Load() {
		return Usage{}, ErrExited
	}
	t := treeUsage([]*process{p})[p]
	return Usage{CPU: t.cpu, Procs: t.procs, At: p.m.clock().Now()}, nil
}

// treeStats is what treeUsage reads of one tree.
type treeStats struct {
	cpu   time.Duration
	procs int
}

// treeUsage returns the CPU time and process count of each tree of ps,
// from one /proc walk: the leader's CPU with its reaped children's, and
// every live descendant's.
func treeUsage(ps []*process) map[*process]treeStats {
	out := make(map[*process]treeStats, len(ps))
	buf := make([]byte, 1024)
	for p, refs := range treePids(ps) {
		var ticks uint64
		var n int
		for _, r := range refs {
			st, ok := readStat(r.pid, buf)
			if !ok || st.start != r.start || st.dead {
				continue
			}
			n++
			ticks += st.cpu
			if r.pid == p.pid {
				ticks += st.childCPU
			}
		}
		out[p] = treeStats{cpu: time.Duration(ticks) * (time.Second / userHZ), procs: n}
	}
	return out
}
