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

// CollectPage bounds what one read returns, cutting at chunk boundaries, and
// the next read starts from the Seq of the last chunk returned.
func ExampleCollectPage() {
	r := ring.New(1 << 10)
	for _, s := range []string{"a", "b", "c", "d"} {
		r.Append("stdout", []byte(s))
	}
	r.Append("stderr", []byte("oops"))
	r.Append("stdout", []byte("e"))

	page := ring.Page{MaxBytes: 9, Overhead: 2, Merge: true}
	for since, more := 0, true; more; {
		var chunks []chunk
		chunks, more = ring.CollectPage(r, since, page, mk)
		for _, c := range chunks {
			fmt.Printf("%d %s %q\n", c.seq, c.stream, c.data)
		}
		fmt.Println("more:", more)
		since = chunks[len(chunks)-1].seq
	}
	// Output:
	// 4 stdout "abcd"
	// more: true
	// 5 stderr "oops"
	// 6 stdout "e"
	// more: false
}

// AppendReadTo with extend grows the newest chunk while no reader has seen
// it, so that one-byte writes do not make one-byte chunks.
func ExampleRing_AppendReadTo() {
	r := ring.New(1 << 10)
	for _, b := range []byte("hello") {
		_, _ = r.AppendReadTo("stdout", 1, true, func(p []byte) (int, error) {
			p[0] = b
			return 1, nil
		})
	}
	c := ring.Collect(r, 0, mk)
	fmt.Println(len(c), c[0].seq, string(c[0].data))
	// Output:
	// 1 1 hello
}
