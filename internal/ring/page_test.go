package ring_test

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/ring"
)

// appended is one Append of a test ring.
type appended struct {
	stream string
	data   string
}

// fill returns a ring of the given cap holding appends.
func fill(t *testing.T, capacity int, appends []appended) *ring.Ring {
	t.Helper()
	r := ring.New(capacity)
	for _, a := range appends {
		r.Append(a.stream, []byte(a.data))
	}
	return r
}

func TestCollectPage(t *testing.T) {
	three := []appended{{"stdout", "ab"}, {"stdout", "cd"}, {"stderr", "e"}}
	runs := []appended{{"stdout", "ab"}, {"stdout", "cd"}, {"stderr", "e"}, {"stdout", "f"}}
	tests := []struct {
		name     string
		capacity int
		appends  []appended
		since    int
		page     ring.Page
		want     []chunk
		wantMore bool
	}{
		{
			name: "zero page returns every chunk", capacity: 64, appends: three,
			want: []chunk{{"stdout", 1, []byte("ab")}, {"stdout", 2, []byte("cd")}, {"stderr", 3, []byte("e")}},
		},
		{
			name: "bound cuts at a chunk boundary", capacity: 64, appends: three,
			page: ring.Page{MaxBytes: 4},
			want: []chunk{{"stdout", 1, []byte("ab")}, {"stdout", 2, []byte("cd")}}, wantMore: true,
		},
		{
			name: "bound one byte short leaves the chunk", capacity: 64, appends: three,
			page: ring.Page{MaxBytes: 3},
			want: []chunk{{"stdout", 1, []byte("ab")}}, wantMore: true,
		},
		{
			name: "bound exactly met returns all", capacity: 64, appends: three,
			page: ring.Page{MaxBytes: 5},
			want: []chunk{{"stdout", 1, []byte("ab")}, {"stdout", 2, []byte("cd")}, {"stderr", 3, []byte("e")}},
		},
		{
			name: "overhead counts per chunk", capacity: 64, appends: three,
			page: ring.Page{MaxBytes: 7, Overhead: 2},
			want: []chunk{{"stdout", 1, []byte("ab")}}, wantMore: true,
		},
		{
			name: "negative overhead counts as zero", capacity: 64, appends: three,
			page: ring.Page{MaxBytes: 4, Overhead: -5},
			want: []chunk{{"stdout", 1, []byte("ab")}, {"stdout", 2, []byte("cd")}}, wantMore: true,
		},
		{
			name: "negative bound bounds nothing", capacity: 64, appends: three,
			page: ring.Page{MaxBytes: -1, Overhead: 100},
			want: []chunk{{"stdout", 1, []byte("ab")}, {"stdout", 2, []byte("cd")}, {"stderr", 3, []byte("e")}},
		},
		{
			name: "single chunk over the bound comes whole", capacity: 64,
			appends: []appended{{"stdout", "abcdefgh"}, {"stdout", "i"}},
			page:    ring.Page{MaxBytes: 3},
			want:    []chunk{{"stdout", 1, []byte("abcdefgh")}}, wantMore: true,
		},
		{
			name: "overhead alone over the bound still progresses", capacity: 64, appends: three,
			page: ring.Page{MaxBytes: 1, Overhead: 10},
			want: []chunk{{"stdout", 1, []byte("ab")}}, wantMore: true,
		},
		{
			name: "chunk over the bound after the first waits", capacity: 64,
			appends: []appended{{"stdout", "ab"}, {"stdout", "cdefgh"}},
			page:    ring.Page{MaxBytes: 3},
			want:    []chunk{{"stdout", 1, []byte("ab")}}, wantMore: true,
		},
		{
			name: "merge joins runs of one stream", capacity: 64, appends: runs,
			page: ring.Page{Merge: true},
			want: []chunk{{"stdout", 2, []byte("abcd")}, {"stderr", 3, []byte("e")}, {"stdout", 4, []byte("f")}},
		},
		{
			name: "merge stops a run at the bound", capacity: 64,
			appends: []appended{{"stdout", "ab"}, {"stdout", "cd"}, {"stdout", "ef"}},
			page:    ring.Page{MaxBytes: 5, Merge: true},
			want:    []chunk{{"stdout", 2, []byte("abcd")}}, wantMore: true,
		},
		{
			name: "merge counts overhead once per merged chunk", capacity: 64, appends: runs,
			page: ring.Page{MaxBytes: 9, Overhead: 2, Merge: true},
			want: []chunk{{"stdout", 2, []byte("abcd")}, {"stderr", 3, []byte("e")}}, wantMore: true,
		},
		{
			name: "merge stops before a stream change over the bound", capacity: 64, appends: runs,
			page: ring.Page{MaxBytes: 8, Overhead: 2, Merge: true},
			want: []chunk{{"stdout", 2, []byte("abcd")}}, wantMore: true,
		},
		{
			name: "merge returns a single chunk over the bound alone", capacity: 64,
			appends: []appended{{"stdout", "abcdef"}, {"stdout", "g"}},
			page:    ring.Page{MaxBytes: 3, Merge: true},
			want:    []chunk{{"stdout", 1, []byte("abcdef")}}, wantMore: true,
		},
		{
			name: "since inside the retained range", capacity: 64, appends: runs, since: 2,
			page: ring.Page{Merge: true},
			want: []chunk{{"stderr", 3, []byte("e")}, {"stdout", 4, []byte("f")}},
		},
		{
			name: "since in the middle of a run merges the rest", capacity: 64, appends: runs, since: 1,
			page: ring.Page{MaxBytes: 2, Merge: true},
			want: []chunk{{"stdout", 2, []byte("cd")}}, wantMore: true,
		},
		{
			name: "cut-at-front first chunk counts what is retained", capacity: 5,
			appends: []appended{{"stdout", "abc"}, {"stdout", "def"}},
			page:    ring.Page{MaxBytes: 2},
			want:    []chunk{{"stdout", 1, []byte("bc")}}, wantMore: true,
		},
		{
			name: "cut-at-front first chunk merges", capacity: 5,
			appends: []appended{{"stdout", "abc"}, {"stdout", "def"}},
			page:    ring.Page{MaxBytes: 5, Merge: true},
			want:    []chunk{{"stdout", 2, []byte("bcdef")}},
		},
		{
			name: "since before the retained range starts at the oldest", capacity: 4,
			appends: []appended{{"stdout", "ab"}, {"stderr", "cd"}, {"stdout", "ef"}}, since: 1,
			page: ring.Page{MaxBytes: 2},
			want: []chunk{{"stderr", 2, []byte("cd")}}, wantMore: true,
		},
		{
			name: "negative since counts as zero", capacity: 64, appends: three, since: -7,
			page: ring.Page{MaxBytes: 2},
			want: []chunk{{"stdout", 1, []byte("ab")}}, wantMore: true,
		},
		{name: "since at the newest returns nothing", capacity: 64, appends: three, since: 3, page: ring.Page{MaxBytes: 2}},
		{name: "since past the newest returns nothing", capacity: 64, appends: three, since: 9, page: ring.Page{Merge: true}},
		{name: "empty ring returns nothing", capacity: 64, page: ring.Page{MaxBytes: 2, Merge: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fill(t, tt.capacity, tt.appends)
			got, more := ring.CollectPage(r, tt.since, tt.page, mk)
			assert.Equal(t, tt.want, got, "got chunks %q, want %q", got, tt.want)
			assert.Equal(t, tt.wantMore, more, "got more %v, want %v", more, tt.wantMore)
			assert.True(t, tight(got), "chunk data has spare capacity")
		})
	}
}

