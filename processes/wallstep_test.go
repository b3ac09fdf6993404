package processes_test

import (
	"time"
	"unsafe"
)

// timeLayout mirrors the fields of time.Time (Go 1.9 and later): wall holds,
// when its top bit says the reading has a monotonic part, 33 bits of
// seconds since 1885 and 30 bits of nanoseconds; ext is the monotonic
// reading.
type timeLayout struct {
	wall uint64
	ext  int64
	loc  *time.Location
}

var _ [unsafe.Sizeof(time.Time{}) - unsafe.Sizeof(timeLayout{})]struct{}

// wallStep returns t with its wall clock moved by whole seconds of step and
// its monotonic reading unchanged: what time.Now() returns after the
// system clock was stepped. t must have a monotonic reading.
func wallStep(t time.Time, step time.Duration) time.Time {
	const nsecBits = 30
	l := (*timeLayout)(unsafe.Pointer(&t))
	if l.wall>>63 == 0 {
		panic("wallStep: no monotonic reading")
	}
	l.wall = uint64(int64(l.wall) + int64(step/time.Second)<<nsecBits)
	return t
}
