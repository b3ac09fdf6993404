package processes_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
)

// waitErr runs s.WaitOutput in a goroutine and returns its result channel.
func waitErr(ctx context.Context, s *processes.Session, since int) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- s.WaitOutput(ctx, since) }()
	return ch
}

func TestZeroValueSessionWorks(t *testing.T) {
	s := &processes.Session{ID: "a", WorkspaceID: "w"}
	assert.True(t, s.LastActivity().IsZero(), "fresh session has activity")
	chunks, exit, alive := s.OutputSince(0)
	assert.Empty(t, chunks)
	assert.Nil(t, exit)
	assert.True(t, alive)
	assert.Zero(t, s.LostBytes())

	before := time.Now()
	s.Append("stdout", []byte("hi"))
	assert.False(t, s.LastActivity().Before(before), "Append did not stamp LastActivity with the real clock")
	s.SetExit(3)
	chunks, exit, alive = s.OutputSince(-5)
	require.Len(t, chunks, 1)
	assert.Equal(t, processes.Chunk{Stream: "stdout", Data: []byte("hi"), Seq: 1}, chunks[0])
	require.NotNil(t, exit)
	assert.Equal(t, 3, *exit)
	assert.False(t, alive)
	assert.NoError(t, s.WaitOutput(t.Context(), 1), "WaitOutput after exit")
	proctest.Recv(t, s.Done())
}

func TestAppendSeqAndCopy(t *testing.T) {
	s := &processes.Session{}
	buf := []byte("one")
	s.Append("stdout", buf)
	copy(buf, "XXX")
	s.Append("stderr", []byte("two"))
	s.Append("stdout", nil)
	s.Append("stdout", []byte{})
	s.Append("stdout", []byte("three"))

	chunks, _, _ := s.OutputSince(0)
	want := []processes.Chunk{
		{Stream: "stdout", Data: []byte("one"), Seq: 1},
		{Stream: "stderr", Data: []byte("two"), Seq: 2},
		{Stream: "stdout", Data: []byte("three"), Seq: 3},
	}
	assert.Equal(t, want, chunks)

	// What OutputSince returns is the caller's: changing it changes nothing.
	chunks[0].Data[0] = 'Z'
	chunks, _, _ = s.OutputSince(0)
	assert.Equal(t, "one", string(chunks[0].Data))
}

func TestOutputSinceCursors(t *testing.T) {
	s := &processes.Session{}
	for _, d := range []string{"a", "b", "c"} {
		s.Append("stdout", []byte(d))
	}
	tests := []struct {
		name  string
		since int
		want  []int
	}{
		{"negative counts as zero", -1, []int{1, 2, 3}},
		{"zero", 0, []int{1, 2, 3}},
		{"middle", 1, []int{2, 3}},
		{"newest", 3, nil},
		{"beyond newest", 100, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chunks, _, _ := s.OutputSince(tt.since)
			var got []int
			for _, c := range chunks {
				got = append(got, c.Seq)
			}
			assert.Equal(t, tt.want, got, "since %d", tt.since)
		})
	}
}

func TestRingCapExactAccounting(t *testing.T) {
	const cap = processes.MaxBufferBytes
	tests := []struct {
		name      string
		appends   []int
		wantLost  int
		wantFirst int // Seq of the oldest retained chunk
		wantHead  int // its retained length
	}{
		{"under cap", []int{100, 200}, 0, 1, 100},
		{"exactly cap", []int{cap / 2, cap / 2}, 0, 1, cap / 2},
		{"one byte over cuts the head", []int{cap / 2, cap / 2, 1}, 1, 1, cap/2 - 1},
		{"drops whole chunks", []int{10, 20, cap}, 30, 3, cap},
		{"single append over cap keeps its tail", []int{5, cap + 7}, 12, 2, cap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &processes.Session{}
			var all []byte
			for i, n := range tt.appends {
				d := bytes.Repeat([]byte{byte('a' + i)}, n)
				all = append(all, d...)
				s.Append("stdout", d)
			}
			assert.Equal(t, tt.wantLost, s.LostBytes(), "lost")
			chunks, _, _ := s.OutputSince(0)
			require.NotEmpty(t, chunks)
			assert.Equal(t, tt.wantFirst, chunks[0].Seq, "oldest retained seq")
			assert.Len(t, chunks[0].Data, tt.wantHead, "oldest retained length")
			var got []byte
			for _, c := range chunks {
				got = append(got, c.Data...)
			}
			want := all[len(all)-min(len(all), cap):]
			assert.True(t, bytes.Equal(want, got), "retained bytes are not the last min(appended, cap) bytes")
			assert.Equal(t, len(all), len(got)+s.LostBytes(), "retained + lost != appended")
		})
	}
}

