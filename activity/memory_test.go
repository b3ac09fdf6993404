package activity_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/activity"
)

func TestMemoryStoreUpdate(t *testing.T) {
	tests := []struct {
		name        string
		existing    bool
		version     int64
		wantErr     error
		wantVersion int64
	}{
		{"create absent with version 0", false, 0, nil, 1},
		{"absent with version 1 is not found", false, 1, activity.ErrNotFound, 0},
		{"update with current version", true, 1, nil, 2},
		{"update with stale version conflicts", true, 5, activity.ErrConflict, 0},
		{"create over existing conflicts", true, 0, activity.ErrConflict, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := activity.NewMemoryStore()
			if tt.existing {
				create(t, st, running("ns", "a", time.Minute))
			}
			s := running("ns", "a", time.Hour)
			s.Version = tt.version
			got, err := st.Update(t.Context(), s)
			assert.ErrorIs(t, err, tt.wantErr, "got error %v, want %v", err, tt.wantErr)
			assert.Equal(t, tt.wantVersion, got.Version, "got Version %d, want %d", got.Version, tt.wantVersion)

			stored, err := st.Get(t.Context(), "ns", "a")
			if tt.wantErr == nil {
				require.NoError(t, err)
				assert.Equal(t, got, stored, "got stored %+v, want what Update returned %+v", stored, got)
				assert.Equal(t, time.Hour, stored.IdleTimeout, "got IdleTimeout %v, want the updated 1h", stored.IdleTimeout)
			} else if tt.existing {
				require.NoError(t, err)
				assert.Equal(t, time.Minute, stored.IdleTimeout, "got IdleTimeout %v after a failed Update, want the original 1m", stored.IdleTimeout)
				assert.Equal(t, int64(1), stored.Version, "got Version %d after a failed Update, want 1", stored.Version)
			} else {
				assert.ErrorIs(t, err, activity.ErrNotFound, "got %v, want ErrNotFound after a failed create", err)
			}
		})
	}
}

func TestMemoryStoreGetUnknown(t *testing.T) {
	st := activity.NewMemoryStore()
	create(t, st, running("ns", "a", time.Minute))
	tests := []struct{ name, namespace, session string }{
		{"unknown name", "ns", "b"},
		{"unknown namespace", "other", "a"},
		{"empty namespace", "", "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := st.Get(t.Context(), tt.namespace, tt.session)
			assert.ErrorIs(t, err, activity.ErrNotFound, "got %v, want ErrNotFound", err)
		})
	}
}

func TestMemoryStoreListIsSortedAndExact(t *testing.T) {
	st := activity.NewMemoryStore()
	for _, n := range []string{"c", "a", "b"} {
		create(t, st, running("ns", n, time.Minute))
	}
	create(t, st, running("ns2", "x", time.Minute))
	create(t, st, running("", "y", time.Minute))

	tests := []struct {
		name      string
		namespace string
		want      []string
	}{
		{"sorted by name", "ns", []string{"a", "b", "c"}},
		{"other namespace", "ns2", []string{"x"}},
		{"empty namespace is exact", "", []string{"y"}},
		{"unknown namespace", "nope", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := st.List(t.Context(), tt.namespace)
			require.NoError(t, err)
			var gotNames []string
			for _, s := range got {
				gotNames = append(gotNames, s.Name)
				assert.Equal(t, tt.namespace, s.Namespace, "got namespace %q in List(%q)", s.Namespace, tt.namespace)
			}
			assert.Equal(t, tt.want, gotNames, "got %v, want %v", gotNames, tt.want)
		})
	}
}

func TestMemoryStoreReturnsCopies(t *testing.T) {
	want := at(time.Minute)
	tests := []struct {
		name   string
		mutate func(t *testing.T, st *activity.MemoryStore)
	}{
		{"pointee of the session passed to Update", func(t *testing.T, st *activity.MemoryStore) {
			s := running("ns", "a", time.Minute)
			s.LastActivity = ptr(want)
			create(t, st, s)
			*s.LastActivity = at(time.Hour)
		}},
		{"pointee of the session Update returned", func(t *testing.T, st *activity.MemoryStore) {
			s := running("ns", "a", time.Minute)
			s.LastActivity = ptr(want)
			got := create(t, st, s)
			*got.LastActivity = at(time.Hour)
		}},
		{"pointee and fields of the session Get returned", func(t *testing.T, st *activity.MemoryStore) {
			s := running("ns", "a", time.Minute)
			s.LastActivity = ptr(want)
			create(t, st, s)
			got, err := st.Get(t.Context(), "ns", "a")
			require.NoError(t, err)
			*got.LastActivity = at(time.Hour)
			got.State = "changed"
		}},
		{"pointee and fields of the sessions List returned", func(t *testing.T, st *activity.MemoryStore) {
			s := running("ns", "a", time.Minute)
			s.LastActivity = ptr(want)
			create(t, st, s)
			got, err := st.List(t.Context(), "ns")
			require.NoError(t, err)
			require.Len(t, got, 1)
			*got[0].LastActivity = at(time.Hour)
			got[0].State = "changed"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := activity.NewMemoryStore()
			tt.mutate(t, st)
			got, err := st.Get(t.Context(), "ns", "a")
			require.NoError(t, err)
			require.NotNil(t, got.LastActivity)
			assert.Equal(t, want, *got.LastActivity, "got stored LastActivity %v, want %v", *got.LastActivity, want)
			assert.Equal(t, activity.StateRunning, got.State, "got stored State %q, want %q", got.State, activity.StateRunning)
		})
	}
}

func TestMemoryStoreZeroValueIsUsable(t *testing.T) {
	var st activity.MemoryStore
	_, err := st.Get(t.Context(), "ns", "a")
	assert.ErrorIs(t, err, activity.ErrNotFound, "got %v, want ErrNotFound", err)
	list, err := st.List(t.Context(), "ns")
	require.NoError(t, err)
	assert.Empty(t, list, "got %v, want an empty list", list)
	got := create(t, &st, running("ns", "a", time.Minute))
	assert.Equal(t, int64(1), got.Version, "got Version %d, want 1", got.Version)
}

// TestMemoryStoreCompareAndSetUnderContention has many goroutines increment a
// field with Get/Update retry loops: compare-and-set must lose no increment
// and count every update.
func TestMemoryStoreCompareAndSetUnderContention(t *testing.T) {
	const goroutines, increments = 16, 200
	st := activity.NewMemoryStore()
	create(t, st, running("ns", "counter", 0))

	var wg sync.WaitGroup
	var conflicts atomic.Int64
	for range goroutines {
		wg.Go(func() {
			for range increments {
				for {
					s, err := st.Get(t.Context(), "ns", "counter")
					if !assert.NoError(t, err) {
						return
					}
					s.IdleTimeout++
					_, err = st.Update(t.Context(), s)
					if err == nil {
						break
					}
					if !assert.ErrorIs(t, err, activity.ErrConflict, "got %v, want nil or ErrConflict", err) {
						return
					}
					conflicts.Add(1)
				}
			}
		})
	}
	wg.Wait()

	got, err := st.Get(t.Context(), "ns", "counter")
	require.NoError(t, err)
	const total = goroutines * increments
	assert.Equal(t, time.Duration(total), got.IdleTimeout, "got counter %d, want %d", got.IdleTimeout, total)
	assert.Equal(t, int64(total+1), got.Version, "got Version %d, want %d (creation plus every update)", got.Version, total+1)
	t.Logf("%d conflicts retried", conflicts.Load())
}
