package activity_test

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/sessionkit/sessionkit/activity"
)

func TestStatus(t *testing.T) {
	const timeout = 10 * time.Minute
	const grace = 5 * time.Minute
	sess := func(state string, idleTimeout time.Duration, created time.Time, last *time.Time) activity.Session {
		return activity.Session{State: state, IdleTimeout: idleTimeout, CreatedAt: created, LastActivity: last}
	}
	run := activity.StateRunning
	tests := []struct {
		name         string
		s            activity.Session
		grace        time.Duration
		now          time.Time
		wantIdle     bool
		wantDuration time.Duration
		wantHibern   bool
	}{
		{"just active", sess(run, timeout, epoch, ptr(at(time.Hour))), grace, at(time.Hour), false, 0, false},
		{"exactly IdleTimeout is active", sess(run, timeout, epoch, ptr(epoch)), grace, at(timeout), false, timeout, false},
		{"1ns past IdleTimeout is idle", sess(run, timeout, epoch, ptr(epoch)), grace, at(timeout + 1), true, timeout + 1, false},
		{"exactly IdleTimeout+grace is not due", sess(run, timeout, epoch, ptr(epoch)), grace, at(timeout + grace), true, timeout + grace, false},
		{"1ns past IdleTimeout+grace is due", sess(run, timeout, epoch, ptr(epoch)), grace, at(timeout + grace + 1), true, timeout + grace + 1, true},
		{"zero IdleTimeout never idle", sess(run, 0, epoch, ptr(epoch)), grace, at(1000 * time.Hour), false, 1000 * time.Hour, false},
		{"negative IdleTimeout never idle", sess(run, -time.Second, epoch, ptr(epoch)), grace, at(1000 * time.Hour), false, 1000 * time.Hour, false},
		{"future LastActivity counts as now", sess(run, timeout, epoch, ptr(at(time.Hour))), grace, at(30 * time.Minute), false, 0, false},
		{"future CreatedAt counts as now", sess(run, timeout, at(time.Hour), nil), grace, at(30 * time.Minute), false, 0, false},
		{"nil LastActivity measured from CreatedAt", sess(run, timeout, at(time.Hour), nil), grace, at(time.Hour + timeout + grace + 1), true, timeout + grace + 1, true},
		{"nil LastActivity exactly IdleTimeout after CreatedAt", sess(run, timeout, at(time.Hour), nil), grace, at(time.Hour + timeout), false, timeout, false},
		{"LastActivity wins over CreatedAt", sess(run, timeout, epoch, ptr(at(time.Hour))), grace, at(time.Hour + timeout), false, timeout, false},
		{"hibernated never due", sess(activity.StateHibernated, timeout, epoch, nil), grace, at(time.Hour), true, time.Hour, false},
		{"other state never due", sess("stopped", timeout, epoch, nil), grace, at(time.Hour), true, time.Hour, false},
		{"empty state never due", sess("", timeout, epoch, nil), grace, at(time.Hour), true, time.Hour, false},
		{"zero grace due 1ns past IdleTimeout", sess(run, timeout, epoch, nil), 0, at(timeout + 1), true, timeout + 1, true},
		{"negative grace counts as zero: due", sess(run, timeout, epoch, nil), -time.Hour, at(timeout + 1), true, timeout + 1, true},
		{"negative grace counts as zero: at IdleTimeout", sess(run, timeout, epoch, nil), -time.Hour, at(timeout), false, timeout, false},
		{"huge grace does not overflow", sess(run, timeout, epoch, nil), math.MaxInt64, at(time.Hour), true, time.Hour, false},
		{"huge IdleTimeout does not overflow", sess(run, math.MaxInt64, epoch, nil), grace, at(time.Hour), false, time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := activity.Status(tt.s, tt.grace, tt.now)
			assert.Equal(t, tt.wantIdle, got.IsIdle, "IsIdle: got %v, want %v", got.IsIdle, tt.wantIdle)
			assert.Equal(t, !tt.wantIdle, got.IsActive, "IsActive: got %v, want %v", got.IsActive, !tt.wantIdle)
			assert.Equal(t, tt.wantDuration, got.IdleDuration, "IdleDuration: got %v, want %v", got.IdleDuration, tt.wantDuration)
			assert.Equal(t, tt.wantHibern, got.ShouldHibernate, "ShouldHibernate: got %v, want %v", got.ShouldHibernate, tt.wantHibern)
			assert.Equal(t, tt.s.IdleTimeout, got.IdleThreshold, "IdleThreshold: got %v, want %v", got.IdleThreshold, tt.s.IdleTimeout)
			assert.Same(t, tt.s.LastActivity, got.LastActivity, "LastActivity: got %p, want the recorded pointer %p", got.LastActivity, tt.s.LastActivity)
		})
	}
}

func TestStatusNilLastActivityStaysNil(t *testing.T) {
	s := activity.Session{State: activity.StateRunning, IdleTimeout: time.Minute, CreatedAt: epoch}
	got := activity.Status(s, 0, at(time.Hour))
	assert.Nil(t, got.LastActivity, "got LastActivity %v, want nil (not CreatedAt)", got.LastActivity)
	assert.True(t, got.ShouldHibernate, "got ShouldHibernate false for an untouched session idle for an hour since creation, want true")
}
