package processes

// Activity says what refreshes a session's LastActivity, and so what keeps it
// from being evicted as idle. Flags may be combined with |. The zero value
// means [ActivityOutput].
type Activity uint8

const (
	// ActivityOutput: Append and SetExit, that is, the program's output and
	// its exit. This is what the zero Activity means.
	ActivityOutput Activity = 1 << iota
	// ActivityInput: Write, CloseStdin and Signal, and Resize for terminals:
	// what a user does to the session.
	ActivityInput
	// ActivityPoll: OutputSince, Output and WaitOutput: a client watching.
	ActivityPoll
)

// has reports whether a counts flag f, the zero value counting as output.
func (a Activity) has(f Activity) bool {
	if a == 0 {
		a = ActivityOutput
	}
	return a&f != 0
}
