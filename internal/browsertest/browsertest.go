// Package browsertest starts headless Chromium, through chromedp, for the
// browser tests of the examples: each test gets a browser of its own
// (a fresh profile, an 800×600 window) and, once it stops, the check that
// every Chromium process it started is gone. It is for tests only, and
// the only package of the module besides those tests that imports
// chromedp.
//
// # Platform support
//
// Linux, where Debian's chromium package provides the browser (.ci/run
// installs it); the leftover check reads /proc.
package browsertest

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"

	"github.com/sessionkit/sessionkit/internal/proctest"
)

// Chromium returns the path of the Chromium binary (chromium or
// chromium-browser in PATH). Without one it skips tb, or fails it under
// CI=true, where .ci/run installs Debian's chromium.
func Chromium(tb testing.TB) string {
	tb.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	proctest.Missing(tb, "no chromium in PATH: install Debian's chromium package (apt-get install chromium)")
	return ""
}

// Start prepares a headless Chromium for t, started by the first
// chromedp action on ctx, and bounds everything done on ctx by timeout.
// stop closes the browser, waits for its process, and checks that none of
// the Chromium processes of t is left (proctest.Descendants, so that
// another program's browser neither fails t nor hides a leak); it is
// idempotent, and runs at the end of t if t has not called it. Start
// skips or fails t without Chromium, as [Chromium] does.
func Start(t *testing.T, timeout time.Duration) (ctx context.Context, stop func()) {
	t.Helper()
	chromium := Chromium(t)
	tctx, cancel := context.WithTimeout(t.Context(), timeout)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(800, 600),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(tctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		browser := proctest.Descendants("chrom")
		// Cancel closes the browser and waits for its process; its
		// helpers may outlive it by a moment.
		assert.NoError(t, chromedp.Cancel(bctx), "closing the browser")
		cancelBrowser()
		cancelAlloc()
		timedOut := tctx.Err() != nil
		cancel()
		assert.False(t, timedOut, "the browser test's %v ran out", timeout)
		proctest.RequireGone(t, browser...)
	}
	t.Cleanup(stop)
	return bctx, stop
}
