package web_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/camrec/camrec/internal/testutil"
)

// newTab starts headless Chromium (failing when CI is set and it is
// missing, skipping otherwise) and returns a tab with a 60 s deadline and
// the function that closes the browser.
func newTab(t *testing.T) (context.Context, func()) {
	t.Helper()
	chromium := testutil.RequireTool(t, "chromium")
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()))
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	return ctx, func() { cancel(); cancelTab(); cancelAlloc() }
}
