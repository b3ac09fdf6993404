package processes

import "time"

// userHZ is the unit of the CPU times in /proc/<pid>/stat: USER_HZ, which
// Linux fixes at 100 for every architecture's user ABI (proc_pid_stat(5),
// times(2)).
const userHZ = 100

// usage reads what the tree uses: from its cgroup's files, or its CPU time
// and processes from the /proc walk.
func (p *process) usage() (Usage, error) {
	if p.cg != nil {
		u, err := p.cg.Usage()
		if err != nil || (p.finished.Load() && u.Procs == 0) {
			return Usage{}, ErrExited
		}
		return Usage{
			CPU: u.CPU, Memory: u.Memory, MemoryOK: u.MemoryOK,
			MemoryPeak: u.MemoryPeak, MemoryPeakOK: u.MemoryPeakOK,
			OOMKills: u.OOMKills, OOMKillsOK: u.OOMKillsOK,
			Procs: u.Procs, At: p.m.clock().Now(),
		}, nil
	}
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

// treeUsage returns the CPU time and process count of each tree of ps:
// from its cgroup's files, or from one /proc walk for all of the others,
// the leader's CPU with its reaped children's, and every live
// descendant's.
func treeUsage(ps []*process) map[*process]treeStats {
	out := make(map[*process]treeStats, len(ps))
	var walk []*process
	for _, p := range ps {
		if p.cg == nil {
			walk = append(walk, p)
		} else if u, err := p.cg.Usage(); err == nil {
			out[p] = treeStats{cpu: u.CPU, procs: u.Procs}
		}
	}
	buf := make([]byte, 1024)
	for p, refs := range treePids(walk) {
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