func TestCollectPageAllocs(t *testing.T) {
	r := ring.New(1 << 12)
	for i := range 1 << 12 {
		stream := "stdout"
		if i%3 == 0 {
			stream = "stderr"
		}
		r.Append(stream, []byte{byte(i)})
	}
	tests := []struct {
		name  string
		since int
		page  ring.Page
		want  float64
	}{
		{"everything", 0, ring.Page{}, 2},
		{"bounded", 0, ring.Page{MaxBytes: 100, Overhead: 3}, 2},
		{"merged", 0, ring.Page{Merge: true}, 2},
		{"merged and bounded", 100, ring.Page{MaxBytes: 100, Overhead: 3, Merge: true}, 2},
		{"one chunk", r.Last() - 1, ring.Page{MaxBytes: 1}, 2},
		{"nothing newer", r.Last(), ring.Page{MaxBytes: 100, Merge: true}, 0},
		{"past the newest", r.Last() + 5, ring.Page{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := testing.AllocsPerRun(20, func() { ring.CollectPage(r, tt.since, tt.page, mk) })
			assert.Equal(t, tt.want, got, "got %v allocations, want %v", got, tt.want)
		})
	}
	t.Run("empty ring", func(t *testing.T) {
		var empty ring.Ring
		got := testing.AllocsPerRun(20, func() { ring.CollectPage(&empty, 0, ring.Page{Merge: true}, mk) })
		assert.Zero(t, got, "got %v allocations, want 0", got)
	})
}

// TestCollectPageAllocatesWhatItReturns checks that a page's memory follows
// its bytes, not the chunks in the ring: from a full ring of one-byte chunks,
// a page bounded to 4 KiB comes as one merged chunk for about 4 KiB.
func TestCollectPageAllocatesWhatItReturns(t *testing.T) {
	var r ring.Ring
	one := []byte{'x'}
	for r.Retained() < r.Cap() {
		r.Append("stdout", one)
	}
	require.Equal(t, ring.DefaultCap, r.Len(), "precondition: one chunk per byte")
	page := ring.Page{MaxBytes: 4 << 10, Overhead: 48, Merge: true}

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, more := ring.CollectPage(&r, 0, page, mk)
	runtime.ReadMemStats(&after)

	require.Len(t, got, 1)
	assert.Len(t, got[0].data, 4<<10-48)
	assert.Equal(t, 4<<10-48, got[0].seq)
	assert.True(t, more)
	allocated := after.TotalAlloc - before.TotalAlloc
	assert.LessOrEqual(t, allocated, uint64(4<<10+256), "got %d bytes allocated for a 4 KiB page", allocated)
}
