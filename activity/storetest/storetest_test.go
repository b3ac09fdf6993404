package storetest_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/activity"
	"github.com/sessionkit/sessionkit/activity/storetest"
)

// brokenEnv selects, in a re-executed test binary, the broken Store that
// TestBrokenStoreHelper runs the suite against.
const brokenEnv = "STORETEST_BROKEN"

// brokenStores are Stores that each break promises, with the subtests that
// must catch them; "none" breaks nothing and must pass.
var brokenStores = []struct {
	name        string
	store       func() activity.Store
	wantFailing []string
}{
	{"none", func() activity.Store { return activity.NewMemoryStore() }, nil},
	{"no CAS", func() activity.Store { return noCAS{activity.NewMemoryStore()} },
		[]string{"CreateExistingConflicts", "StaleVersionConflicts", "ConcurrentUpdatersLoseNothing", "SameVersionWinsOnce"}},
	{"aliases", func() activity.Store { return &aliasing{m: map[[2]string]activity.Session{}} }, []string{"CopiesNotAliases"}},
	{"ignores ctx", func() activity.Store { return ignoresCtx{activity.NewMemoryStore()} }, []string{"DoneContext"}},
	{"leaky List", func() activity.Store { return leakyList{activity.NewMemoryStore()} }, []string{"ListIsExact"}},
	{"stamps go back", func() activity.Store { return backStamps{activity.NewMemoryStore()} }, []string{"BatchRecorder"}},
	{"absent is zero", func() activity.Store { return absentZero{activity.NewMemoryStore()} }, []string{"GetAbsentIsNotFound"}},
	{"refuses odd text", func() activity.Store { return textOnly{activity.NewMemoryStore()} }, []string{"OddText"}},
	{"wraps times", func() activity.Store { return microseconds{activity.NewMemoryStore()} }, []string{"ExtremeTimes"}},
}

// TestBrokenStoreHelper is not a test of its own: it runs the suite against
// the Store named by STORETEST_BROKEN when TestSuiteCatchesBrokenStores
// re-executes the test binary, and returns at once otherwise.
func TestBrokenStoreHelper(t *testing.T) {
	name := os.Getenv(brokenEnv)
	if name == "" {
		return
	}
	for _, b := range brokenStores {
		if b.name == name {
			storetest.Run(t, func(*testing.T) activity.Store { return b.store() })
			return
		}
	}
	t.Fatalf("no broken store %q", name)
}

// TestSuiteCatchesBrokenStores: the suite fails each Store that breaks a
// promise, in the subtest about that promise, and passes a correct one.
func TestSuiteCatchesBrokenStores(t *testing.T) {
	for _, tt := range brokenStores {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenStoreHelper$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), brokenEnv+"="+tt.name)
			out, err := cmd.CombinedOutput()
			if len(tt.wantFailing) == 0 {
				require.NoError(t, err, "the suite failed a correct Store:\n%s", out)
				assert.Contains(t, string(out), "--- PASS: TestBrokenStoreHelper/TrackersHibernateOnce")
				return
			}
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, "got the suite passing a Store with %s:\n%s", tt.name, out)
			for _, sub := range tt.wantFailing {
				assert.Contains(t, string(out), "--- FAIL: TestBrokenStoreHelper/"+sub+" ", "got %s not caught by %s", tt.name, sub)
			}
		})
	}
}

// noCAS stores whatever it is given over an existing session.
type noCAS struct{ *activity.MemoryStore }

func (s noCAS) Update(ctx context.Context, in activity.Session) (activity.Session, error) {
	if cur, err := s.MemoryStore.Get(ctx, in.Namespace, in.Name); err == nil {
		in.Version = cur.Version
	}
	return s.MemoryStore.Update(ctx, in)
}

// aliasing keeps the LastActivity pointers it is given and hands them out.
type aliasing struct {
	mu sync.Mutex
	m  map[[2]string]activity.Session
}

