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
// reads: when the event stream opens, after an event, once a minute, each
// second while a camera records), to the event stream and to preview
// streams, from the browser's network events.
type requestCounter struct {
	mu                     sync.Mutex
	polls, events, streams int
	streamURLs             []string
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
		case u.Path == "/api/v1/events":
			r.events++
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

// eventStreams is how many times the page asked for /api/v1/events.
func (r *requestCounter) eventStreams() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events
}

// hideAndShow makes the page believe its tab was hidden, then shown again
// (document.hidden and visibilitychange, as a phone's browser does when it
// goes to the background and back).
func hideAndShow(t *testing.T, ctx context.Context) {
	t.Helper()
	closed := eval[bool](t, ctx, `(() => {
		const set = (hidden) => {
			Object.defineProperty(document, 'hidden', { value: hidden, configurable: true });
			Object.defineProperty(document, 'visibilityState', { value: hidden ? 'hidden' : 'visible', configurable: true });
			document.dispatchEvent(new Event('visibilitychange'));
		};
		set(true);
		const closed = document.body.dataset.live === undefined;
		set(false);
		return closed;
	})()`)
	if !closed {
		t.Error("the page kept its event stream open while hidden")
	}
}

// TestPageStatesMissingDevice: a camera whose device does not exist reads as
// a sentence naming the device (the raw error in the tooltip); Record is
// disabled, saying why; the controls are hidden; and the preview asks for no
// stream while the page reads the status again (a held-open stream request
// kept the page loading forever).
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

	// Quiet: the page polls nothing while nothing happens; each time it is
	// hidden and shown again it closes and reopens its event stream and
	// reads the status. Over three of those it asks for no stream and the
	// preview has no source.
	poll[bool](t, ctx, "the page to listen to events", `document.body.dataset.live === 'events'`, 30*time.Second)
	polls0, _, _ := reqs.counts()
	events0 := reqs.eventStreams()
	for i := 0; i < 3; i++ {
		hideAndShow(t, ctx)
		poll[bool](t, ctx, "the event stream to reopen", `document.body.dataset.live === 'events'`, 30*time.Second)
	}
	waitFor(t, 20*time.Second, "three more status reads", func() bool {
		p, _, _ := reqs.counts()
		return p >= polls0+3
	})
	if n := reqs.eventStreams() - events0; n != 3 {
		t.Errorf("the page opened its event stream %d times for 3 returns to view, want 3", n)
	}
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
// frame, or an EventSource) keeps the budget from ever running out. The
// budget runs out, with the page's event stream open, a status read in it
// and no stream request. Then, two idle minutes of virtual time later, the
// page has read the status no more than once a minute (it used to poll
// every second) and still listens to the same event stream.
func TestPageStatesQuietUnderVirtualTime(t *testing.T) {
	d := startCamrec(t, "-device", missingDevice)
	ctx := newBrowser(t)
	reqs := countRequests(t, ctx)
	expired := make(chan struct{}, 1)
	if err := chromedp.Listen(ctx, func(ev any) {
		if _, ok := ev.(*emulation.EventVirtualTimeBudgetExpired); ok {
			select {
			case expired <- struct{}{}:
			default:
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	// runBudget lets virtual time run for ms while no fetch is pending, and
	// waits until it has.
	runBudget := func(ms float64) {
		t.Helper()
		if _, err := chromedp.Call(ctx, emulation.SetVirtualTimePolicy, emulation.SetVirtualTimePolicyParams{
			Policy: emulation.VirtualTimePolicyPauseIfNetworkFetchesPending, Budget: &ms,
		}); err != nil {
			t.Fatalf("start virtual time: %v", err)
		}
		select {
		case <-expired:
		case <-time.After(60 * time.Second):
			p, n, urls := reqs.counts()
			t.Fatalf("the %.0f s virtual-time budget never ran out: a request keeps the page loading (%d status reads, %d event streams, %d stream requests %v)",
				ms/1000, p, reqs.eventStreams(), n, urls)
		}
	}
	// As Chromium's own virtual-time tests do: pause, navigate, then let
	// virtual time run while no fetch is pending.
	if _, err := chromedp.Call(ctx, emulation.SetVirtualTimePolicy, emulation.SetVirtualTimePolicyParams{Policy: emulation.VirtualTimePolicyPause}); err != nil {
		t.Fatalf("pause virtual time: %v", err)
	}
	if _, err := chromedp.Call(ctx, page.Navigate, page.NavigateParams{URL: d.URL + "/"}); err != nil {
		t.Fatalf("open the page: %v", err)
	}
	runBudget(4000)
	// Virtual time is paused now: read the page without waiting on it.
	p, n, urls := reqs.counts()
	if p < 1 || p > 2 {
		t.Errorf("%d status reads within 4 virtual seconds, want 1 (when the event stream opened), 2 at most", p)
	}
	if n != 0 {
		t.Errorf("%d stream requests while the camera is disconnected: %v", n, urls)
	}
	if e := reqs.eventStreams(); e != 1 {
		t.Errorf("%d event stream requests within 4 virtual seconds, want 1", e)
	}
	if !eval[bool](t, ctx, `document.body.dataset.live === 'events'`) {
		t.Error("the budget ran out without the page listening to events")
	}
	overlay := eval[string](t, ctx, `document.querySelector('[data-camera="cam0"] .overlay')?.textContent ?? ''`)
	if !strings.Contains(overlay, missingDevice) {
		t.Errorf("after the budget the overlay reads %q, want the sentence naming %s", overlay, missingDevice)
	}

	// Idle: two more minutes of virtual time, nothing happening.
	runBudget(125000)
	p2, n, urls := reqs.counts()
	t.Logf("status reads: %d in the first 4 virtual seconds, %d in the next 125", p, p2-p)
	if p2-p > 4 {
		t.Errorf("%d status reads in 125 idle virtual seconds, want about one a minute (2), no polling in a loop", p2-p)
	}
	if n != 0 {
		t.Errorf("%d stream requests while the camera is disconnected: %v", n, urls)
	}
	if e := reqs.eventStreams(); e != 1 {
		t.Errorf("%d event stream requests after 129 idle virtual seconds, want the first one, still open", e)
	}
	if !eval[bool](t, ctx, `document.body.dataset.live === 'events'`) {
		t.Error("the page stopped listening to events")
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
