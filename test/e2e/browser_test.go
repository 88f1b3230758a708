package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// newBrowser starts a headless Chromium with a fresh profile (and the
// extra options) and returns a tab's context. It fails when CI is set and
// Chromium is missing, and skips otherwise. JavaScript exceptions on the
// page fail the test.
func newBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := requireTool(t, "chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	}
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})

	var mu sync.Mutex
	var jsErrors []string
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range jsErrors {
			t.Errorf("JavaScript exception on the page: %s", e)
		}
	})
	if err := chromedp.Listen(ctx, func(ev any) {
		if ev, ok := ev.(*runtime.EventExceptionThrown); ok {
			msg := ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				msg += " " + ev.ExceptionDetails.Exception.Description
			}
			mu.Lock()
			jsErrors = append(jsErrors, msg)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	// The page's default look (and the README's screenshot) is dark.
	dark := emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}}
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, dark); err != nil {
		t.Fatalf("emulate dark mode: %v", err)
	}
	return ctx
}

// do runs browser steps with a deadline, failing the test with what was
// being done.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// poll waits until the JavaScript expression is truthy and returns its value.
func poll[T any](t *testing.T, ctx context.Context, what, expr string, timeout time.Duration) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Poll[T](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		t.Fatalf("waiting for %s (%s): %v", what, expr, err)
	}
	return v
}

