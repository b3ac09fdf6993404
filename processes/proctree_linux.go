package processes

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"syscall"
	"time"
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
	traced               bool   // stopped by its tracer (t)
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
	return readStatFile(pid, "/proc/"+strconv.Itoa(pid)+"/stat", buf)
}

// readStatFile parses a stat file of proc_pid_stat(5)'s format, of process
// pid or of one of its threads (/proc/<pid>/task/<tid>/stat), into st.
func readStatFile(pid int, path string, buf []byte) (st procStat, ok bool) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
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
		dead: state == 'Z' || state == 'X', stopped: state == 'T', traced: state == 't',
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

// environCookie returns the value of cookieVar in pid's environment, and
// whether that is known: not when the environment could not be read for
// another reason than the process being gone, nor when it reads empty. An
// exec(2) under way shows an empty environment from the moment it replaced
// the old program (and closed its close-on-exec descriptors, which tells
// the parent that the exec succeeded) until the new program's stack is
// set up: a daemon that hops pids by exec and exits is unclaimable in that
// window unless it is looked at again.
func environCookie(pid int) (cookie string, known bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return "", errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH)
	}
	if len(b) == 0 {
		return "", false
	}
	prefix := []byte(cookieVar + "=")
	for kv := range bytes.SplitSeq(b, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, prefix); ok {
			return string(v), true
		}
	}
	return "", true
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
	out, _, _ := scanTrees(ps)
	return out
}

// scanTrees is treePids that also returns the processes it listed and
// those whose environment it could not tell (see environCookie) and that
// it did not claim otherwise.
func scanTrees(ps []*process) (out map[*process][]procRef, procs []procStat, unknown map[int]bool) {
	if len(ps) == 0 {
		return nil, nil, nil
	}
	known := ps[0].m.leaders()
	procs = listProcs()
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
		cookie, ok := environCookie(st.pid)
		if p := byCookie[cookie]; p != nil {
			claim(st.pid, p)
		} else if !ok {
			if unknown == nil {
				unknown = make(map[int]bool)
			}
			unknown[st.pid] = true
		}
	}
	out = make(map[*process][]procRef, len(ps))
	for pid, p := range owner {
		out[p] = append(out[p], procRef{pid, starts[pid]})
		delete(unknown, pid) // claimed as a child after all
	}
	return out, procs, unknown
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

// stopWait bounds how long awaitStopped waits for the processes of one
// scan to stop: one in uninterruptible sleep (a dead NFS server) may not
// for a long time, and forks nothing meanwhile.
const stopWait = 200 * time.Millisecond

// awaitStopped waits until every thread of every process of refs is
// stopped, dead or gone, or the pid names another process, or stopWait
// passed. A signal takes effect on a thread only when it next returns to
// user space, and a thread may be inside fork(2) or clone(2) when SIGSTOP
// is sent (or waiting for a vfork child to exec): a scan of /proc made
// before every thread stopped could miss the child it is making, which
// would then outlive the termination.
func awaitStopped(refs []procRef, buf []byte) {
	deadline := time.Now().Add(stopWait)
	for _, r := range refs {
		for !threadsStopped(r, buf) {
			if time.Now().After(deadline) {
				return
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// threadsStopped reports whether every thread of r's process is stopped
// or dead, or the process is gone or another incarnation.
func threadsStopped(r procRef, buf []byte) bool {
	st, ok := readStat(r.pid, buf)
	if !ok || st.start != r.start || st.dead {
		return true
	}
	dir := "/proc/" + strconv.Itoa(r.pid) + "/task/"
	d, err := os.Open(dir)
	if err != nil {
		return true // gone
	}
	tids, _ := d.Readdirnames(-1)
	d.Close()
	for _, tid := range tids {
		if ts, ok := readStatFile(r.pid, dir+tid+"/stat", buf); ok && !ts.stopped && !ts.traced && !ts.dead {
			return false
		}
	}
	return true
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
// treePids), or by its parent having been claimed. A process that no
// scan could claim and whose environment could not be told, and that
// started less than youngTicks before the hunt began (an exec under way),
// is pending: it is looked at again by every scan until it can be told,
// it is gone, or the hunt ends.
type hunt struct {
	ps        []*process
	seen      map[int]bool // pids some scan examined, for good
	owned     map[int]bool // pids claimed
	pending   map[int]bool // pids to look at again
	byCookie  map[string]bool
	byGroup   map[int]bool
	bySession map[int]bool
	young     uint64 // start times from here on are young, in clock ticks after boot
	buf       []byte
}

// youngTicks is how recently, in clock ticks (USER_HZ, 100 a second on
// Linux) before a hunt began, a process whose environment cannot be told
// must have started for the hunt to look at it again: 1 s, far more than
// an exec takes.
const youngTicks = 100

func newHunt(ps []*process) *hunt {
	h := &hunt{ps: ps, seen: make(map[int]bool), owned: make(map[int]bool), pending: make(map[int]bool), buf: make([]byte, 1024)}
	if b, err := os.ReadFile("/proc/uptime"); err == nil {
		if secs, err := strconv.ParseFloat(string(bytes.Fields(b)[0]), 64); err == nil && secs*100 > youngTicks {
			h.young = uint64(secs*100) - youngTicks
		}
	}
	return h
}

// scan returns the processes it newly claims, and whether some are
// pending.
func (h *hunt) scan() (claimed []procRef, pending bool) {
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
		found, procs, unknown := scanTrees(h.ps)
		for _, st := range procs {
			if unknown[st.pid] && st.start >= h.young {
				h.pending[st.pid] = true
			} else {
				h.seen[st.pid] = true
			}
		}
		for _, refs := range found {
			for _, r := range refs {
				h.owned[r.pid] = true
				claimed = append(claimed, r)
			}
		}
		return claimed, len(h.pending) > 0
	}
	d, err := os.Open("/proc")
	if err != nil {
		return nil, false
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	var fresh []procStat
	self := os.Getpid()
	clear(h.pending) // what is still pending is not seen: it is looked at again
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil || h.seen[pid] || h.owned[pid] {
			continue
		}
		h.seen[pid] = true
		if st, ok := readStat(pid, h.buf); ok && !st.dead && pid != self && pid > 1 {
			fresh = append(fresh, st)
		}
	}
	for changed := true; changed; {
		changed = false
		for _, st := range fresh {
			if h.owned[st.pid] {
				continue
			}
			claim := h.owned[st.ppid] || h.byGroup[st.pgrp] || h.bySession[st.sid]
			if !claim {
				cookie, known := environCookie(st.pid)
				claim = h.byCookie[cookie]
				if !claim && !known && st.start >= h.young {
					h.pending[st.pid] = true
					delete(h.seen, st.pid)
				}
			}
			if claim {
				h.owned[st.pid] = true
				delete(h.pending, st.pid)
				h.seen[st.pid] = true
				claimed = append(claimed, procRef{st.pid, st.start})
				changed = true
			}
		}
	}
	return claimed, len(h.pending) > 0
}
