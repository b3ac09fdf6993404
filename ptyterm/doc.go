// Package ptyterm runs interactive programs under a pseudo-terminal, as
// sessions of a processes.Manager: the backend of a web terminal.
//
// A [Terminal] is a processes.Session whose output, one "stdout" stream, is
// polled, long-polled and swept like any other, so the Manager's sweep and
// package httpapi serve terminals unchanged. The program runs as a session
// leader with the terminal as its controlling terminal, at the size asked for
// (24 × 80 by default).
//
// # Idle by user activity
//
// A terminal is idle when its user is gone, not when its program is quiet: a
// build printing for an hour in a tab nobody looks at is idle, and a shell a
// user types into is not. So by default only [Terminal.Write] (keyboard input)
// and [Terminal.Resize] refresh its LastActivity; [Options.CountOutput] makes
// program output count too. After [Options.IdleTimeout] (five minutes by
// default) without activity, the Manager's sweep closes it: at its first
// sweep past that deadline, so up to one sweep interval late
// (processes.WithSweepInterval; Manager.Run's default is a minute for idle
// timeouts of four minutes or more).
// [Options.OnIdleWarning] is called once per idle stretch, [Options.WarnBefore]
// ahead of the deadline, on the Manager's clock, so a client can warn the
// user; new input starts a new stretch. WarnBefore must be shorter than the
// idle timeout, and a terminal whose program has exited does not warn
// (nothing typed can keep it). A viewer that stays connected (an open
// event stream, a long poll) does not keep an idle terminal open: terminals
// count input, not processes.ActivityConnected. A zero IdleTimeout inherits
// DefaultIdleTimeout; a negative one, such as processes.NeverIdle, never
// idles out.
//
// # Reconnecting
//
// A client that goes away (a page reload, a network blip) and comes back
// within the idle window calls [Attach] with the terminal's ID and gets the
// same live Terminal, then replays the buffered output (up to
// processes.MaxBufferBytes) with Session().OutputSince(0) and carries on from
// the last Seq. Attach fails with processes.ErrNotFound once the terminal
// was closed or evicted.
//
// # Lifecycle
//
// [Start] opens the terminal and starts the program. [Terminal.Close],
// eviction and Forget do what a real terminal going away does: SIGHUP, then
// SIGCONT for a suspended job, to every process of the session (its cgroup,
// or its process group and session in the Manager's fallback), SIGKILL
// after the Manager's kill grace, then the terminal is closed and the
// program reaped. Close waits until every process it signalled is gone and
// every OnIdleWarning call on another goroutine has returned. Output
// printed before the program exited is kept, and the exit is visible only
// once that output is in. Session().Signal of SIGINT, SIGQUIT or SIGTSTP
// reaches the terminal's foreground job, as typing ^C, ^\ or ^Z does.
//
// # Cost
//
// The terminal's master side is read through the runtime poller (a
// non-blocking duplicate of the descriptor), so an idle terminal holds no OS
// thread and two goroutines, and closing it interrupts the read. A thousand
// idle terminals run on a handful of threads.
//
// # Platform support
//
// Linux. Elsewhere Start returns an error for which
// errors.Is(err, errors.ErrUnsupported) holds.
//
// # What it does not do
//
// It does not interpret the output (escape sequences pass through as bytes),
// emulate a screen, or put the host's own terminal in raw mode: see
// examples/cli for a program that attaches a Terminal to the user's terminal.
// Nor does it set TERM: the program has cmd's environment, as os/exec gives
// it (the server's own without cmd.Env, where a service often has no TERM),
// so set TERM to what the client emulates, such as TERM=xterm-256color for
// xterm.js, as examples/webterm does.
package ptyterm
