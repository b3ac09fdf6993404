// Package wake runs programs that sleep when idle and wake on demand: the
// scale-to-zero dev server, the preview environment that sleeps between
// visits, the language server that wakes when an editor connects. It is
// the idle watcher of godoxy and Sablier (daemons for containers) as a
// library for process sessions of a [processes.Manager].
//
// A [Group] holds [Unit]s, each described by a [Spec]: a Command started
// on demand, the Upstream address it serves on, a readiness [Probe], a
// sleep [Mode], an idle timeout, a wake timeout and dependencies. A unit
// wakes when [Unit.Wake] is called, which the fronts do for every
// request: [Unit.Handler] and [Group.Handler] (http.Handlers on
// httputil.ReverseProxy) and [Unit.Serve] (raw TCP). It sleeps when the
// group's idle sweep finds it without holds and idle for longer than its
// timeout.
//
// # Lifecycle
//
// A unit starts [Asleep], with no process. A wake moves it to [Waking]:
// its dependencies are held and woken first, in parallel (each until
// ready, or only started, per [Dependency].Condition); then its process
// is thawed (ModeFreeze), continued (ModePause) or started from the
// Command (ModeStop, and the first wake of any mode), and, after a
// start, probed until ready. Then it is [Ready], or [Failed] with the
// error, after which the next wake retries. A unit is never ready on
// the strength of another program: a cold start fails with
// [ErrAddrInUse] if something already accepts connections at the
// unit's Upstream or its probe's address, where the probe could not tell
// the two apart, and with [ErrExitedBeforeReady] (its exit status and
// the end of its output) if the process exited before the probe passed
// or by the time it did. The check is not atomic: a program that begins
// to listen there between the check and the start goes unnoticed unless
// the unit's process exits before its probe passes. A ready unit with no hold
// whose last activity is older than its idle timeout (now − last >
// IdleTimeout, strictly, on the Manager's clock) goes [Sleeping] and then
// Asleep: frozen (cgroup.freeze), stopped (SIGSTOP to every thread of
// the tree) or terminated (ModeStop, or a tree that did not stop within
// its [Spec].SleepTimeout), and its dependencies' holds are released, so
// that they may sleep in turn one idle timeout later. A process that
// exits while ready leaves the unit Asleep, once whatever it left
// running (a child still serving on its port) is terminated, and the
// next request starts it again: a request to it, or to a dependent of
// it, which then waits for it. A kept process that exits while its unit
// is asleep (killed by the OOM killer, say) is not reported kept, and the
// next idle sweep ([Group.Sweep]) terminates what is left of its tree and
// removes its session and cgroup. [Group.Shutdown] terminates every
// unit's process.
//
// Wakes are single-flight: the callers of a unit that wakes share one
// attempt, and one that gives up does not cancel it for the others.
// [WithMaxConcurrentWakes] bounds the cold starts in flight across the
// group. [Spec].WakeTimeout bounds a whole attempt.
//
// A request that arrives while the unit is being put to sleep is never
// sent to a frozen or dead upstream: its hold is taken first, so the sweep
// either sees it and leaves the unit awake, or has already begun, and
// then the request waits until the unit is asleep and wakes it again.
//
// # Activity and holds
//
// Activity is what the unit is asked to do, not what its program prints:
// every wake (a Wake that finds the unit ready too), and the beginning
// and end of every hold. Every user request
// through a front and every TCP connection is a hold for its whole
// duration, so a long download, an event stream or a WebSocket keeps the
// unit awake however silent it is (godoxy and Sablier count arrivals
// only): an open terminal or an editor's connection to a language server
// is someone using the unit, even while nothing is typed. A connection of
// which one direction has ended (the upstream's end of file, or the
// client's, passed on as a half-close) holds it only until the other has
// carried nothing for [Spec].HalfCloseTimeout, as HAProxy's "timeout
// client-fin" bounds it: the front then closes it. A peer that vanishes
// without closing is found by TCP keep-alive, which the listeners of
// package net and the TCP front's dial to the upstream turn on by
// default; the fronts set no other bound on a silent connection, which an
// embedder may add around the listener. [Unit.Hold] is the same for an
// embedder's own work. Requests
// that are not the user's ([ProxyOptions].IsUserRequest) neither wake nor
// count. [Unit.Status] tells why the unit last woke (the request, the
// connection, the dependent) and slept (the idle timeout, the exit of
// its process, the shutdown), and [Unit.SleepIn] how long until it
// sleeps.
//
// # Events
//
// Each wake reports its steps as [Event]s: waking dependency, dependency
// ready, starting, woke, waiting for ready, ready, error, and asleep when
// it sleeps again. [Unit.Subscribe] reads the current attempt's history,
// then events as they come. The HTTP front serves them as Server-Sent
// Events to the loading page it shows browsers while the unit wakes,
// which reloads once it is ready; since anyone who reaches the front may
// read that stream, it carries each event's kind and time but not its
// message (command lines, pids, addresses, errors), nor do the front's
// JSON errors carry the text of the error, unless
// [ProxyOptions].EventDetails is set.
//
// # Concurrency
//
// Every method of Group, Unit and the fronts is safe for concurrent use.
// No user callback (Command, a FuncProbe, IsUserRequest) is called with a
// lock held. A unit costs no goroutine while asleep; while ready, one that
// watches for its process's exit. Each wake in flight runs in one
// goroutine of the group (plus one per dependency while they wake), and
// [Group.Shutdown] waits for all of them. The idle sweep puts the units
// due to sleep all at once, one goroutine each while it lasts, and
// Shutdown terminates independent units at once (a dependent before its
// dependencies), so that one slow stop holds back no other; a freeze or
// pause is bounded by [Spec].SleepTimeout, a stop
// by the Manager's kill grace, and every stop still going on when
// Shutdown's ctx ends gets SIGKILL.
//
// # Time
//
// Idleness, Status times and event times read the Manager's clock
// ([processes.Manager.Clock]), so that tests drive sleep with
// clock.NewMock() and [Group.Sweep]. Probe intervals and wake timeouts
// are real durations, so that a wake never waits for a mock clock.
//
// # Platform support
//
// Everything that runs processes needs Linux, as package processes does;
// elsewhere a wake fails with an error for which errors.Is(err,
// errors.ErrUnsupported) holds. ModeFreeze needs the Manager's cgroups
// (cgroup v2 with cgroup.freeze, Linux 5.2): without them [Group.Add]
// refuses it with an ErrUnsupported error rather than degrade. ModePause
// and ModeStop work in the process-group fallback too.
//
// # What it does not do
//
// It does not allocate ports, route by host name (give [Group.Handler] a
// route function), restart a program that crashes while nobody asks for
// it, persist state across restarts of the host process, or wake a unit
// by anything but a request, a connection or a call: there is no
// schedule. It does not terminate TLS; put it behind the server that
// does. It does not close a connection open both ways for its silence
// (see Activity and holds). The loading page is for browsers; API
// clients wait instead. It
// does not check the Host header: a front served on a loopback address
// without credentials belongs behind
// [github.com/sessionkit/sessionkit/loopback.HostGuard], or a page of any
// site rebound by DNS to 127.0.0.1 could wake the unit and read it.
package wake