func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// TestBrowser drives the page as a user does: watch the live preview, record
// for two seconds, find the recording in the list, play it, delete it.
func TestBrowser(t *testing.T) {
	requireTool(t, "ffmpeg")
	d := startCamrec(t, "-device", "test:")
	ctx := newBrowser(t)

	do(t, ctx, "open the page", chromedp.Navigate(d.URL+"/"))
	const card = `[data-camera="cam0"]`
	do(t, ctx, "camera card", chromedp.WaitVisible(chromedp.CSS(card+" img.preview")))

	// The preview receives frames at the camera's size...
	w := poll[int](t, ctx, "first preview frame", `document.querySelector('`+card+` img.preview').naturalWidth`, 30*time.Second)
	if w != 1280 {
		t.Errorf("preview is %d px wide, want 1280", w)
	}
	// ...and keeps updating: the picture changes (the test pattern moves
	// and prints the frame number) while the page is the camera's client.
	const pixels = `(() => {
		const img = document.querySelector('` + card + ` img.preview');
		const c = document.createElement('canvas');
		c.width = 160; c.height = 90;
		const g = c.getContext('2d');
		g.drawImage(img, 0, 0, 160, 90);
		return Array.from(g.getImageData(0, 0, 160, 90).data.filter((_, i) => i % 16 === 0)).join(',');
	})()`
	first := eval[string](t, ctx, pixels)
	poll[bool](t, ctx, "the preview to change", pixels+` !== `+jsString(first), 5*time.Second)

	var st cameraStatus
	d.do(t, "GET", "/api/v1/cameras/cam0", "", &st)
	frames0 := st.Frames
	waitFor(t, 20*time.Second, "frames to advance with a browser client", func() bool {
		d.do(t, "GET", "/api/v1/cameras/cam0", "", &st)
		return st.Frames > frames0+10 && st.Clients >= 1
	})
	if shown := eval[bool](t, ctx, `getComputedStyle(document.querySelector('`+card+` .overlay')).display !== 'none'`); shown {
		t.Error("the state overlay covers the preview of a streaming camera")
	}
	poll[bool](t, ctx, "status line", `document.querySelector('`+card+` .meta').textContent.includes('1280×720')`, 5*time.Second)

	// Record about two seconds, waiting on what the page shows.
	poll[bool](t, ctx, "Record to be enabled", `!document.querySelector('`+card+` .record-toggle').disabled`, 20*time.Second)
	do(t, ctx, "click Record", chromedp.Click(chromedp.CSS(card+" .record-toggle")))
	poll[bool](t, ctx, "the button to show the recording",
		`(() => { const b = document.querySelector('`+card+` .record-toggle'); return b.classList.contains('on') && /Stop · 0:0[2-9] · [0-9.]+ [KM]B/.test(b.textContent); })()`,
		15*time.Second)
	label := eval[string](t, ctx, `document.querySelector('`+card+` .record-toggle').textContent`)
	t.Logf("while recording the button reads %q", label)
	if d.do(t, "GET", "/api/v1/cameras/cam0/recording", "", &st.Recording); !st.Recording.Active {
		t.Fatalf("the API says cam0 is not recording: %+v", st.Recording)
	}
	id := st.Recording.ID
	do(t, ctx, "screenshot while recording", capture(t, "CAMREC_SCREENSHOT_RECORDING"))
	do(t, ctx, "click Stop", chromedp.Click(chromedp.CSS(card+" .record-toggle")))
	poll[bool](t, ctx, "the button to return to Record",
		`document.querySelector('`+card+` .record-toggle .label').textContent === 'Record'`, 30*time.Second)

	// The new recording is listed, complete, and plays in the page.
	item := fmt.Sprintf(`#recordings li[data-id=%q]`, id)
	poll[bool](t, ctx, "the recording in the list", `document.querySelector('`+item+`')?.dataset.state === 'complete'`, 30*time.Second)
	do(t, ctx, "click Play", chromedp.Click(chromedp.CSS(item+" .play")))
	dur := poll[float64](t, ctx, "the video's metadata", `(() => { const v = document.querySelector('`+item+` video'); return v && v.readyState >= 1 && v.duration > 0 && isFinite(v.duration) ? v.duration : 0; })()`, 30*time.Second)
	t.Logf("the recording plays in the page: duration %.2f s", dur)
	if dur < 1 || dur > 10 {
		t.Errorf("video duration %.2f s, want about 2 s", dur)
	}
	poll[bool](t, ctx, "the video to play", `document.querySelector('`+item+` video').currentTime > 0.2`, 30*time.Second)
	href := eval[string](t, ctx, `document.querySelector('`+item+` .download').getAttribute('href')`)
	if !strings.HasSuffix(href, "/file?download=1") {
		t.Errorf("download link %q", href)
	}
	do(t, ctx, "screenshot", capture(t, "CAMREC_SCREENSHOT"))

	// On a phone-sized screen nothing overflows sideways and the controls
	// stay on screen.
	do(t, ctx, "phone viewport", chromedp.EmulateViewport(390, 844))
	poll[bool](t, ctx, "the page to fit a phone", `document.documentElement.scrollWidth <= window.innerWidth && document.querySelector('`+card+` .record-toggle').getBoundingClientRect().right <= window.innerWidth`, 5*time.Second)
	do(t, ctx, "phone screenshot", capture(t, "CAMREC_SCREENSHOT_PHONE"))

	// Delete it (confirming the dialog) and it leaves the list and the API.
	do(t, ctx, "accept confirm dialogs", chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`))
	do(t, ctx, "click Delete", chromedp.Click(chromedp.CSS(item+" .delete")))
	poll[bool](t, ctx, "the recording to leave the list", `document.querySelector('`+item+`') === null`, 30*time.Second)
	if code, body := d.do(t, "GET", "/api/v1/recordings/"+id, "", nil); code != 404 {
		t.Errorf("deleted recording: GET answered %d %s", code, body)
	}
}

// capture saves a screenshot of the whole page to the file named by the
// environment variable env, if it is set (the README's picture:
// CAMREC_SCREENSHOT=$PWD/docs/screenshot.png go test ./test/e2e -run Browser).
func capture(t *testing.T, env string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		path := os.Getenv(env)
		if path == "" {
			return chromedp.Void{}, nil
		}
		png, err := chromedp.FullScreenshot(100)(ctx, tg)
		if err != nil {
			return chromedp.Void{}, err
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			return chromedp.Void{}, err
		}
		t.Logf("screenshot saved to %s", path)
		return chromedp.Void{}, nil
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`).Replace(s) + "'"
}