func (a *aliasing) Get(ctx context.Context, ns, name string) (activity.Session, error) {
	if err := ctx.Err(); err != nil {
		return activity.Session{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.m[[2]string{ns, name}]
	if !ok {
		return activity.Session{}, activity.ErrNotFound
	}
	return s, nil
}

func (a *aliasing) List(ctx context.Context, ns string) ([]activity.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []activity.Session
	for k, s := range a.m {
		if k[0] == ns {
			out = append(out, s)
		}
	}
	return out, nil
}

func (a *aliasing) Update(ctx context.Context, s activity.Session) (activity.Session, error) {
	if err := ctx.Err(); err != nil {
		return activity.Session{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	k := [2]string{s.Namespace, s.Name}
	cur, ok := a.m[k]
	switch {
	case !ok && s.Version != 0:
		return activity.Session{}, activity.ErrNotFound
	case ok && cur.Version != s.Version:
		return activity.Session{}, activity.ErrConflict
	}
	s.Version++
	a.m[k] = s
	return s, nil
}

// ignoresCtx does its work whatever the context.
type ignoresCtx struct{ *activity.MemoryStore }

func (s ignoresCtx) Get(_ context.Context, ns, name string) (activity.Session, error) {
	return s.MemoryStore.Get(context.Background(), ns, name)
}

func (s ignoresCtx) List(_ context.Context, ns string) ([]activity.Session, error) {
	return s.MemoryStore.List(context.Background(), ns)
}

func (s ignoresCtx) Update(_ context.Context, in activity.Session) (activity.Session, error) {
	return s.MemoryStore.Update(context.Background(), in)
}

func (s ignoresCtx) RecordActivity(_ context.Context, stamps []activity.Stamp) error {
	return s.MemoryStore.RecordActivity(context.Background(), stamps)
}

// leakyList lists the namespaces that start with the one asked for.
type leakyList struct{ *activity.MemoryStore }

func (s leakyList) List(ctx context.Context, ns string) ([]activity.Session, error) {
	var out []activity.Session
	for _, other := range []string{ns, ns + "2", ns + "_"} {
		got, err := s.MemoryStore.List(ctx, other)
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

// backStamps records every stamp, older ones too.
type backStamps struct{ *activity.MemoryStore }

func (s backStamps) RecordActivity(ctx context.Context, stamps []activity.Stamp) error {
	for _, st := range stamps {
		for {
			cur, err := s.MemoryStore.Get(ctx, st.Namespace, st.Name)
			if errors.Is(err, activity.ErrNotFound) {
				break
			}
			if err != nil {
				return err
			}
			at := st.At
			cur.LastActivity = &at
			if _, err := s.MemoryStore.Update(ctx, cur); err == nil {
				break
			}
		}
	}
	return nil
}

// absentZero answers Get of an absent session with a zero Session.
type absentZero struct{ *activity.MemoryStore }

func (s absentZero) Get(ctx context.Context, ns, name string) (activity.Session, error) {
	got, err := s.MemoryStore.Get(ctx, ns, name)
	if errors.Is(err, activity.ErrNotFound) {
		return activity.Session{Namespace: ns, Name: name, CreatedAt: time.Time{}}, nil
	}
	return got, err
}

// textOnly fails every call naming text that is not valid UTF-8 or holds a
// NUL byte, as a database's text column does.
type textOnly struct{ *activity.MemoryStore }

var errText = errors.New("invalid byte sequence")

func isText(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			return false
		}
	}
	return true
}

func (s textOnly) Get(ctx context.Context, ns, name string) (activity.Session, error) {
	if !isText(ns, name) {
		return activity.Session{}, errText
	}
	return s.MemoryStore.Get(ctx, ns, name)
}

func (s textOnly) List(ctx context.Context, ns string) ([]activity.Session, error) {
	if !isText(ns) {
		return nil, errText
	}
	return s.MemoryStore.List(ctx, ns)
}

func (s textOnly) Update(ctx context.Context, in activity.Session) (activity.Session, error) {
	if !isText(in.Namespace, in.Name, in.State) {
		return activity.Session{}, errText
	}
	return s.MemoryStore.Update(ctx, in)
}

func (s textOnly) RecordActivity(ctx context.Context, stamps []activity.Stamp) error {
	for _, st := range stamps {
		if !isText(st.Namespace, st.Name) {
			return errText
		}
	}
	return s.MemoryStore.RecordActivity(ctx, stamps)
}

// microseconds keeps times as int64 microseconds since 1970, which wrap
// around far enough out.
type microseconds struct{ *activity.MemoryStore }

func wrapped(t time.Time) time.Time { return time.UnixMicro(t.UnixMicro()).UTC() }

func (s microseconds) Update(ctx context.Context, in activity.Session) (activity.Session, error) {
	in.CreatedAt = wrapped(in.CreatedAt)
	if in.LastActivity != nil {
		t := wrapped(*in.LastActivity)
		in.LastActivity = &t
	}
	return s.MemoryStore.Update(ctx, in)
}

func (s microseconds) RecordActivity(ctx context.Context, stamps []activity.Stamp) error {
	out := make([]activity.Stamp, len(stamps))
	for i, st := range stamps {
		st.At = wrapped(st.At)
		out[i] = st
	}
	return s.MemoryStore.RecordActivity(ctx, out)
}
