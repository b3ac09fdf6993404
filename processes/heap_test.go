package processes_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/sessionkit/sessionkit/processes"
)

// heapPerSession registers n sessions that each printed size bytes and
// returns the heap they hold per session.
func heapPerSession(n, size int) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m := processes.NewManager(0)
	data := make([]byte, size)
	for i := range n {
		s := &processes.Session{ID: fmt.Sprint("s", i)}
		s.Append("stdout", data)
		m.Register(s)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(m)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

func TestHeapPerSession(t *testing.T) {
	tests := []struct {
		name    string
		printed int
		atMost  float64
	}{
		{"idle, no output", 0, 4 << 10},
		{"printed 100 bytes", 100, 4 << 10},
		{"printed 10 KiB", 10 << 10, 24 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := heapPerSession(2000, tt.printed)
			t.Logf("%.0f bytes of heap per session", got)
			assert.LessOrEqual(t, got, tt.atMost, "got %.0f bytes per session, want at most %.0f", got, tt.atMost)
		})
	}
}