// TestBrowserShowsErrors checks that the page tells the user what is wrong
// with a camera that cannot be opened, instead of failing silently, and does
// not offer to record it. (ffmpeg that cannot be run: TestPageStatesStreaming.)
func TestBrowserShowsErrors(t *testing.T) {
	d := startCamrec(t, "-device", "/dev/video-camrec-missing")
	ctx := newBrowser(t)
	do(t, ctx, "open the page", chromedp.Navigate(d.URL+"/"))
	const card = `[data-camera="cam0"]`
	do(t, ctx, "camera card", chromedp.WaitVisible(chromedp.CSS(card+" .record-toggle")))
	overlay := poll[string](t, ctx, "the camera's error over the preview",
		`(() => { const o = document.querySelector('`+card+` .overlay'); return getComputedStyle(o).display !== 'none' && o.textContent; })()`, 30*time.Second)
	// A missing device is a camera that is unplugged: camrec waits for it.
	if want := "Camera /dev/video-camrec-missing not found (unplugged?) — retrying"; overlay != want {
		t.Errorf("overlay reads %q, want %q", overlay, want)
	}
	if state := eval[string](t, ctx, `document.querySelector('`+card+` .state').textContent`); state != "disconnected" {
		t.Errorf("state badge reads %q", state)
	}
	// Nothing to record: Record is disabled and says why.
	poll[bool](t, ctx, "Record disabled, saying why",
		`(() => { const b = document.querySelector('`+card+` .record-toggle'); return b.disabled && b.title.includes('disconnected'); })()`, 30*time.Second)
	if label := eval[string](t, ctx, `document.querySelector('`+card+` .record-toggle .label').textContent`); label != "Record" {
		t.Errorf("button reads %q", label)
	}
	do(t, ctx, "screenshot", capture(t, "CAMREC_SCREENSHOT_ERRORS"))
}

// TestBrowserFollowsEvents: the page listens to /api/v1/events, so a
// recording started and stopped by someone else (a script, Home Assistant)
// shows on the card and in the list without a reload: the button and the
// badge turn to the recording when recording_started arrives, and the
// recording is listed, complete, after recording_stopped. (That the page
// polls nothing meanwhile while idle: TestPageStatesQuietUnderVirtualTime.)
func TestBrowserFollowsEvents(t *testing.T) {
	requireTool(t, "ffmpeg")
	d := startCamrec(t, "-device", "test:", "-container", "mkv", "-codec", "copy")
	waitStreaming(t, d)
	ctx := newBrowser(t)
	reqs := countRequests(t, ctx)
	do(t, ctx, "open the page", chromedp.Navigate(d.URL+"/"))
	const card = `[data-camera="cam0"]`
	poll[bool](t, ctx, "the page to listen to events", `document.body.dataset.live === 'events'`, 30*time.Second)
	poll[bool](t, ctx, "Record to be enabled", `document.querySelector('`+card+` .record-toggle')?.disabled === false`, 30*time.Second)
	// A reload or a navigation would lose this.
	do(t, ctx, "mark the page", chromedp.Evaluate[chromedp.Void](`window.camrecTestMark = 'loaded once'`))

	var st recordingState
	if code, b := d.do(t, "PUT", "/api/v1/cameras/cam0/recording", `{"active":true}`, &st); code != 200 {
		t.Fatalf("start: %d %s", code, b)
	}
	poll[bool](t, ctx, "the page to hear of the recording", `document.body.dataset.lastEvent === 'recording_started' || document.body.dataset.lastEvent === 'segment_closed'`, 30*time.Second)
	poll[bool](t, ctx, "the button to show the recording",
		`(() => { const b = document.querySelector('`+card+` .record-toggle'); return b.classList.contains('on') && b.getAttribute('aria-pressed') === 'true' && b.textContent.includes('Stop'); })()`, 30*time.Second)
	poll[bool](t, ctx, "the card to show the recording", `document.querySelector('`+card+`').dataset.recording === 'on' && !document.querySelector('`+card+` .rec-badge').hidden`, 30*time.Second)
	item := fmt.Sprintf(`#recordings li[data-id=%q]`, st.ID)
	poll[bool](t, ctx, "the new recording in the list", `document.querySelector('`+item+`')?.dataset.state === 'recording'`, 30*time.Second)

	if code, b := d.do(t, "PUT", "/api/v1/cameras/cam0/recording", `{"active":false}`, &st); code != 200 {
		t.Fatalf("stop: %d %s", code, b)
	}
	poll[bool](t, ctx, "the recording complete in the list", `document.querySelector('`+item+`')?.dataset.state === 'complete'`, 30*time.Second)
	poll[bool](t, ctx, "the button back to Record",
		`(() => { const b = document.querySelector('`+card+` .record-toggle'); return !b.classList.contains('on') && b.querySelector('.label').textContent === 'Record'; })()`, 30*time.Second)
	if mark := eval[string](t, ctx, `window.camrecTestMark ?? 'reloaded'`); mark != "loaded once" {
		t.Errorf("the page was reloaded (its mark reads %q)", mark)
	}
	if !eval[bool](t, ctx, `document.body.dataset.live === 'events'`) {
		t.Error("the page stopped listening to events")
	}
	if n := reqs.eventStreams(); n != 1 {
		t.Errorf("the page asked for the event stream %d times, want once (it never broke)", n)
	}
}
