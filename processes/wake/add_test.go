//go:build linux

package wake_test

import (
	"context"
	"errors"
	"os/exec"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/wake"
)

func noCommand(context.Context) (*exec.Cmd, error) { return exec.Command("true"), nil }

// TestAddErrors: every spec Add cannot accept is refused with its
// sentinel, and nothing of a refused AddAll is added.
func TestAddErrors(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	_, err := g.Add(wake.Spec{ID: "db", Command: noCommand})
	require.NoError(t, err)
	dep := func(ids ...string) []wake.Dependency {
		var ds []wake.Dependency
		for _, id := range ids {
			ds = append(ds, wake.Dependency{Unit: id})
		}
		return ds
	}
	tests := []struct {
		name  string
		specs []wake.Spec
		want  error
	}{
		{"empty ID", []wake.Spec{{Command: noCommand}}, wake.ErrInvalidSpec},
		{"no command", []wake.Spec{{ID: "x"}}, wake.ErrInvalidSpec},
		{"unknown mode", []wake.Spec{{ID: "x", Command: noCommand, Mode: 9}}, wake.ErrInvalidSpec},
		{"bad upstream", []wake.Spec{{ID: "x", Command: noCommand, Upstream: "localhost"}}, wake.ErrInvalidSpec},
		{"negative wake timeout", []wake.Spec{{ID: "x", Command: noCommand, WakeTimeout: -1}}, wake.ErrInvalidSpec},
		{"negative sleep timeout", []wake.Spec{{ID: "x", Command: noCommand, SleepTimeout: -1}}, wake.ErrInvalidSpec},
		{"TCP probe of no upstream", []wake.Spec{{ID: "x", Command: noCommand, Probe: wake.TCPProbe("")}}, wake.ErrInvalidSpec},
		{"dependency twice", []wake.Spec{{ID: "x", Command: noCommand, DependsOn: dep("db", "db")}}, wake.ErrInvalidSpec},
		{"unknown condition", []wake.Spec{{ID: "x", Command: noCommand, DependsOn: []wake.Dependency{{Unit: "db", Condition: 7}}}}, wake.ErrInvalidSpec},
		{"duplicate of a unit", []wake.Spec{{ID: "db", Command: noCommand}}, wake.ErrDuplicate},
		{"duplicate in the call", []wake.Spec{{ID: "x", Command: noCommand}, {ID: "x", Command: noCommand}}, wake.ErrDuplicate},
		{"unknown dependency", []wake.Spec{{ID: "x", Command: noCommand, DependsOn: dep("nope")}}, wake.ErrUnknownDependency},
		{"self", []wake.Spec{{ID: "x", Command: noCommand, DependsOn: dep("x")}}, wake.ErrCycle},
		{"two", []wake.Spec{
			{ID: "a", Command: noCommand, DependsOn: dep("db", "b")},
			{ID: "b", Command: noCommand, DependsOn: dep("a")},
		}, wake.ErrCycle},
		{"three through an old unit", []wake.Spec{
			{ID: "a", Command: noCommand, DependsOn: dep("c")},
			{ID: "b", Command: noCommand, DependsOn: dep("a", "db")},
			{ID: "c", Command: noCommand, DependsOn: dep("b")},
		}, wake.ErrCycle},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			us, err := g.AddAll(tt.specs...)
			assert.ErrorIs(t, err, tt.want)
			assert.Nil(t, us)
			assert.Len(t, g.Units(), 1, "a refused AddAll added units")
		})
	}

	// A diamond is no cycle.
	_, err = g.AddAll(
		wake.Spec{ID: "web", Command: noCommand, DependsOn: dep("api", "cache")},
		wake.Spec{ID: "api", Command: noCommand, DependsOn: dep("db")},
		wake.Spec{ID: "cache", Command: noCommand, DependsOn: dep("db")},
	)
	require.NoError(t, err)
	u, ok := g.Unit("web")
	require.True(t, ok)
	assert.Equal(t, wake.Asleep, u.State())
}

