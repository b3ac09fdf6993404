package processes

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// cookieVar is set in the environment of every started command to a value
// unique to its session. Descendants inherit it, so a daemon that left the
// process group and was re-parented away from the tree is still found.
const cookieVar = "SESSIONKIT_SESSION_COOKIE"

type procStat struct {
	pid, ppid, pgrp, sid int
}

// readStat parses /proc/<pid>/stat.
func readStat(pid int) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	// The command name is in parentheses and may hold anything; the fields
	// that follow start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 4 {
		return procStat{}, false
	}
	st := procStat{pid: pid}
	st.ppid, _ = strconv.Atoi(string(f[1]))
	st.pgrp, _ = strconv.Atoi(string(f[2]))
	st.sid, _ = strconv.Atoi(string(f[3]))
	return st, true
}

// listProcs returns the stat of every process in /proc.
func listProcs() []procStat {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	out := make([]procStat, 0, len(names))
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		if st, ok := readStat(pid); ok {
			out = append(out, st)
		}
	}
	return out
}

// environCookie returns the value of cookieVar in pid's environment.
func environCookie(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return ""
	}
	prefix := []byte(cookieVar + "=")
	for kv := range bytes.SplitSeq(b, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, prefix); ok {
			return string(v)
		}
	}
	return ""
}

// treePids returns, for each process, the pids of everything that belongs to
// it: the members of its process group (and of its session, for a session
// leader), every descendant of those by parent links, and every process that
// carries its cookie. One scan of /proc serves all of ps.
func treePids(ps []*process) map[*process][]int {
	procs := listProcs()
	self := os.Getpid()
	children := make(map[int][]int, len(procs))
	for _, st := range procs {
		children[st.ppid] = append(children[st.ppid], st.pid)
	}
	byCookie := make(map[string]*process, len(ps))
	for _, p := range ps {
		byCookie[p.cookie] = p
	}
	owner := make(map[int]*process)
	var claim func(pid int, p *process)
	claim = func(pid int, p *process) {
		if pid <= 1 || pid == self || owner[pid] != nil {
			return
		}
		owner[pid] = p
		for _, c := range children[pid] {
			claim(c, p)
		}
	}
	for _, p := range ps {
		claim(p.pid, p)
	}
	for _, st := range procs {
		for _, p := range ps {
			if st.pgrp == p.pid || (p.ownSession && st.sid == p.pid) {
				claim(st.pid, p)
			}
		}
	}
	for _, st := range procs {
		if owner[st.pid] != nil || st.pid == self || st.pid <= 1 {
			continue
		}
		if p := byCookie[environCookie(st.pid)]; p != nil {
			claim(st.pid, p)
		}
	}
	out := make(map[*process][]int, len(ps))
	for pid, p := range owner {
		out[p] = append(out[p], pid)
	}
	return out
}

// signalTrees sends sig to the process group of every process in ps and to
// every process found to belong to it. Errors are ignored: a process may
// exit at any moment.
func signalTrees(ps []*process, sig syscall.Signal) {
	if len(ps) == 0 {
		return
	}
	for _, p := range ps {
		_ = syscall.Kill(-p.pid, sig)
	}
	for _, pids := range treePids(ps) {
		for _, pid := range pids {
			_ = syscall.Kill(pid, sig)
		}
	}
}
