package ring_test

import (
	"fmt"

	"github.com/sessionkit/sessionkit/internal/ring"
)

// A ring keeps the newest bytes within its cap, cutting the oldest chunk at
// its front, and counts exactly what it dropped.
func ExampleRing() {
	r := ring.New(8)
	r.Append("stdout", []byte("hello "))
	r.Append("stderr", []byte("world"))

	for _, c := range ring.Collect(r, 0, mk) {
		fmt.Printf("%d %s %q\n", c.seq, c.stream, c.data)
	}
	fmt.Println(r.Appended(), r.Retained(), r.Lost(), r.Missed(0))
	// Output:
	// 1 stdout "lo "
	// 2 stderr "world"
	// 11 8 3 3
}

// AppendRead lets a reader fill the ring's storage directly, so that the
// ring holds the only copy of what was read.
func ExampleRing_AppendRead() {
	r := ring.New(1 << 10)
	n, err := r.AppendRead("stdout", 5, func(p []byte) (int, error) {
		return copy(p, "typed"), nil
	})
	fmt.Println(n, err, string(ring.Collect(r, 0, mk)[0].data))
	// Output:
	// 5 <nil> typed
}
