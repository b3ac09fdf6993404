package browsertest_test

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sessionkit/sessionkit/internal/browsertest"
)

// A browser test: the browser starts with the first action and is gone,
// checked, when the test ends. (An example needs a *testing.T, so this one
// is compiled, not run; TestStartAndStop runs the same calls.)
func Example() {
	_ = func(t *testing.T) {
		ctx, _ := browsertest.Start(t, 30*time.Second)
		title, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.title`))
		if err != nil {
			t.Fatal(err)
		}
		t.Log(title)
	}
}
