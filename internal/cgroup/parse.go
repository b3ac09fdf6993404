package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
)

// parseMountinfo finds the first cgroup2 mount in the contents of
// /proc/self/mountinfo (proc(5)): its mount point and the root of the
// hierarchy it shows. Each line is
//
//	id parent major:minor root mountpoint options [optional...] - fstype source superoptions
//
// with spaces, tabs, newlines and backslashes in paths escaped as \040, \011,
// \012 and \134.
func parseMountinfo(data string) (mountpoint, root string, ok bool) {
	for line := range strings.Lines(data) {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		sep := slices.Index(f[6:], "-")
		if sep < 0 || 6+sep+1 >= len(f) {
			continue
		}
		if f[6+sep+1] == "cgroup2" {
			return unescapeMount(f[4]), unescapeMount(f[3]), true
		}
	}
	return "", "", false
}

// unescapeMount undoes the octal escapes of mountinfo paths.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return '0' <= c && c <= '7' }

// parseCgroupFile returns the cgroup2 path in the contents of
// /proc/<pid>/cgroup: the "0::<path>" line (cgroup-v2.rst, "Processes").
func parseCgroupFile(data string) (string, error) {
	for line := range strings.Lines(data) {
		p, ok := strings.CutPrefix(strings.TrimRight(line, "\n"), "0::")
		if !ok {
			continue
		}
		switch {
		case strings.HasSuffix(p, " (deleted)"):
			return "", fmt.Errorf("cgroup: own cgroup %q was removed", strings.TrimSuffix(p, " (deleted)"))
		case !strings.HasPrefix(p, "/") || p == "/.." || strings.HasPrefix(p, "/../"):
			return "", fmt.Errorf("cgroup: own cgroup %q is outside this cgroup namespace", p)
		}
		return p, nil
	}
	return "", fmt.Errorf("cgroup: no cgroup2 (0::) entry in /proc/self/cgroup: %w", errors.ErrUnsupported)
}

// joinSelf returns the directory of cgroup path p under a cgroup2 mount of
// the hierarchy's subtree root.
func joinSelf(mountpoint, root, p string) (string, error) {
	rel, ok := strings.CutPrefix(p, root)
	if root == "/" {
		rel, ok = p, true
	}
	if !ok || (rel != "" && !strings.HasPrefix(rel, "/")) {
		return "", fmt.Errorf("cgroup: own cgroup %q is outside the cgroup2 mount at %s (root %q)", p, mountpoint, root)
	}
	return path.Join(mountpoint, rel), nil
}

// parsePids parses cgroup.procs: one pid a line, in no order, and "the same
// PID may show up more than once" (cgroup-v2.rst, "Core Interface Files").
// The result is sorted and has no duplicates.
func parsePids(data []byte) ([]int, error) {
	pids := make([]int, 0, bytes.Count(data, []byte{'\n'}))
	for len(data) > 0 {
		line, rest, _ := bytes.Cut(data, []byte{'\n'})
		data = rest
		if len(line) == 0 {
			continue
		}
		n, ok := atoi(line)
		if !ok {
			return nil, fmt.Errorf("cgroup: bad pid %q in cgroup.procs", line)
		}
		pids = append(pids, n)
	}
	slices.Sort(pids)
	return slices.Compact(pids), nil
}

// atoi parses a non-negative decimal int without allocating.
func atoi(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// flatKeyed returns the value of key in a flat-keyed file ("key value" lines,
// cgroup-v2.rst, "Format"): cgroup.events, cpu.stat, memory.events.
func flatKeyed(data []byte, key string) (int64, bool) {
	for len(data) > 0 {
		line, rest, _ := bytes.Cut(data, []byte{'\n'})
		data = rest
		k, v, ok := bytes.Cut(line, []byte{' '})
		if !ok || string(k) != key {
			continue
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// parseStat returns the state (field 3) and start time (field 22, clock ticks
// after boot) from the contents of /proc/<pid>/stat (proc(5)). The command
// name in field 2 may hold spaces and parentheses, so fields are counted
// from its last ')'.
func parseStat(data []byte) (state byte, start uint64, ok bool) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := bytes.Fields(data[i+1:])
	if len(f) < 20 || len(f[0]) != 1 {
		return 0, 0, false
	}
	start, err := strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return f[0][0], start, true
}
