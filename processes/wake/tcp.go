package wake

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
)

// Serve accepts connections on ln and splices each to the unit's
// Upstream in both directions, waking the unit first: a connection that
// arrives while it sleeps waits for the wake (its bytes wait in the
// socket), and is closed if the wake fails. Each connection holds the
// unit for its whole life and counts as activity when it opens and
// closes; a half-close is passed on. Serve returns when ctx ends,
// ctx.Err() then, or when Accept fails, with its error; in both cases it
// closes ln and every connection it accepted, and waits for its
// goroutines (two per open connection) before returning. It returns an
// error wrapping [ErrInvalidSpec] for a unit without an Upstream.
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
	for {
		c, aerr := ln.Accept()
		if aerr != nil {
			err = aerr
			break
		}
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

type closeWriter interface{ CloseWrite() error }

// serveConn wakes the unit for c, dials the upstream and copies both ways
// until both directions are done.
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
	done := make(chan struct{})
	go func() {
		defer close(done)
		if splice(up, c) != nil {
			up.Close() // a broken client: the other direction ends too
		}
	}()
	if splice(c, up) != nil {
		c.Close()
	}
	<-done
}

// splice copies from src to dst until src's end of file, then
// half-closes dst (or closes it); it returns the copy's error.
func splice(dst, src net.Conn) error {
	_, err := io.Copy(dst, src)
	if cw, ok := dst.(closeWriter); ok {
		_ = cw.CloseWrite()
	} else {
		dst.Close()
	}
	return err
}
