package processes

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"unsafe"
)

// cookieVar is set in the environment of every started command to a value
// unique to its session. Descendants inherit it, so a daemon that left the
// process group and was re-parented away from the tree is still found.
const cookieVar = "SESSIONKIT_SESSION_COOKIE"

type procStat struct {
	pid, ppid, pgrp, sid int
	start                uint64 // start time in clock ticks after boot
	dead                 bool   // a zombie (Z) or dying (X): it can do nothing more
	stopped              bool   // stopped by a signal (T)
	cpu                  uint64 // utime + stime, in USER_HZ ticks
	childCPU             uint64 // cutime + cstime: its reaped children's
}

// procRef names one incarnation of a pid: a pid whose start time changed
// was reused by another process.
type procRef struct {
	pid   int
	start uint64
}

// readStat parses /proc/<pid>/stat into st, reading it into buf.
func readStat(pid int, buf []byte) (st procStat, ok bool) {
	fd, err := syscall.Open("/proc/"+strconv.Itoa(pid)+"/stat", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return st, false
	}
	n, err := syscall.Read(fd, buf)
	syscall.Close(fd)
	if err != nil || n <= 0 {
		return st, false
	}
	b := buf[:n]
	// The command name is in parentheses and may hold anything; the fields
	// that follow start after the last ')': state, ppid, pgrp, session.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return st, false
	}
	// Fields after the name, counted from 0 (proc_pid_stat(5) numbers
	// them from 3): state, ppid, pgrp, session, ..., utime at 11, stime,
	// cutime, cstime, ..., starttime at 19.
	var f [20]uint64
	k := -1
	for _, c := range b[i+1:] {
		if c == ' ' {
			if k++; k == len(f) {
				break
			}
		} else if k > 0 && c >= '0' && c <= '9' {
			f[k] = f[k]*10 + uint64(c-'0')
		}
	}
	if k < len(f)-1 {
		return st, false
	}
	var state byte
	if i+2 < len(b) {
		state = b[i+2]
	}
	return procStat{
		pid: pid, ppid: int(f[1]), pgrp: int(f[2]), sid: int(f[3]), start: f[19],
		dead: state == 'Z' || state == 'X', stopped: state == 'T',
		cpu: f[11] + f[12], childCPU: f[13] + f[14],
	}, true
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
	buf := make([]byte, 1024)
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		if st, ok := readStat(pid, buf); ok {
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

// treePids returns, for each process, what belongs to it: the members of
// its process group (and of its session, for a session leader), every
// descendant of those by parent links, and every process that carries its
// cookie, whatever group it joined. One scan of /proc serves all of ps.
// Environments are read of every process but the leaders of the Manager's
// running sessions, which carry their own cookie. Zombies are left out: they
// can do nothing more.
//
// A group or session ID stays in use, and so cannot be given to a new
// process, for as long as one member remains (credentials(7)), so a
// process's group and session are its own even after its leader was
// reaped, unless a process now has the leader's pid: then the group is
// empty of the session's processes and the ID may be a stranger's.
func treePids(ps []*process) map[*process][]procRef {
	if len(ps) == 0 {
		return nil
	}
	known := ps[0].m.leaders()
	procs := listProcs()
	self := os.Getpid()
	children := make(map[int][]int, len(procs))
	starts := make(map[int]uint64, len(procs))
	for _, st := range procs {
		starts[st.pid] = st.start
		if !st.dead {
			children[st.ppid] = append(children[st.ppid], st.pid)
		}
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
	byCookie := make(map[string]*process, len(ps))
	byGroup := make(map[int]*process, len(ps))
	bySession := make(map[int]*process)
	for _, p := range ps {
		byCookie[p.cookie] = p
		_, pidInUse := starts[p.pid]
		reaped := p.reaped.Load()
		if !reaped {
			claim(p.pid, p)
		}
		if !reaped || !pidInUse {
			byGroup[p.pid] = p
			if p.ownSession {
				bySession[p.pid] = p
			}
		}
	}
	for _, st := range procs {
		if st.dead {
			continue
		}
		if p := byGroup[st.pgrp]; p != nil {
			claim(st.pid, p)
		} else if p := bySession[st.sid]; p != nil {
			claim(st.pid, p)
		}
	}
	for _, st := range procs {
		if st.dead || owner[st.pid] != nil || st.pid == self || st.pid <= 1 || known[st.pid] {
			continue
		}
		if p := byCookie[environCookie(st.pid)]; p != nil {
			claim(st.pid, p)
		}
	}
	out := make(map[*process][]procRef, len(ps))
	for pid, p := range owner {
		out[p] = append(out[p], procRef{pid, starts[pid]})
	}
	return out
}

// signalTrees sends each of sigs, in order, to the leader of each of ps
// (through its pidfd) and its process group while the leader is not reaped,
// and to every process found to belong to one of them, and returns those it
// found by process. Every process found is signalled through a pidfd opened
// after checking that its pid still names the incarnation the scan saw, so
// a pid reused since the scan is never hit. Errors are ignored: a process
// may exit at any moment.
func signalTrees(ps []*process, sigs ...syscall.Signal) map[*process][]procRef {
	if len(ps) == 0 {
		return nil
	}
	for _, p := range ps {
		for _, sig := range sigs {
			p.signalGroup(sig)
		}
	}
	found := treePids(ps)
	buf := make([]byte, 1024)
	for p, refs := range found {
		for _, r := range refs {
			if r.pid == p.pid && !p.reaped.Load() {
				continue // the leader, signalled with its group
			}
			if f := openRef(r, buf); f != nil {
				for _, sig := range sigs {
					_ = pidfdSignal(f, sig)
				}
				f.Close()
			}
		}
	}
	return found
}

const (
	sysPidfdOpen       = 434   // pidfd_open(2), Linux 5.3
	sysPidfdSendSignal = 424   // pidfd_send_signal(2), Linux 5.1
	pidfdNonblock      = 0x800 // PIDFD_NONBLOCK (O_NONBLOCK), Linux 5.10
	pollIn             = 0x1   // POLLIN
)

// openRef returns a non-blocking pidfd of r's process if its pid still
// names the incarnation r saw (same start time, checked after the pidfd
// pins the pid), and nil otherwise. The pidfd is close-on-exec, as
// pidfd_open(2) always makes it.
func openRef(r procRef, buf []byte) *os.File {
	fd, _, e := syscall.Syscall(sysPidfdOpen, uintptr(r.pid), pidfdNonblock, 0)
	if e == syscall.EINVAL {
		// Before Linux 5.10: no PIDFD_NONBLOCK.
		fd, _, e = syscall.Syscall(sysPidfdOpen, uintptr(r.pid), 0, 0)
		if e == 0 {
			if err := syscall.SetNonblock(int(fd), true); err != nil {
				syscall.Close(int(fd))
				return nil
			}
		}
	}
	if e != 0 {
		return nil
	}
	if st, ok := readStat(r.pid, buf); !ok || st.start != r.start {
		syscall.Close(int(fd))
		return nil
	}
	return os.NewFile(fd, "pidfd")
}

// pidfdSignal sends sig to the process of pidfd f.
func pidfdSignal(f *os.File, sig syscall.Signal) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall6(sysPidfdSendSignal, fd, uintptr(sig), 0, 0, 0, 0)
	}); err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	return nil
}