func TestOutputMissed(t *testing.T) {
	s := &processes.Session{}
	big := make([]byte, processes.MaxBufferBytes/2)
	s.Append("stdout", []byte("0123456789")) // seq 1
	s.Append("stdout", big)                  // seq 2
	s.Append("stdout", big)                  // seq 3: seq 1 is dropped
	s.Append("stdout", []byte("abc"))        // seq 4: seq 2 is cut by 3

	tests := []struct {
		name       string
		since      int
		wantMissed int
		wantChunks int
	}{
		{"from the start", 0, 13, 3},
		{"after the dropped chunk", 1, 3, 3},
		{"after the cut chunk", 2, 0, 2},
		{"up to date", 4, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := s.Output(tt.since)
			assert.Equal(t, 13, out.LostBytes)
			assert.Equal(t, tt.wantMissed, out.Missed, "missed")
			assert.Len(t, out.Chunks, tt.wantChunks)
			assert.True(t, out.Alive)
			assert.Nil(t, out.Exit)
		})
	}
}

func TestSetExitFirstWinsAndRefreshesActivity(t *testing.T) {
	c := clock.NewMock()
	m := processes.NewManager(time.Minute, processes.WithClock(c))
	s := &processes.Session{ID: "x"}
	m.Register(s)
	c.Add(30 * time.Second)
	s.SetExit(0)
	s.SetExit(1)
	assert.Equal(t, c.Now(), s.LastActivity(), "SetExit did not refresh LastActivity")
	out := s.Output(0)
	require.NotNil(t, out.Exit)
	assert.Equal(t, 0, *out.Exit, "got exit %d, want the first SetExit's 0", *out.Exit)
	assert.False(t, out.Alive)
	*out.Exit = 42 // the caller's copy
	assert.Equal(t, 0, *s.Output(0).Exit)

	// The exited session lives one more idle window for final polls.
	c.Add(time.Minute)
	m.Sweep()
	_, ok := m.Get("x")
	assert.True(t, ok, "exited session evicted before a full idle window after its exit")
	c.Add(time.Nanosecond)
	m.Sweep()
	_, ok = m.Get("x")
	assert.False(t, ok, "exited session kept past the idle window")
}

func TestWaitOutputWakes(t *testing.T) {
	tests := []struct {
		name    string
		act     func(m *processes.Manager, s *processes.Session, cancel context.CancelFunc)
		wantErr error
	}{
		{"append", func(_ *processes.Manager, s *processes.Session, _ context.CancelFunc) {
			s.Append("stdout", []byte("x"))
		}, nil},
		{"exit", func(_ *processes.Manager, s *processes.Session, _ context.CancelFunc) { s.SetExit(0) }, nil},
		{"forget", func(m *processes.Manager, s *processes.Session, _ context.CancelFunc) { m.Forget(s.ID) }, processes.ErrClosed},
		{"context", func(_ *processes.Manager, _ *processes.Session, cancel context.CancelFunc) { cancel() }, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := processes.NewManager(0, processes.WithClock(clock.NewMock()))
			s := &processes.Session{ID: "s"}
			m.Register(s)
			s.Append("stdout", []byte("old"))
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			const waiters = 3
			var chans []<-chan error
			for range waiters {
				chans = append(chans, waitErr(ctx, s, 1))
			}
			for _, ch := range chans {
				select {
				case err := <-ch:
					t.Fatalf("WaitOutput returned %v before anything happened", err)
				default:
				}
			}
			tt.act(m, s, cancel)
			for _, ch := range chans {
				err := proctest.Recv(t, ch)
				if tt.wantErr == nil {
					assert.NoError(t, err)
				} else {
					assert.ErrorIs(t, err, tt.wantErr)
				}
			}
		})
	}
}

func TestWaitOutputReturnsAtOnceWhenOutputIsThere(t *testing.T) {
	s := &processes.Session{}
	s.Append("stdout", []byte("x"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	assert.NoError(t, s.WaitOutput(ctx, -3), "negative cursor with output there")
	assert.NoError(t, s.WaitOutput(ctx, 0))
	assert.ErrorIs(t, s.WaitOutput(ctx, 1), context.Canceled)
	assert.ErrorIs(t, s.WaitOutput(ctx, 99), context.Canceled, "cursor beyond the newest seq")
}

func TestDoneForSessionWithoutProcess(t *testing.T) {
	m := processes.NewManager(0)
	a, b := &processes.Session{ID: "a"}, &processes.Session{ID: "b"}
	m.Register(a)
	m.Register(b)
	da := a.Done()
	select {
	case <-da:
		t.Fatal("Done closed while registered")
	default:
	}
	m.Forget("a")
	proctest.Recv(t, da)
	b.SetExit(0)
	proctest.Recv(t, b.Done())
	assert.True(t, a.Closed())
	assert.False(t, b.Closed())
}

func TestAppendAfterCloseIsKept(t *testing.T) {
	m := processes.NewManager(0)
	s := &processes.Session{ID: "a"}
	m.Register(s)
	m.Forget("a")
	s.Append("stdout", []byte("late"))
	chunks, _, _ := s.OutputSince(0)
	require.Len(t, chunks, 1, "output that arrives while a closed session's process ends is still readable")
	assert.True(t, errors.Is(s.WaitOutput(t.Context(), 1), processes.ErrClosed))
}
