//go:build race

package httpapi_test

// raceEnabled reports a build with the race detector, whose goroutine
// stacks are larger: memory figures are checked without it.
const raceEnabled = true
