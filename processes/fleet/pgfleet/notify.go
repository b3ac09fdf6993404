package pgfleet

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessionkit/sessionkit/processes/fleet"
)

// subBuffer is how many notifications a subscription holds before it
// drops new ones (its receiver's fallback poll finds what was dropped).
const subBuffer = 256

// reconnectDelay is how long a subscription whose connection failed waits
// before it connects again.
const reconnectDelay = time.Second

// subscription LISTENs on a connection of its own (a pooled connection
// cannot be held by a listener): see LISTEN and NOTIFY in the PostgreSQL
// documentation. Its goroutine waits for notifications and is stopped and
// waited for by Close.
type subscription struct {
	ch     chan string
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

func (s *subscription) C() <-chan string { return s.ch }

func (s *subscription) Close() error {
	s.once.Do(func() {
		s.cancel()
		<-s.done
	})
	return nil
}

// Subscribe: see [fleet.Store]. It opens a connection of its own with the
// pool's configuration, LISTENs on the topic's channel (a hash of the
// schema and the topic) and delivers each notification's payload. When
// the connection fails it connects again after a second and delivers ""
// once listening again, so that receivers look at the Store for what they
// missed. It returns the error of the first connection or LISTEN.
func (s *Store) Subscribe(ctx context.Context, topic fleet.Topic) (fleet.Subscription, error) {
	if !storable(string(topic)) {
		return nil, fmt.Errorf("pgfleet: subscribe %q: %w", topic, errBadText)
	}
	conn, err := s.listen(ctx, topic)
	if err != nil {
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.Background())
	sub := &subscription{ch: make(chan string, subBuffer), cancel: cancel, done: make(chan struct{})}
	go s.loop(lctx, conn, topic, sub)
	return sub, nil
}

// listen connects and LISTENs on topic's channel.
func (s *Store) listen(ctx context.Context, topic fleet.Topic) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, wrap("subscribe", err)
	}
	var channel string
	if err := conn.QueryRow(ctx, "SELECT "+channelSQL(1), string(topic)).Scan(&channel); err != nil {
		conn.Close(context.Background())
		return nil, wrap("subscribe", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		conn.Close(context.Background())
		return nil, wrap("subscribe", err)
	}
	return conn, nil
}

func (s *Store) loop(ctx context.Context, conn *pgx.Conn, topic fleet.Topic, sub *subscription) {
	defer close(sub.done)
	defer close(sub.ch)
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	for {
		if conn == nil {
			t := time.NewTimer(reconnectDelay)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			c, err := s.listen(ctx, topic)
			if err != nil {
				continue
			}
			conn = c
			deliver(sub.ch, "")
		}
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			conn.Close(context.Background())
			conn = nil
			if errors.Is(err, context.Canceled) {
				return
			}
			continue
		}
		deliver(sub.ch, n.Payload)
	}
}

// deliver passes a payload on without blocking.
func deliver(ch chan string, payload string) {
	select {
	case ch <- payload:
	default:
	}
}
