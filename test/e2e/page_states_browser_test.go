package e2e

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// The page in each camera state: what the overlay says, whether Record and
// the controls are offered, and whether the preview asks for a stream.

const missingDevice = "/dev/video-camrec-missing"

// requestCounter counts the page's requests to the camera list (its status
// poll, once a second) and to preview streams, from the browser's network
// events.
type requestCounter struct {
	mu             sync.Mutex
	polls, streams int
	streamURLs     []string
}

func countRequests(t *testing.T, ctx context.Context) *requestCounter {
	t.Helper()
	r := &requestCounter{}
	if err := chromedp.Listen(ctx, func(ev any) {
		e, ok := ev.(*network.EventRequestWillBeSent)
		if !ok || e.Request == nil {
			return
		}
		u, err := url.Parse(e.Request.URL)
		if err != nil {
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		switch {
		case u.Path == "/api/v1/cameras":
			r.polls++
		case strings.HasSuffix(u.Path, "/stream.mjpg"):
			r.streams++
			r.streamURLs = append(r.streamURLs, e.Request.URL)
		}
	}); err != nil {
		t.Fatalf("listen to network events: %v", err)
	}
	return r
}

func (r *requestCounter) counts() (polls, streams int, streamURLs []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.polls, r.streams, append([]string(nil), r.streamURLs...)
}

// TestPageStatesMissingDevice: a camera whose device does not exist reads as
// a sentence naming the device (the raw error in the tooltip); Record is
// disabled, saying why; the controls are hidden; and the preview asks for no
// stream while the page polls the status (a held-open stream request kept
// the page loading forever).
func TestPageStatesMissingDevice(t *testing.T) {
	d := startCamrec(t, "-device", missingDevice)
	ctx := newBrowser(t)
	reqs := countRequests(t, ctx)
	do(t, ctx, "open the page", chromedp.Navigate(d.URL+"/"))
	const card = `[data-camera="cam0"]`

	overlay := poll[string](t, ctx, "the camera's state over the preview",
		`(() => { const o = document.querySelector('`+card+` .overlay'); return o && getComputedStyle(o).display !== 'none' && o.textContent; })()`, 15*time.Second)
	if want := "Camera " + missingDevice + " not found (unplugged?) — retrying"; overlay != want {
		t.Errorf("overlay reads %q, want %q", overlay, want)
	}
	var st struct{ State, Error string }
	d.do(t, "GET", "/api/v1/cameras/cam0", "", &st)
	if st.State != "disconnected" || !strings.Contains(st.Error, "no such file or directory") {
		t.Fatalf("the API says state %q, error %q; want disconnected with the raw error", st.State, st.Error)
	}
	title := poll[string](t, ctx, "the raw error in the overlay's tooltip", `document.querySelector('`+card+` .overlay').title`, 10*time.Second)
	if title != st.Error {
		t.Errorf("overlay title %q, want the API's error %q", title, st.Error)
	}

	if !eval[bool](t, ctx, `document.querySelector('`+card+` .record-toggle').disabled`) {
		t.Error("Record is enabled for a camera that does not stream")
	}
	why := eval[string](t, ctx, `document.querySelector('`+card+` .record-toggle').title`)
	if !strings.Contains(why, "disconnected") {
		t.Errorf("Record's tooltip reads %q, want why it is disabled", why)
	}
	if shown := eval[bool](t, ctx, `(() => { const c = document.querySelector('`+card+` .controls'); return !c.hidden || getComputedStyle(c).display !== 'none'; })()`); shown {
		t.Error("the controls panel shows for a camera that is disconnected")
	}

	// Quiet: over the next three status polls the page asks for no stream
	// and the preview has no source.
	polls0, _, _ := reqs.counts()
	waitFor(t, 20*time.Second, "three more status polls", func() bool {
		p, _, _ := reqs.counts()
		return p >= polls0+3
	})
	if _, n, urls := reqs.counts(); n != 0 {
		t.Errorf("the page asked for the preview stream %d times while the camera is disconnected: %v", n, urls)
	}
	if src := eval[string](t, ctx, `document.querySelector('`+card+` img.preview').getAttribute('src') || ''`); src != "" {
		t.Errorf("the preview's src is %q while the camera is disconnected, want none", src)
	}
	do(t, ctx, "screenshot", capture(t, "CAMREC_SCREENSHOT_MISSING"))
}

// TestPageStatesQuietUnderVirtualTime is what `chromium --headless
// --virtual-time-budget=4000 --screenshot` does to the page of a missing
// camera: virtual time advances only while no request is pending, so a
// request that never ends (a preview stream the server holds open without a
// frame) keeps the budget from ever running out. The budget runs out, with
// the page's polls in it and no stream request.
func TestPageStatesQuietUnderVirtualTime(t *testing.T) {
	d := startCamrec(t, "-device", missingDevice)
	ctx := newBrowser(t)
	reqs := countRequests(t, ctx)
	expired := make(chan struct{})
	var once sync.Once
	if err := chromedp.Listen(ctx, func(ev any) {
		if _, ok := ev.(*emulation.EventVirtualTimeBudgetExpired); ok {
			once.Do(func() { close(expired) })
		}
	}); err != nil {
		t.Fatal(err)
	}
	// As Chromium's own virtual-time tests do: pause, navigate, then let
	// virtual time run while no fetch is pending.
	if _, err := chromedp.Call(ctx, emulation.SetVirtualTimePolicy, emulation.SetVirtualTimePolicyParams{Policy: emulation.VirtualTimePolicyPause}); err != nil {
		t.Fatalf("pause virtual time: %v", err)
	}
	if _, err := chromedp.Call(ctx, page.Navigate, page.NavigateParams{URL: d.URL + "/"}); err != nil {
		t.Fatalf("open the page: %v", err)
	}
	budget := 4000.0
	if _, err := chromedp.Call(ctx, emulation.SetVirtualTimePolicy, emulation.SetVirtualTimePolicyParams{
		Policy: emulation.VirtualTimePolicyPauseIfNetworkFetchesPending, Budget: &budget,
	}); err != nil {
		t.Fatalf("start virtual time: %v", err)
	}
	select {
	case <-expired:
	case <-time.After(60 * time.Second):
		p, n, urls := reqs.counts()
		t.Fatalf("the 4 s virtual-time budget never ran out: a request keeps the page loading (%d status polls, %d stream requests %v)", p, n, urls)
	}
	// Virtual time is paused now: read the page without waiting on it.
	p, n, urls := reqs.counts()
	if p < 2 {
		t.Errorf("%d status polls within 4 virtual seconds, want the page's once-a-second poll", p)
	}
	if n != 0 {
		t.Errorf("%d stream requests while the camera is disconnected: %v", n, urls)
	}
	overlay := eval[string](t, ctx, `document.querySelector('[data-camera="cam0"] .overlay')?.textContent ?? ''`)
	if !strings.Contains(overlay, missingDevice) {
		t.Errorf("after the budget the overlay reads %q, want the sentence naming %s", overlay, missingDevice)
	}
}

// TestPageStatesStreaming: a streaming camera gets no overlay, its preview,
// and an enabled Record; a start that fails (ffmpeg missing) shows the
// server's error under the camera and leaves Record usable.
func TestPageStatesStreaming(t *testing.T) {
	d := startCamrec(t, "-device", "test:", "-ffmpeg", "/nonexistent/ffmpeg")
	ctx := newBrowser(t)
	do(t, ctx, "open the page", chromedp.Navigate(d.URL+"/"))
	const card = `[data-camera="cam0"]`
	poll[bool](t, ctx, "the preview's first frame", `document.querySelector('`+card+` img.preview')?.naturalWidth > 0`, 15*time.Second)
	poll[bool](t, ctx, "Record enabled, without a reason not to",
		`(() => { const b = document.querySelector('`+card+` .record-toggle'); return !b.disabled && b.title === ''; })()`, 10*time.Second)
	if shown := eval[bool](t, ctx, `getComputedStyle(document.querySelector('`+card+` .overlay')).display !== 'none'`); shown {
		t.Error("the state overlay covers the preview of a streaming camera")
	}

	do(t, ctx, "click Record", chromedp.Click(chromedp.CSS(card+" .record-toggle")))
	msg := poll[string](t, ctx, "the error under the camera",
		`(() => { const e = document.querySelector('`+card+` .rec-error'); return !e.hidden && e.textContent; })()`, 10*time.Second)
	if !strings.Contains(msg, "/nonexistent/ffmpeg") {
		t.Errorf("the page says %q, want it to name the ffmpeg that cannot be run", msg)
	}
	poll[bool](t, ctx, "Record again, enabled",
		`(() => { const b = document.querySelector('`+card+` .record-toggle'); return !b.disabled && b.querySelector('.label').textContent === 'Record'; })()`, 10*time.Second)
}
