// Package sweep runs a function periodically on an injectable clock.
//
// It is the one periodic loop of sessionkit: the idle sweep of a
// processes.Manager and the idle monitor of an activity.Tracker both use it, so
// that tests can drive them with a mock clock from github.com/benbjohnson/clock
// and production code with the real one.
//
// # Lifecycle
//
// [Start] launches one goroutine that calls the function once per interval,
// the first call one interval after Start. [Sweeper.Stop] stops the loop and
// waits for a call that is in progress to return; once it returns no goroutine
// of the Sweeper is left.
//
// # Coalescing
//
// Ticks that arrive while the function runs are coalesced: a slow function is
// called again at most once for all the ticks it missed, never once per tick,
// so a backlog cannot build up.
//
// # What it does not do
//
// It does not run calls concurrently, retry, or recover panics: a panic in the
// function crashes the program as in any other goroutine.
package sweep
