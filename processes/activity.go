package processes

// Activity says what refreshes a session's LastActivity, and so what keeps it
// from being evicted as idle. Flags may be combined with |. The zero value
// means ActivityOutput|ActivityConnected.
type Activity uint8

const (
	// ActivityOutput: Append, that is, the program's output. The exit
	// counts as activity under every policy, so that a session stays one
	// more idle window for final polls.
	ActivityOutput Activity = 1 << iota
	// ActivityInput: Write, WriteContext, CloseStdin, Signal and Terminate,
	// and Resize for terminals: what a user does to the session.
	ActivityInput
	// ActivityPoll: OutputSince, Output, Page and WaitOutput: a client
	// watching.
	ActivityPoll
	// ActivityConnected: a connected client, that is, an open Session.Hold,
	// which a long poll in WaitOutput takes and package httpapi takes for
	// each event stream: the session is active for as long as one is open,
	// and the last one's release counts as activity, unless the Manager
	// culls connected sessions (WithCullConnected). Terminals leave it out:
	// they idle by what their user types, viewers or not.
	ActivityConnected
	// ActivityCPU: CPU time used by the session's process tree, read at
	// each sweep that would evict it: at least the Manager's CPU threshold
	// (WithCPUThreshold, 10 ms by default) since the previous sweep counts
	// as activity at that sweep, so that a silent compile or download is
	// not evicted as idle. The CPU time is the cgroup's cpu.stat where the
	// session has one, else the /proc walk's (see Usage).
	ActivityCPU
)

// has reports whether a counts flag f, the zero value counting as output
// and connected clients.
func (a Activity) has(f Activity) bool {
	if a == 0 {
		a = ActivityOutput | ActivityConnected
	}
	return a&f != 0
}
