package wake

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"
)

// halfClose bounds a spliced connection one of whose directions has
// ended ([Spec].HalfCloseTimeout): once the other has carried nothing
// for bound, on clk, it calls abort, which closes the connection both
// ways and must not block. A nil *halfClose bounds nothing. Its methods
// are safe for concurrent use.
type halfClose struct {
	clk   clock.Clock
	bound time.Duration
	half  atomic.Bool // a direction has ended: count the other's activity

	mu      sync.Mutex
	abort   func()
	last    time.Time    // the open direction's last activity, once half
	timer   *clock.Timer // while half and not stopped
	stopped bool
}

// newHalfClose returns the bound of one connection of u's fronts, nil if
// u's HalfCloseTimeout is negative. abort may be set later, with
// setAbort, but before a direction can end.
func (u *Unit) newHalfClose(abort func()) *halfClose {
	if u.spec.HalfCloseTimeout < 0 {
		return nil
	}
	return &halfClose{clk: u.g.m.Clock(), bound: u.spec.HalfCloseTimeout, abort: abort}
}

func (h *halfClose) setAbort(abort func()) {
	h.mu.Lock()
	h.abort = abort
	h.mu.Unlock()
}

// halfClosed reports whether a direction has ended.
func (h *halfClose) halfClosed() bool { return h != nil && h.half.Load() }

// end records that a direction reached its end of file, before that end
// is passed on: the first starts the bound on the other, the second
// stops it, as the connection is done. It reports whether it was the
// first.
func (h *halfClose) end() bool {
	if h == nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return false
	}
	if h.half.Load() {
		h.stopLocked()
		return false
	}
	h.last = h.clk.Now()
	h.half.Store(true)
	h.timer = h.clk.AfterFunc(h.bound, h.expire)
	return true
}

// touch records activity of the open direction, once one has ended.
func (h *halfClose) touch() {
	if !h.halfClosed() {
		return
	}
	h.mu.Lock()
	h.last = h.clk.Now()
	h.mu.Unlock()
}

// expire aborts the connection if the open direction has carried
// nothing for the bound, and checks again when it would have otherwise.
func (h *halfClose) expire() {
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		return
	}
	if idle := h.clk.Now().Sub(h.last); idle < h.bound {
		h.timer.Reset(h.bound - idle)
		h.mu.Unlock()
		return
	}
	h.stopLocked()
	if h.abort != nil {
		h.abort() // under mu, so that stop returns once it is done
	}
	h.mu.Unlock()
}

// stop ends the bound, once the connection is done, and waits for an
// abort under way.
func (h *halfClose) stop() {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.stopLocked()
	h.mu.Unlock()
}

func (h *halfClose) stopLocked() {
	h.stopped = true
	if h.timer != nil {
		h.timer.Stop()
	}
}

// aLongTimeAgo is a read deadline that interrupts a read at once, as
// net/http uses it.
var aLongTimeAgo = time.Unix(1, 0)

// pump copies src to dst until src's end of file, then half-closes dst
// (or closes it), and returns the copy's error. The first direction of
// the connection to end interrupts the other's copy (a read deadline in
// the past on its src, which is this one's dst), which then goes on
// counting what it carries, so that h bounds it; until then, each
// direction copies as io.Copy does (splice(2) between two TCP
// connections).
func (h *halfClose) pump(dst, src net.Conn) error {
	_, err := io.Copy(dst, src)
	if err != nil && h.halfClosed() && errors.Is(err, os.ErrDeadlineExceeded) {
		if err = src.SetReadDeadline(time.Time{}); err == nil {
			err = h.copyCounting(dst, src)
		}
	}
	if err == nil && h.end() && dst.SetReadDeadline(aLongTimeAgo) != nil {
		// A conn without deadlines: its copy cannot be counted, and
		// the bound would close it however busy.
		h.stop()
	}
	if cw, ok := dst.(closeWriter); ok {
		_ = cw.CloseWrite()
	} else {
		dst.Close()
	}
	return err
}

// copyCounting copies src to dst until src's end of file, recording each
// read and write as activity of the open direction (before passing the
// bytes on, so that whoever receives them knows that it is recorded).
func (h *halfClose) copyCounting(dst, src net.Conn) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			h.touch()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
			h.touch()
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// isUpgrade reports whether r may be upgraded to another protocol (a
// WebSocket), which httputil.ReverseProxy then splices by hijacking the
// client's connection.
func isUpgrade(r *http.Request) bool { return r.Header.Get("Upgrade") != "" }

// serveUpgrade proxies r, which asks for an upgrade, so that h bounds the
// connection if it is upgraded: the client's connection, hijacked by
// httputil.ReverseProxy, tells h when a direction ends and what the
// other carries, and h's abort closes it and ends the request's context,
// on which the proxy closes its connection to the upstream.
func (f *front) serveUpgrade(w http.ResponseWriter, r *http.Request) {
	h := f.u.newHalfClose(nil)
	if h == nil {
		f.proxy.ServeHTTP(w, r)
		return
	}
	defer h.stop()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	f.proxy.ServeHTTP(&upgradeWriter{ResponseWriter: w, h: h, cancel: cancel}, r.WithContext(ctx))
}

// upgradeWriter hands httputil.ReverseProxy the client's connection
// wrapped in a tunnelConn.
type upgradeWriter struct {
	http.ResponseWriter
	h      *halfClose
	cancel context.CancelFunc
}

// Unwrap lets http.ResponseController find the other methods (Flush).
func (w *upgradeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *upgradeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return c, brw, err
	}
	w.h.setAbort(func() {
		w.cancel()
		c.Close()
	})
	return &tunnelConn{Conn: c, h: w.h}, brw, nil
}

// tunnelConn is the client's side of an upgraded connection: what it
// reads goes to the upstream, what is written to it comes from there.
type tunnelConn struct {
	net.Conn
	h *halfClose
}

func (c *tunnelConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.h.touch()
	}
	if err == io.EOF {
		c.h.end() // before the proxy passes it on
	}
	return n, err
}

func (c *tunnelConn) Write(p []byte) (int, error) {
	c.h.touch()
	n, err := c.Conn.Write(p)
	c.h.touch()
	return n, err
}

// CloseWrite is called by the proxy once the upstream's side ended.
func (c *tunnelConn) CloseWrite() error {
	c.h.end()
	if cw, ok := c.Conn.(closeWriter); ok {
		return cw.CloseWrite()
	}
	return fmt.Errorf("wake: CloseWrite: %w", errors.ErrUnsupported)
}
