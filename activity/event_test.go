package activity_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/sessionkit/sessionkit/activity"
)

func TestPublisherFunc(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		ret     error
		wantErr error
	}{
		{"success", nil, nil},
		{"error passed through", boom, boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got activity.Event
			var p activity.Publisher = activity.PublisherFunc(func(_ context.Context, e activity.Event) error {
				got = e
				return tt.ret
			})
			want := activity.Event{Type: activity.EventHibernated, Namespace: "ns", Name: "a"}
			err := p.Publish(t.Context(), want)
			assert.ErrorIs(t, err, tt.wantErr, "got %v, want %v", err, tt.wantErr)
			assert.Equal(t, want, got, "got event %+v, want %+v", got, want)
		})
	}
}
