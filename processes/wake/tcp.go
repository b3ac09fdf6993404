package wake

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"
)

// Serve accepts connections on ln and splices each to the unit's
// Upstream in both directions, waking the unit first: a connection that
// arrives while it sleeps waits for the wake (its bytes wait in the
// socket), and is closed if the wake fails. Each connection holds the
// unit for its whole life and counts as activity when it opens and
// closes; a half-close is passed on, and once one direction has ended
// that way, the connection is closed when the other has carried nothing
// for the unit's [Spec].HalfCloseTimeout (a peer that never closes its
// side would otherwise hold the unit awake for ever); that direction
// then copies through a buffer of 32 KiB. A connection open both ways is
// never closed for its silence. An Accept that fails for a shortage
// that passes (EMFILE, ENFILE, ENOBUFS, ENOMEM, ECONNABORTED) is retried
// after a wait of 5 ms doubling up to 1 s, as net/http's Server does.
// Serve returns when ctx ends, ctx.Err() then, or when Accept fails
// otherwise, with its error; in both cases it closes ln and every
// connection it accepted, and waits for its goroutines (two per open
// connection) before returning. It returns an error wrapping
// [ErrInvalidSpec] for a unit without an Upstream.
func (u *Unit) Serve(ctx context.Context, ln net.Listener) error {
	if u.spec.Upstream == "" {
		ln.Close()
		return fmt.Errorf("%w: unit %q has no Upstream to serve", ErrInvalidSpec, u.spec.ID)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	track := func(c net.Conn) bool {
		mu.Lock()
		defer mu.Unlock()
		if ctx.Err() != nil {
			c.Close()
			return false
		}
		conns[c] = struct{}{}
		return true
	}
	untrack := func(c net.Conn) {
		mu.Lock()
		delete(conns, c)
		mu.Unlock()
		c.Close()
	}
	stopped := make(chan struct{})
	go func() {
		<-ctx.Done()
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		close(stopped)
	}()
	var err error
	var backoff time.Duration
	for {
		c, aerr := ln.Accept()
		if aerr != nil {
			if !temporary(aerr) || ctx.Err() != nil {
				err = aerr
				break
			}
			// Out of descriptors or buffers for a moment: wait and retry,
			// as net/http's Server does, 5 ms doubling up to 1 s.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
			continue
		}
		backoff = 0
		if !track(c) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer untrack(c)
			u.serveConn(ctx, c, track, untrack)
		}()
	}
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	cancel()
	<-stopped
	wg.Wait()
	return err
}

// temporary reports whether an Accept error is a shortage that passes:
// descriptors (EMFILE, ENFILE), buffers or memory, or a connection
// aborted before it was accepted.
func temporary(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

type closeWriter interface{ CloseWrite() error }

// serveConn wakes the unit for c, dials the upstream and copies both ways
// until both directions are done, or one is and the other has carried
// nothing for the unit's HalfCloseTimeout.
func (u *Unit) serveConn(ctx context.Context, c net.Conn, track func(net.Conn) bool, untrack func(net.Conn)) {
	release := u.Hold()
	defer release()
	cause := "tcp connection from " + c.RemoteAddr().String()
	if err := u.wake(ctx, cause, WhenReady); err != nil {
		return
	}
	var d net.Dialer
	up, err := d.DialContext(ctx, "tcp", u.spec.Upstream)
	if err != nil {
		return
	}
	if !track(up) {
		return
	}
	defer untrack(up)
	h := u.newHalfClose(func() {
		c.Close()
		up.Close()
	})
	defer h.stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if h.pump(up, c) != nil {
			up.Close() // a broken client: the other direction ends too
		}
	}()
	if h.pump(c, up) != nil {
		c.Close()
	}
	<-done
}
