package wake

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os/exec"
	"strconv"
	"time"
)

// Mode says how a unit sleeps. The zero value is [ModeStop].
type Mode uint8

const (
	// ModeStop terminates the unit's process tree when it sleeps (the
	// graceful signal, then SIGKILL after the Manager's kill grace) and
	// starts a fresh one from the spec's Command to wake: it frees the
	// memory, and a wake costs a cold start.
	ModeStop Mode = iota
	// ModeFreeze freezes the unit's cgroup (cgroup.freeze,
	// Documentation/admin-guide/cgroup-v2.rst) when it sleeps and thaws it
	// to wake: every thread of the tree stops at once without being
	// signalled, memory is kept, and a wake takes about a millisecond. It
	// needs the Manager to contain its sessions in cgroups; without, Add
	// refuses it with an error for which errors.Is(err,
	// errors.ErrUnsupported) holds, never downgrading silently.
	ModeFreeze
	// ModePause sends SIGSTOP to every process of the tree when it sleeps,
	// even where a cgroup exists, and waits until every thread is
	// stopped; SIGCONT wakes it. Memory is kept; the processes can tell
	// (their parents see SIGCHLD), as with a ^Z.
	ModePause
)

// String returns "stop", "freeze" or "pause".
func (m Mode) String() string {
	switch m {
	case ModeStop:
		return "stop"
	case ModeFreeze:
		return "freeze"
	case ModePause:
		return "pause"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// Condition says when a dependency is awake enough for its dependent to
// start. The zero value is [WhenReady].
type Condition uint8

const (
	// WhenReady waits until the dependency's probe says it is ready, as
	// docker compose's "service_healthy" does.
	WhenReady Condition = iota
	// WhenStarted waits only until the dependency's process was started or
	// resumed, as compose's "service_started" does.
	WhenStarted
)

// String returns "ready" or "started".
func (c Condition) String() string {
	switch c {
	case WhenReady:
		return "ready"
	case WhenStarted:
		return "started"
	}
	return "Condition(" + strconv.Itoa(int(c)) + ")"
}

// Dependency is one unit that another needs awake.
type Dependency struct {
	// Unit is the ID of the unit depended on.
	Unit string
	// Condition is how awake it must be; the zero value is WhenReady.
	Condition Condition
}

// Spec describes one unit for [Group.Add]. ID and Command are required;
// every other field's zero value is documented.
type Spec struct {
	// ID names the unit in its group, its events and its logs.
	ID string
	// Command returns a fresh, unstarted command for each cold start. The
	// unit starts it with the group's Manager, which owns its stdio (the
	// output is the session's, as probes read it). ctx lives as long as
	// the process started from the command: it ends once that process is
	// stopped (put to sleep by ModeStop, exited, failed to wake, or
	// terminated by Group.Shutdown, gracefully and dependents first), or
	// if the wake ends while Command runs. It may be given to
	// exec.CommandContext, whose SIGKILL then never cuts a graceful stop
	// short.
	Command func(ctx context.Context) (*exec.Cmd, error)
	// Upstream is the host:port the program serves on ("127.0.0.1:8001",
	// "[::1]:8001", "localhost:8001": a host, and a port number from 1 to
	// 65535), where the fronts
	// ([Unit.Handler], [Unit.Serve]) send traffic and where the default
	// probe connects. Empty means the unit serves nothing itself (a
	// dependency such as a database for another unit, a worker). Before
	// each cold start nothing may accept connections there yet, or the
	// wake fails with [ErrAddrInUse]: the fronts would send traffic to
	// that other program.
	Upstream string
	// Probe tells when a started program is ready. The zero Probe is a
	// [TCPProbe] of Upstream, or, with no Upstream, ready once started.
	Probe Probe
	// ProbeInterval is the longest a polling probe (TCP, HTTP, func) waits
	// between two tries; the first waits are shorter (1 ms, doubling). Zero
	// means 10 ms.
	ProbeInterval time.Duration
	// Mode is how the unit sleeps; the zero value is ModeStop.
	Mode Mode
	// IdleTimeout is how long the unit stays awake with no hold and no
	// activity: it sleeps once now − last activity > IdleTimeout,
	// strictly, on the Manager's clock. Zero means the Manager's
	// IdleTimeout; a negative value, or a Manager's zero, never sleeps.
	IdleTimeout time.Duration
	// WakeTimeout bounds a whole wake, dependencies, a wait for a slot of
	// WithMaxConcurrentWakes and the probe included, in real time. Zero
	// means one minute.
	WakeTimeout time.Duration
	// SleepTimeout bounds a freeze or a pause (ModeFreeze, ModePause) when
	// the unit sleeps, in real time: a tree that has not stopped within it
	// (a member in uninterruptible sleep, or traced by a debugger, which
	// SIGSTOP leaves in a tracing stop) is terminated instead, as in
	// ModeStop, and the next wake starts it afresh. A stop (ModeStop, or
	// this fallback) is bounded by the Manager's kill grace instead. Zero
	// means DefaultSleepTimeout; a negative value is invalid.
	SleepTimeout time.Duration
	// HalfCloseTimeout bounds a connection through a front ([Unit.Serve],
	// or one upgraded through [Unit.Handler], a WebSocket say) once one
	// of its directions has ended while the other is still open: the
	// upstream sent its end of file, which the front passed on by
	// half-closing towards the client, or the client did. Once the open
	// direction has carried nothing for HalfCloseTimeout, on the
	// Manager's clock, the front closes the connection both ways, which
	// releases its hold on the unit, as HAProxy's "timeout client-fin"
	// and "timeout server-fin" do; a peer that never closes its side
	// would otherwise keep the unit awake for ever. A connection open
	// both ways is not bounded, however silent (see the package doc).
	// Zero means DefaultHalfCloseTimeout (60 seconds); a negative value
	// sets no bound.
	HalfCloseTimeout time.Duration
	// DependsOn lists the units woken, in parallel, before this one, and
	// held awake for as long as this one is awake.
	DependsOn []Dependency
}

// Defaults of a Spec's zero fields.
const (
	DefaultProbeInterval = 10 * time.Millisecond
	DefaultWakeTimeout   = time.Minute
	DefaultSleepTimeout  = 10 * time.Second
	// DefaultHalfCloseTimeout is 60 seconds, as nginx's default
	// proxy_read_timeout between two reads.
	DefaultHalfCloseTimeout = 60 * time.Second
)

// checkHostPort returns why a is not an address a unit can serve on or
// be probed at: host:port with a host, as a URL's host would be written,
// and a port number from 1 to 65535. A port name or a path would be
// accepted by net.SplitHostPort and fail every dial, so that a wake
// would retry until its WakeTimeout.
func checkHostPort(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %v", a, err)
	}
	if host == "" {
		return fmt.Errorf("%q has no host", a)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("%q: port %q is not a number from 1 to 65535", a, port)
	}
	if u, err := url.Parse("http://" + a); err != nil || u.Host != a {
		return fmt.Errorf("%q: host %q is not a host name or IP address as a URL writes it", a, host)
	}
	return nil
}

// validate checks what a spec can check alone.
func (s *Spec) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: unit %q: %s", ErrInvalidSpec, s.ID, fmt.Sprintf(format, args...))
	}
	switch {
	case s.ID == "":
		return fmt.Errorf("%w: empty ID", ErrInvalidSpec)
	case s.Command == nil:
		return bad("no Command")
	case s.Mode > ModePause:
		return bad("unknown Mode %v", s.Mode)
	case s.ProbeInterval < 0:
		return bad("negative ProbeInterval %v", s.ProbeInterval)
	case s.WakeTimeout < 0:
		return bad("negative WakeTimeout %v", s.WakeTimeout)
	case s.SleepTimeout < 0:
		return bad("negative SleepTimeout %v", s.SleepTimeout)
	}
	if s.Upstream != "" {
		if err := checkHostPort(s.Upstream); err != nil {
			return bad("Upstream: %v", err)
		}
	}
	if err := s.Probe.validate(); err != nil {
		return bad("%v", err)
	}
	if s.Probe.kind == probeTCP && s.Probe.addr == "" && s.Upstream == "" {
		return bad("a TCP probe of Upstream needs an Upstream")
	}
	if s.Probe.kind == probeHTTP && s.Probe.url != "" && s.Probe.url[0] == '/' && s.Upstream == "" {
		return bad("an HTTP probe of a path needs an Upstream")
	}
	seen := map[string]bool{}
	for _, d := range s.DependsOn {
		switch {
		case d.Condition > WhenStarted:
			return bad("dependency %q: unknown Condition %v", d.Unit, d.Condition)
		case seen[d.Unit]:
			return bad("dependency %q listed twice", d.Unit)
		}
		seen[d.Unit] = true
	}
	return nil
}
