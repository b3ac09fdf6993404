package browsertest_test

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sessionkit/sessionkit/internal/browsertest"
	"github.com/sessionkit/sessionkit/internal/proctest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestStartAndStop: the browser runs a page's script, its processes are
// this test's, and stop leaves none of them; a second stop does nothing.
func TestStartAndStop(t *testing.T) {
	ctx, stop := browsertest.Start(t, time.Minute)
	got, err := chromedp.Run(ctx, chromedp.Evaluate[int](`6 * 7`))
	require.NoError(t, err)
	assert.Equal(t, 42, got)
	browser := proctest.Descendants("chrom")
	require.NotEmpty(t, browser, "no Chromium process of this test")
	stop()
	for _, pid := range browser {
		assert.False(t, proctest.Alive(pid), "Chromium process %d left after stop", pid)
	}
	stop()
}