// awaitGone waits through the runtime poller until the process of pidfd f
// has exited: a pidfd polls readable then (pidfd_open(2)).
func awaitGone(f *os.File) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Read(func(fd uintptr) bool {
		pfd := struct {
			fd      int32
			events  int16
			revents int16
		}{int32(fd), pollIn, 0}
		var ts syscall.Timespec // zero: do not block
		n, _, e := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		return e != 0 && e != syscall.EINTR || n > 0
	})
}

// leaders returns the pids of the Manager's running processes, which lead
// their process groups (and sessions, for terminals).
func (m *Manager) leaders() map[int]bool {
	out := make(map[int]bool)
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.RLock()
		for _, s := range sh.sessions {
			if s.proc != nil && !s.proc.reaped.Load() {
				out[s.proc.pid] = true
			}
		}
		sh.mu.RUnlock()
	}
	return out
}

// hunt finds what is left of the trees of processes whose leaders were
// reaped, scan after scan, for the completer: the first scan is treePids',
// and each later one looks only at the processes no scan has seen, so that
// it takes far less time than a process needs to fork and exec: a daemon
// that hops pids cannot outrun it. A process is claimed by its cookie, by
// the group or session of a leader whose pid no process now has (see
// treePids), or by its parent having been claimed.
type hunt struct {
	ps        []*process
	seen      map[int]bool // pids some scan examined
	owned     map[int]bool // pids claimed
	byCookie  map[string]bool
	byGroup   map[int]bool
	bySession map[int]bool
	buf       []byte
}

func newHunt(ps []*process) *hunt {
	return &hunt{ps: ps, seen: make(map[int]bool), owned: make(map[int]bool), buf: make([]byte, 1024)}
}

// scan returns the processes it newly claims.
func (h *hunt) scan() []procRef {
	if h.byCookie == nil {
		// The first scan: all of /proc.
		h.byCookie, h.byGroup, h.bySession = map[string]bool{}, map[int]bool{}, map[int]bool{}
		for _, p := range h.ps {
			h.byCookie[p.cookie] = true
			if _, ok := readStat(p.pid, h.buf); !ok {
				h.byGroup[p.pid] = true
				if p.ownSession {
					h.bySession[p.pid] = true
				}
			}
		}
		for _, st := range listProcs() {
			h.seen[st.pid] = true
		}
		var out []procRef
		for _, refs := range treePids(h.ps) {
			for _, r := range refs {
				h.owned[r.pid] = true
				out = append(out, r)
			}
		}
		return out
	}
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	var fresh []procStat
	self := os.Getpid()
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil || h.seen[pid] {
			continue
		}
		h.seen[pid] = true
		if st, ok := readStat(pid, h.buf); ok && !st.dead && pid != self && pid > 1 {
			fresh = append(fresh, st)
		}
	}
	var out []procRef
	for changed := true; changed; {
		changed = false
		for _, st := range fresh {
			if h.owned[st.pid] {
				continue
			}
			if h.owned[st.ppid] || h.byGroup[st.pgrp] || h.bySession[st.sid] || h.byCookie[environCookie(st.pid)] {
				h.owned[st.pid] = true
				out = append(out, procRef{st.pid, st.start})
				changed = true
			}
		}
	}
	return out
}
