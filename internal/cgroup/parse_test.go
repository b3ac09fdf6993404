package cgroup_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/cgroup"
)

func TestParseMountinfo(t *testing.T) {
	tests := []struct {
		name       string
		data       string
		mountpoint string
		root       string
		ok         bool
	}{
		{
			name: "hybrid host",
			data: `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`,
			mountpoint: "/sys/fs/cgroup/unified", root: "/", ok: true,
		},
		{
			name:       "systemd host with optional fields",
			data:       "35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n",
			mountpoint: "/sys/fs/cgroup", root: "/", ok: true,
		},
		{
			name:       "several optional fields and escaped spaces",
			data:       `99 1 0:40 /my\040slice /mnt/cg\040two\134x rw shared:3 master:1 propagate_from:2 - cgroup2 none rw` + "\n",
			mountpoint: `/mnt/cg two\x`, root: "/my slice", ok: true,
		},
		{
			name:       "first of two",
			data:       "1 0 0:1 / /a rw - cgroup2 cgroup2 rw\n2 0 0:1 / /b rw - cgroup2 cgroup2 rw\n",
			mountpoint: "/a", root: "/", ok: true,
		},
		{
			name:       "no trailing newline",
			data:       "1 0 0:1 / /cg rw - cgroup2 cgroup2 rw",
			mountpoint: "/cg", root: "/", ok: true,
		},
		{
			name: "a mount point named cgroup2 is not the type",
			data: "1 0 0:1 / /cgroup2 rw - tmpfs cgroup2 rw\n",
		},
		{
			name: "v1 only",
			data: "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n",
		},
		{name: "empty"},
		{name: "garbage", data: "not a mountinfo line\n- cgroup2\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mp, root, ok := cgroup.ParseMountinfo(tt.data)
			assert.Equal(t, tt.ok, ok, "ok")
			assert.Equal(t, tt.mountpoint, mp, "mount point")
			assert.Equal(t, tt.root, root, "root")
		})
	}
}

func TestParseCgroupFile(t *testing.T) {
	tests := []struct {
		name, data, want, err string
	}{
		{name: "hybrid", data: "9:name=systemd:/\n4:memory:/x/y\n1:cpu:/\n0::/\n", want: "/"},
		{name: "unified", data: "0::/user.slice/user-1000.slice/session-2.scope\n", want: "/user.slice/user-1000.slice/session-2.scope"},
		{name: "spaces kept", data: "0::/a b\n", want: "/a b"},
		{name: "removed", data: "0::/gone (deleted)\n", err: `own cgroup "/gone" was removed`},
		{name: "outside namespace", data: "0::/../../other\n", err: "outside this cgroup namespace"},
		{name: "v1 only", data: "4:memory:/x\n", err: "no cgroup2 (0::) entry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cgroup.ParseCgroupFile(tt.data)
			if tt.err != "" {
				assert.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestJoinSelf(t *testing.T) {
	tests := []struct {
		name, mountpoint, root, path, want string
		bad                                bool
	}{
		{name: "root mount", mountpoint: "/sys/fs/cgroup/unified", root: "/", path: "/", want: "/sys/fs/cgroup/unified"},
		{name: "nested", mountpoint: "/sys/fs/cgroup", root: "/", path: "/a/b", want: "/sys/fs/cgroup/a/b"},
		{name: "subtree mount", mountpoint: "/mnt", root: "/a", path: "/a/b", want: "/mnt/b"},
		{name: "subtree mount at its root", mountpoint: "/mnt", root: "/a", path: "/a", want: "/mnt"},
		{name: "outside the subtree", mountpoint: "/mnt", root: "/a", path: "/b", bad: true},
		{name: "prefix is not a parent", mountpoint: "/mnt", root: "/a", path: "/ab", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cgroup.JoinSelf(tt.mountpoint, tt.root, tt.path)
			if tt.bad {
				assert.ErrorContains(t, err, "outside the cgroup2 mount")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParsePids(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []int
		bad  bool
	}{
		{name: "empty", data: "", want: []int{}},
		{name: "sorted and deduplicated", data: "30\n4\n30\n17\n", want: []int{4, 17, 30}},
		{name: "no trailing newline", data: "1\n2", want: []int{1, 2}},
		{name: "not a number", data: "1\nx\n", bad: true},
		{name: "negative", data: "-1\n", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cgroup.ParsePids([]byte(tt.data))
			if tt.bad {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestFlatKeyed(t *testing.T) {
	const events = "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\noom_group_kill 0\n"
	tests := []struct {
		name, data, key string
		want            int64
		ok              bool
	}{
		{name: "cgroup.events", data: "populated 1\nfrozen 0\n", key: "populated", want: 1, ok: true},
		{name: "last key", data: "populated 1\nfrozen 0\n", key: "frozen", want: 0, ok: true},
		{name: "key that prefixes another", data: events, key: "oom", want: 1, ok: true},
		{name: "memory.events oom_kill", data: events, key: "oom_kill", want: 2, ok: true},
		{name: "cpu.stat", data: "usage_usec 3779591873\nuser_usec 2522645001\n", key: "usage_usec", want: 3779591873, ok: true},
		{name: "absent", data: events, key: "oom_kills"},
		{name: "not a number", data: "frozen x\n", key: "frozen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := cgroup.FlatKeyed([]byte(tt.data), tt.key)
			assert.Equal(t, tt.ok, ok, "ok")
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		name  string
		data  string
		state byte
		start uint64
		ok    bool
	}{
		{
			name:  "plain",
			data:  "4242 (sleep) S 1 4242 4242 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 2265088 128 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n",
			state: 'S', start: 987654, ok: true,
		},
		{
			name:  "command with spaces and parentheses",
			data:  "7 (a) b (c) Z 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55 0 0 0\n",
			state: 'Z', start: 55, ok: true,
		},
		{name: "truncated", data: "7 (a) S 1 7 7 0\n"},
		{name: "no command", data: "7 a S 1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state, start, ok := cgroup.ParseStat([]byte(tt.data))
			assert.Equal(t, tt.ok, ok, "ok")
			assert.Equal(t, tt.state, state, "state")
			assert.Equal(t, tt.start, start, "start")
		})
	}
}

func TestOwned(t *testing.T) {
	tests := []struct {
		name string
		dir  string
		want cgroup.Owner
		ok   bool
	}{
		{name: "record", dir: "/sys/fs/cgroup/x/owner-4242-987654-3", want: cgroup.Owner{PID: 4242, Start: 987654}, ok: true},
		{name: "bare name", dir: "owner-1-0-1", want: cgroup.Owner{PID: 1, Start: 0}, ok: true},
		{name: "other group", dir: "/sys/fs/cgroup/user.slice"},
		{name: "systemd-like name", dir: "owner-1000.service"},
		{name: "too few fields", dir: "owner-1-2"},
		{name: "too many fields", dir: "owner-1-2-3-4"},
		{name: "pid zero", dir: "owner-0-2-3"},
		{name: "pid with sign", dir: "owner-+5-2-3"},
		{name: "pid with leading zero", dir: "owner-05-2-3"},
		{name: "not numbers", dir: "owner-a-b-c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := cgroup.Owned(tt.dir)
			assert.Equal(t, tt.ok, ok, "ok")
			assert.Equal(t, tt.want, got)
		})
	}
	o := cgroup.Owner{PID: 31, Start: 4000}
	got, ok := cgroup.Owned(o.OwnedName(7))
	assert.True(t, ok, "a name CreateOwned makes is a record")
	assert.Equal(t, o, got)
}
