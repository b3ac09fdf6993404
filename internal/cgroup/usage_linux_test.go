package cgroup_test

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/cgroup"
)

// Usage on a real group: the CPU time of a busy child grows, its processes
// are counted, and the memory figures are absent exactly when the memory
// controller is not enabled for the group (on hybrid hosts it never is).
func TestUsage(t *testing.T) {
	g := cgroup.NewTestGroup(t)
	const burst = `i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done`
	cmd := command(g, "sh", "-c", burst+"; echo one; read x; "+burst+"; echo two; read x; exit 0")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	reapAtCleanup(t, cmd)
	lines := bufio.NewReader(stdout)

	require.Equal(t, "one", readLine(t, lines))
	u1, err := g.Usage()
	require.NoError(t, err)
	_, err = io.WriteString(stdin, "\n")
	require.NoError(t, err)
	require.Equal(t, "two", readLine(t, lines))
	u2, err := g.Usage()
	require.NoError(t, err)

	assert.Positive(t, u1.CPU, "CPU time after a burst")
	assert.Greater(t, u2.CPU, u1.CPU, "CPU time after a second burst")
	assert.Equal(t, 1, u2.Procs)
	assert.True(t, u2.At.After(u1.At), "At of the later reading")

	controllers, err := g.Controllers()
	require.NoError(t, err)
	memory := slices.Contains(controllers, "memory")
	t.Logf("controllers %q; %+v", controllers, u2)
	assert.Equal(t, memory, u2.MemoryOK, "memory.current read where the memory controller is enabled, absent where not")
	assert.Equal(t, memory, u2.OOMKillsOK, "memory.events read where the memory controller is enabled, absent where not")
	if !memory {
		assert.Zero(t, u2.Memory)
		assert.False(t, u2.MemoryPeakOK)
	}

	require.NoError(t, stdin.Close())
	require.NoError(t, cmd.Wait())
}

// fakeTree makes a directory tree in t.TempDir() with the given files, for
// the code that reads and writes interface files.
func fakeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, data := range files {
		p := filepath.Join(root, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(data), 0o644))
	}
	return root
}

const fakeCPUStat = "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\nnice_usec 0\n"

func TestUsageFakeTree(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  cgroup.Usage
	}{
		{
			name: "memory controller enabled",
			files: map[string]string{
				"cpu.stat":          fakeCPUStat,
				"cgroup.procs":      "10\n11\n",
				"memory.current":    "1048576\n",
				"memory.peak":       "4194304\n",
				"memory.events":     "low 0\nhigh 0\nmax 7\noom 2\noom_kill 1\noom_group_kill 0\n",
				"a/cgroup.procs":    "12\n",
				"a/b/cgroup.procs":  "13\n14\n",
				"a/b/memory.events": "oom_kill 9\n",
			},
			want: cgroup.Usage{
				CPU:    1500 * time.Millisecond,
				Memory: 1 << 20, MemoryOK: true,
				MemoryPeak: 4 << 20, MemoryPeakOK: true,
				OOMKills: 1, OOMKillsOK: true,
				Procs: 5,
			},
		},
		{
			name: "no memory controller",
			files: map[string]string{
				"cpu.stat":     fakeCPUStat,
				"cgroup.procs": "10\n",
			},
			want: cgroup.Usage{CPU: 1500 * time.Millisecond, Procs: 1},
		},
		{
			name: "kernel before memory.peak",
			files: map[string]string{
				"cpu.stat":       fakeCPUStat,
				"cgroup.procs":   "",
				"memory.current": "8192\n",
				"memory.events":  "oom_kill 0\n",
			},
			want: cgroup.Usage{CPU: 1500 * time.Millisecond, Memory: 8192, MemoryOK: true, OOMKillsOK: true},
		},
		{
			name: "unreadable values count as absent",
			files: map[string]string{
				"cpu.stat":       fakeCPUStat,
				"cgroup.procs":   "",
				"memory.current": "max\n",
				"memory.events":  "oom 3\n",
			},
			want: cgroup.Usage{CPU: 1500 * time.Millisecond},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := cgroup.OpenAny(fakeTree(t, tt.files))
			require.NoError(t, err)
			defer g.Close()
			before := time.Now()
			got, err := g.Usage()
			require.NoError(t, err)
			assert.False(t, got.At.Before(before), "At is when it was read")
			got.At = time.Time{}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"no cpu.stat", map[string]string{"cgroup.procs": ""}, "cpu.stat: no such file"},
		{"no usage_usec", map[string]string{"cpu.stat": "user_usec 1\n", "cgroup.procs": ""}, "no usage_usec"},
		{"no cgroup.procs", map[string]string{"cpu.stat": fakeCPUStat}, "cgroup.procs: no such file"},
		{"bad cgroup.procs", map[string]string{"cpu.stat": fakeCPUStat, "cgroup.procs": "x\n"}, "bad pid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := cgroup.OpenAny(fakeTree(t, tt.files))
			require.NoError(t, err)
			defer g.Close()
			_, err = g.Usage()
			assert.ErrorContains(t, err, tt.want)
		})
	}
}
