//go:build linux

package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/browsertest"
	"github.com/sessionkit/sessionkit/processes"
)

// testShell is the shell the test runs: without the user's rc files,
// which may be slow or wait for a lock (pyenv's rehash in a .bashrc does).
func testShell() []string {
	if _, err := exec.LookPath("bash"); err == nil {
		return []string{"bash", "--norc", "--noprofile"}
	}
	return []string{"sh"}
}

// poll waits until the JavaScript expression expr is true in the page.
func poll(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(20*time.Second))(ctx, t); err != nil {
			// Say what the page shows, on a context of its own.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			shown, _ := chromedp.Evaluate[string](`window.webterm ? JSON.stringify({state: webterm.state, reason: webterm.reason, `+
				`lines: webterm.lines().filter(l => l)}) : "no webterm"`)(sctx, t)
			return fmt.Errorf("waiting for %s: %w; the page shows %s", expr, err, shown)
		}
		return nil
	})
}

// typeKeys types keys into the focused element as a keyboard does, one
// keyDown carrying the text (as puppeteer sends it) and one keyUp per key.
// chromedp.KeyEvent sends a separate char event, which xterm.js takes as a
// second keystroke, typing every character twice.
func typeKeys(keys string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, r := range keys {
			evs := kb.Encode(r)
			var down, up *input.DispatchKeyEventParams
			text := ""
			for _, ev := range evs {
				switch ev.Type {
				case kb.KeyDown:
					down = ev
				case kb.KeyUp:
					up = ev
				case kb.KeyChar:
					text = ev.Text
				}
			}
			if down == nil || up == nil {
				return fmt.Errorf("no key events for %q", r)
			}
			if text == "" && r == '\r' {
				text = "\r"
			}
			down.Text, down.UnmodifiedText = text, text
			for _, ev := range []*input.DispatchKeyEventParams{down, up} {
				if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, *ev); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// eval runs the JavaScript expression expr in the page, for its effect.
func eval(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](expr)(ctx, t)
		return err
	})
}

// get runs the JavaScript expression expr in the page and returns its value.
func get[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	require.NoError(t, err, "evaluate %s", expr)
	return v
}

// hasLine is a JavaScript expression: the terminal shows a line equal to s.
func hasLine(s string) string {
	return "window.webterm && webterm.lines().includes(" + strconv.Quote(s) + ")"
}

// TestBrowser drives headless Chromium through the page: it types into the
// shell and reads the answer from xterm's buffer, resizes the window and
// checks the terminal's size from inside, reloads and sees the output
// replayed on the same terminal, then lets the terminal idle out on the
// Manager's mock clock and sees the idle warning banner, then the close
// reason, on the page.
func TestBrowser(t *testing.T) {

	mock := clock.NewMock()
	const idle, warn = time.Minute, 10 * time.Second
	m := processes.NewManager(idle, processes.WithClock(mock))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: newHandler(m, config{
		Port: ln.Addr().(*net.TCPAddr).Port,
		Argv: testShell(),
		Idle: idle,
		Warn: warn,
	})}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, m.Shutdown(ctx))
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
		assert.ErrorIs(t, <-served, http.ErrServerClosed)
	})

	bctx, stopBrowser := browsertest.Start(t, 60*time.Second)

	url := "http://" + ln.Addr().String() + "/"
	require.NoError(t, chromedp.Do(bctx,
		chromedp.Navigate(url),
		poll(`window.webterm && webterm.state === "attached"`),
	), "load the page")
	id := get[string](t, bctx, `webterm.id`)
	require.NotEmpty(t, id)
	assert.Equal(t, url+"#"+id, get[string](t, bctx, `location.href`), "the terminal's ID in the URL fragment")

	t.Run("echo", func(t *testing.T) {
		require.NoError(t, chromedp.Do(bctx,
			eval(`term.focus()`),
			typeKeys("echo hi\r"),
			poll(hasLine("hi")),
		))
	})

	t.Run("resize", func(t *testing.T) {
		rows0, cols0 := get[int](t, bctx, `term.rows`), get[int](t, bctx, `term.cols`)
		require.NoError(t, chromedp.Do(bctx,
			chromedp.EmulateViewport(1000, 400),
			poll(fmt.Sprintf(`term.rows !== %d && term.cols !== %d`, rows0, cols0)),
		))
		rows, cols := get[int](t, bctx, `term.rows`), get[int](t, bctx, `term.cols`)
		assert.Less(t, rows, rows0, "rows after making the window lower")
		assert.Greater(t, cols, cols0, "columns after making the window wider")
		require.NoError(t, chromedp.Do(bctx,
			eval(`term.focus()`),
			typeKeys("stty size\r"),
			poll(hasLine(fmt.Sprintf("%d %d", rows, cols))),
		), "stty size says %d %d", rows, cols)
	})

	t.Run("reload", func(t *testing.T) {
		require.NoError(t, chromedp.Do(bctx,
			chromedp.Reload(),
			poll(`window.webterm && webterm.state === "attached"`),
			poll(hasLine("hi")),
		))
		assert.Equal(t, id, get[string](t, bctx, `webterm.id`), "reattached to the same terminal")
		assert.Equal(t, 1, m.Len(), "sessions after the reload")
	})

	t.Run("idle warning", func(t *testing.T) {
		mock.Add(idle - warn + time.Second) // the terminal's timer posts the warning
		require.NoError(t, chromedp.Do(bctx, poll(`webterm.warning !== ""`)))
		banner := get[string](t, bctx, `document.getElementById("warning").textContent`)
		// The terminal's timer fires at 50 s on the mock clock, in a
		// goroutine of its own, while Add moves the clock on to 51 s: the
		// seconds left are counted when the warning is posted, 10 or 9.
		assert.Regexp(t, `closed for inactivity in (10|9) s`, banner, "the banner")
	})

	t.Run("idle close", func(t *testing.T) {
		mock.Add(warn)
		m.Sweep()
		require.NoError(t, chromedp.Do(bctx, poll(`webterm.state === "ended"`)))
		assert.Equal(t, "idle_timeout", get[string](t, bctx, `webterm.reason`))
		assert.Contains(t, get[string](t, bctx, `document.getElementById("status").textContent`), "idle_timeout")
		assert.Empty(t, get[string](t, bctx, `webterm.warning`), "the warning banner after the close")
	})

	stopBrowser()
}
