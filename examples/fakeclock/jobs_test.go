package fakeclock_test

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sessionkit/sessionkit/examples/fakeclock"
	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const idle = 10 * time.Minute

// newJobs returns Jobs on a Manager that reads the mock clock c. The mock
// starts at the Unix epoch and moves only when the test calls c.Add.
func newJobs(t *testing.T) (*fakeclock.Jobs, *processes.Manager, *clock.Mock) {
	t.Helper()
	c := clock.NewMock()
	m := processes.NewManager(idle, processes.WithClock(c))
	return fakeclock.New(m), m, c
}

func TestIdleJobsAreEvicted(t *testing.T) {
	tests := []struct {
		name      string
		quiet     time.Duration // how long the job logs nothing
		wantAlive bool
	}{
		{"active", idle / 2, true},
		{"exactly the idle timeout", idle, true}, // idle means strictly longer
		{"one nanosecond past it", idle + time.Nanosecond, false},
		{"long gone", 24 * time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jobs, m, c := newJobs(t)
			jobs.Log("build", "compiling")

			c.Add(tt.quiet)
			m.Sweep() // what Manager.Run does on each tick, called directly

			_, alive := jobs.Tail("build")
			assert.Equal(t, tt.wantAlive, alive, "got alive %v after %v quiet, want %v", alive, tt.quiet, tt.wantAlive)
		})
	}
}

func TestLoggingKeepsAJobAlive(t *testing.T) {
	jobs, m, c := newJobs(t)
	jobs.Log("build", "compiling")
	jobs.Log("deploy", "waiting for approval")

	c.Add(9 * time.Minute)
	jobs.Log("build", "linking")
	c.Add(2 * time.Minute) // deploy has been quiet for 11 minutes, build for 2
	m.Sweep()

	log, ok := jobs.Tail("build")
	require.True(t, ok, "build was evicted")
	assert.Equal(t, "compiling\nlinking\n", log)
	_, ok = jobs.Tail("deploy")
	assert.False(t, ok, "deploy survived 11 quiet minutes")
}

func TestFinishedJobLivesOneMoreWindow(t *testing.T) {
	jobs, m, c := newJobs(t)
	jobs.Log("test", "ok")
	c.Add(idle) // quiet, but not yet idle
	jobs.Finish("test", 0)

	c.Add(idle)
	m.Sweep()
	_, ok := jobs.Tail("test")
	require.True(t, ok, "a job that just finished was evicted")

	c.Add(time.Nanosecond)
	m.Sweep()
	_, ok = jobs.Tail("test")
	assert.False(t, ok, "a finished job outlived its last window")
}

// The same eviction seen through the HTTP API: the evicted job answers 404.
func TestEvictedJobIsGoneFromTheAPI(t *testing.T) {
	jobs, m, c := newJobs(t)
	srv := httptest.NewServer(httpapi.NewHandler(m, httpapi.Options{}))
	t.Cleanup(srv.Close)
	client := httpapi.NewClient(srv.URL+httpapi.DefaultPrefix, srv.Client())

	jobs.Log("build", "compiling")
	out, err := client.Output(t.Context(), "build", 0, 0)
	require.NoError(t, err)
	require.Len(t, out.Chunks, 1)

	c.Add(idle + time.Second)
	m.Sweep()
	_, err = client.Output(t.Context(), "build", 0, 0)
	assert.ErrorIs(t, err, processes.ErrNotFound)
}

// This is the snippet of the README.
func Example() {
	c := clock.NewMock() // github.com/benbjohnson/clock; starts at the Unix epoch
	m := processes.NewManager(10*time.Minute, processes.WithClock(c))
	jobs := fakeclock.New(m)

	jobs.Log("build", "compiling")
	jobs.Log("deploy", "waiting for approval")
	c.Add(9 * time.Minute)
	jobs.Log("build", "linking")
	c.Add(2 * time.Minute)
	m.Sweep()

	_, buildOK := jobs.Tail("build")   // true: active 2 minutes ago
	_, deployOK := jobs.Tail("deploy") // false: quiet for 11 minutes
	fmt.Println("build:", buildOK, "deploy:", deployOK)
	// Output:
	// build: true deploy: false
}