// TestAddRefusesUnreachableAddresses: an Upstream, TCP probe address or
// HTTP probe URL that no dial or request can reach is refused by Add
// with ErrInvalidSpec, rather than accepted and retried by every wake
// until its WakeTimeout; the forms that can be reached are accepted.
func TestAddRefusesUnreachableAddresses(t *testing.T) {
	m := newManager(t)
	g := newGroup(t, m)
	tests := []struct {
		name     string
		upstream string
		probe    wake.Probe
		ok       bool
	}{
		{"port 0", "127.0.0.1:0", wake.Probe{}, false},
		{"port out of range", "127.0.0.1:99999", wake.Probe{}, false},
		{"path after the port", "127.0.0.1:8080/app", wake.Probe{}, false},
		{"port name", "127.0.0.1:http", wake.Probe{}, false},
		{"space in the port", "127.0.0.1:8080 ", wake.Probe{}, false},
		{"no host", ":8080", wake.Probe{}, false},
		{"space in the host", "local host:8080", wake.Probe{}, false},
		{"user in the host", "me@localhost:8080", wake.Probe{}, false},
		{"TCP probe port name", "127.0.0.1:8080", wake.TCPProbe("127.0.0.1:x"), false},
		{"TCP probe no host", "", wake.TCPProbe(":9000"), false},
		{"HTTP probe relative", "127.0.0.1:8080", wake.HTTPProbe("healthz"), false},
		{"HTTP probe no scheme", "127.0.0.1:8080", wake.HTTPProbe("localhost:8080/healthz"), false},
		{"HTTP probe ftp", "127.0.0.1:8080", wake.HTTPProbe("ftp://localhost/"), false},
		{"HTTP probe no host", "127.0.0.1:8080", wake.HTTPProbe("http:///healthz"), false},
		{"HTTP probe port 0", "", wake.HTTPProbe("http://localhost:0/"), false},
		{"HTTP probe bad URL", "", wake.HTTPProbe("http://[::1/"), false},

		{"IPv4", "127.0.0.1:8080", wake.Probe{}, true},
		{"IPv6", "[::1]:8080", wake.Probe{}, true},
		{"name", "localhost:8080", wake.Probe{}, true},
		{"TCP probe", "", wake.TCPProbe("localhost:9000"), true},
		{"HTTP probe path", "127.0.0.1:8080", wake.HTTPProbe("/healthz"), true},
		{"HTTP probe URL", "", wake.HTTPProbe("http://[::1]:9000/healthz"), true},
		{"HTTP probe https without port", "", wake.HTTPProbe("https://localhost/healthz"), true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "u" + strconv.Itoa(i)
			_, err := g.Add(wake.Spec{ID: id, Command: noCommand, Upstream: tt.upstream, Probe: tt.probe})
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, wake.ErrInvalidSpec)
				_, added := g.Unit(id)
				assert.False(t, added)
			}
		})
	}
}

// TestFreezeNeedsACgroup: without cgroups, ModeFreeze is refused as
// unsupported, and the other modes are accepted.
func TestFreezeNeedsACgroup(t *testing.T) {
	m := newManager(t, processes.WithoutCgroup())
	g := newGroup(t, m)
	_, err := g.Add(wake.Spec{ID: "f", Command: noCommand, Mode: wake.ModeFreeze})
	require.ErrorIs(t, err, errors.ErrUnsupported)
	assert.Contains(t, err.Error(), `"f"`)
	for _, mode := range []wake.Mode{wake.ModePause, wake.ModeStop} {
		_, err := g.Add(wake.Spec{ID: mode.String(), Command: noCommand, Mode: mode})
		assert.NoError(t, err, mode.String())
	}
}

// TestAfterShutdown: Add and Wake say the group is shut down.
func TestAfterShutdown(t *testing.T) {
	m := newManager(t)
	g := wake.NewGroup(m)
	u, err := g.Add(wake.Spec{ID: "x", Command: noCommand})
	require.NoError(t, err)
	require.NoError(t, g.Shutdown(t.Context()))
	require.NoError(t, g.Shutdown(t.Context()), "twice")
	_, err = g.Add(wake.Spec{ID: "y", Command: noCommand})
	assert.ErrorIs(t, err, wake.ErrClosed)
	assert.ErrorIs(t, u.Wake(t.Context()), wake.ErrClosed)
	assert.ErrorIs(t, u.Sleep(t.Context()), wake.ErrClosed)
	_, err = u.Subscribe().Next(t.Context())
	assert.ErrorIs(t, err, wake.ErrClosed)
}
