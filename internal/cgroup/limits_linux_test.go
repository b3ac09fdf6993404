package cgroup_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/cgroup"
)

func TestLimitsValidation(t *testing.T) {
	tests := []struct {
		name string
		l    cgroup.Limits
	}{
		{name: "negative memory", l: cgroup.Limits{MemoryMax: -1}},
		{name: "negative pids", l: cgroup.Limits{PidsMax: -1}},
		{name: "negative cpu", l: cgroup.Limits{CPUMax: -0.5}},
		{name: "cpu below the kernel's 1 ms quota", l: cgroup.Limits{CPUMax: 0.009}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The validation comes before any file is touched: a zero
			// Group (closed) shows that nothing was attempted.
			err := new(cgroup.Group).SetLimits(tt.l)
			assert.ErrorIs(t, err, cgroup.ErrLimit)
		})
	}
	assert.NoError(t, new(cgroup.Group).SetLimits(cgroup.Limits{}), "the zero Limits writes nothing")
}

// On a real group, each limit is written where its controller is enabled
// for the group and refused with an error naming the controller where it
// is not; on hybrid hosts (cgroup.controllers empty) every one is refused.
func TestSetLimits(t *testing.T) {
	tests := []struct {
		name       string
		limits     cgroup.Limits
		controller string
		file, want string
	}{
		{"memory", cgroup.Limits{MemoryMax: 64 << 20}, "memory", "memory.max", "67108864"},
		{"pids", cgroup.Limits{PidsMax: 32}, "pids", "pids.max", "32"},
		{"cpu", cgroup.Limits{CPUMax: 0.5}, "cpu", "cpu.max", "50000 100000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := cgroup.NewTestGroup(t)
			controllers, err := g.Controllers()
			require.NoError(t, err)
			err = g.SetLimits(tt.limits)
			if !slices.Contains(controllers, tt.controller) {
				t.Logf("%s controller not enabled (cgroup.controllers %q): %v", tt.controller, controllers, err)
				require.ErrorIs(t, err, errors.ErrUnsupported)
				var ce *cgroup.ControllerError
				require.ErrorAs(t, err, &ce)
				assert.Equal(t, []string{tt.controller}, ce.Controllers)
				assert.Contains(t, err.Error(), tt.controller)
				return
			}
			require.NoError(t, err)
			b, err := os.ReadFile(filepath.Join(g.Path(), tt.file))
			require.NoError(t, err)
			assert.Equal(t, tt.want, strings.TrimSpace(string(b)))
		})
	}
}

// A new group's children have no controllers until it enables them, so a
// limit on a grandchild of the test's base is refused everywhere, naming
// every controller it needs.
func TestSetLimitsNamesEveryMissingController(t *testing.T) {
	g := cgroup.NewTestGroup(t)
	child, err := cgroup.Create(filepath.Join(g.Path(), "child"))
	require.NoError(t, err)
	defer child.Close()
	err = child.SetLimits(cgroup.Limits{MemoryMax: 1 << 30, PidsMax: 10, CPUMax: 1})
	require.ErrorIs(t, err, errors.ErrUnsupported)
	var ce *cgroup.ControllerError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, []string{"memory", "pids", "cpu"}, ce.Controllers)
	assert.Equal(t, child.Path(), ce.Dir)
	assert.Empty(t, ce.Enabled)
	assert.EqualError(t, err, "cgroup: controllers memory, pids, cpu not enabled in "+child.Path()+" (cgroup.controllers: none)")
}

// EnableControllers enables what the group may pass on and names what it
// may not.
func TestEnableControllers(t *testing.T) {
	g := cgroup.NewTestGroup(t)
	have, err := g.Controllers()
	require.NoError(t, err)
	want := []string{"memory", "pids", "cpu"}
	enabled, err := g.EnableControllers(want...)
	for _, name := range want {
		if slices.Contains(have, name) {
			assert.Contains(t, enabled, name)
			continue
		}
		assert.NotContains(t, enabled, name)
		require.ErrorIs(t, err, errors.ErrUnsupported)
		assert.ErrorContains(t, err, "controller "+name+" not enabled")
	}
	child, err := cgroup.Create(filepath.Join(g.Path(), "child"))
	require.NoError(t, err)
	defer child.Close()
	got, err := child.Controllers()
	require.NoError(t, err)
	assert.ElementsMatch(t, enabled, got, "the child's cgroup.controllers")
}

func TestSetLimitsFakeTree(t *testing.T) {
	unlimited := map[string]string{"memory.max": "max\n", "pids.max": "max\n", "cpu.max": "max 100000\n"}
	tests := []struct {
		name        string
		controllers string
		limits      cgroup.Limits
		want        map[string]string // file contents afterwards
		missing     []string
	}{
		{
			name:        "all enabled",
			controllers: "cpuset cpu io memory pids\n",
			limits:      cgroup.Limits{MemoryMax: 256 << 20, PidsMax: 64, CPUMax: 1.5},
			want:        map[string]string{"memory.max": "268435456", "pids.max": "64", "cpu.max": "150000 100000"},
		},
		{
			name:        "zero fields are left alone",
			controllers: "memory pids\n",
			limits:      cgroup.Limits{PidsMax: 5},
			want:        map[string]string{"memory.max": "max\n", "pids.max": "5", "cpu.max": "max 100000\n"},
		},
		{
			name:        "smallest CPU limit",
			controllers: "cpu\n",
			limits:      cgroup.Limits{CPUMax: 0.01},
			want:        map[string]string{"memory.max": "max\n", "pids.max": "max\n", "cpu.max": "1000 100000"},
		},
		{
			name:        "one controller missing: nothing written",
			controllers: "pids\n",
			limits:      cgroup.Limits{MemoryMax: 1 << 20, PidsMax: 5},
			want:        unlimited,
			missing:     []string{"memory"},
		},
		{
			name:        "none enabled",
			controllers: "",
			limits:      cgroup.Limits{MemoryMax: 1 << 20, PidsMax: 5, CPUMax: 2},
			want:        unlimited,
			missing:     []string{"memory", "pids", "cpu"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"cgroup.controllers": tt.controllers}
			for k, v := range unlimited {
				files[k] = v
			}
			dir := fakeTree(t, files)
			g, err := cgroup.OpenAny(dir)
			require.NoError(t, err)
			defer g.Close()

			err = g.SetLimits(tt.limits)
			if tt.missing != nil {
				require.ErrorIs(t, err, errors.ErrUnsupported)
				var ce *cgroup.ControllerError
				require.ErrorAs(t, err, &ce)
				assert.Equal(t, tt.missing, ce.Controllers)
			} else {
				require.NoError(t, err)
			}
			for file, want := range tt.want {
				b, err := os.ReadFile(filepath.Join(dir, file))
				require.NoError(t, err)
				assert.Equal(t, want, string(b), file)
			}
		})
	}
}
