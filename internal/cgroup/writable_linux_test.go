package cgroup_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/cgroup"
)

func TestWritable(t *testing.T) {
	g := cgroup.NewTestGroup(t)
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))

	tests := []struct {
		name string
		dir  string
		want bool
	}{
		{"a fresh group", g.Path(), true},
		{"a plain directory", tmp, false},
		{"a file", file, false},
		{"a missing directory", filepath.Join(g.Path(), "missing"), false},
		{"an interface file", filepath.Join(g.Path(), "cgroup.procs"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, cgroup.Writable(tt.dir))
		})
	}
	ents, err := os.ReadDir(g.Path())
	require.NoError(t, err)
	for _, e := range ents {
		assert.False(t, e.IsDir(), "probe %s left behind", e.Name())
	}
	ents, err = os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Len(t, ents, 1, "nothing created in the plain directory")
}
