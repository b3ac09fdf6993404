//go:build linux

package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/internal/browsertest"
	"github.com/sessionkit/sessionkit/processes/wake"
)

// poll waits until the JavaScript expression expr is true in the page,
// across the reloads of the loading page: a poll that a navigation cut
// short is polled again in the new document.
func poll(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(time.Until(deadline)))(ctx, t)
			if err == nil {
				return nil
			}
			if ctx.Err() != nil || time.Now().After(deadline) {
				sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
				defer cancel()
				shown, _ := chromedp.Evaluate[string](`document.title + " | " + document.body.innerText`)(sctx, t)
				return fmt.Errorf("waiting for %s: %w; the page shows %q", expr, err, shown)
			}
			// A navigation destroyed the document polled: a moment for
			// the next one to exist.
			select {
			case <-time.After(20 * time.Millisecond):
			case <-ctx.Done():
			}
		}
	})
}

// evaluate runs the JavaScript expression expr in the page and returns its value.
func evaluate[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	require.NoError(t, err, "evaluate %s", expr)
	return v
}

// seenKey is where the loading page keeps the kinds of the events it
// received, across its reloads.
const seenKey = `JSON.parse(sessionStorage.getItem("sessionkit-wake:devserver") || "[]")`

// TestBrowser drives headless Chromium to the dev server while it
// sleeps: the loading page follows the wake over Server-Sent Events and
// reloads itself into the application's page, first after a cold start,
// then after the server was frozen and thawed.
func TestBrowser(t *testing.T) {
	a, srv := startApp(t, wake.ModeFreeze)

	bctx, stopBrowser := browsertest.Start(t, 90*time.Second)

	t.Run("cold start", func(t *testing.T) {
		require.Equal(t, wake.Asleep, a.Unit().State())
		require.NoError(t, chromedp.Do(bctx,
			chromedp.Navigate(srv.URL+"/"),
			poll(`document.getElementById("app") !== null`),
		))
		assert.Equal(t, "hello from devproxy", evaluate[string](t, bctx, `document.getElementById("app").textContent`))
		assert.Equal(t, "devproxy test", evaluate[string](t, bctx, `document.title`))
		seen := evaluate[[]string](t, bctx, seenKey)
		assert.Equal(t, []string{"starting", "waiting for ready", "ready"}, seen,
			"the events the loading page followed")
		assert.Equal(t, 1, a.Unit().Status().ColdStarts)
	})

	t.Run("thaw", func(t *testing.T) {
		pid := a.Unit().Status().Pid
		require.NoError(t, a.Unit().Sleep(t.Context()))
		require.NoError(t, chromedp.Do(bctx,
			chromedp.Reload(),
			poll(`document.getElementById("app") !== null`),
		))
		seen := evaluate[[]string](t, bctx, seenKey)
		assert.Equal(t, []string{"starting", "waiting for ready", "ready", "woke", "ready"}, seen,
			"the events the loading page followed")
		st := a.Unit().Status()
		assert.Equal(t, pid, st.Pid, "thawed, not started again")
		assert.Equal(t, 2, st.Attempts)
	})

	stopBrowser()
}
