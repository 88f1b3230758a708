package e2e

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestPageRecordingShownOnce: what a new user tripped over on the page of
// a test: camera, in a browser set to en-US (12-hour clock by default) and
// UTC.
//   - The card counts the page's own preview among the viewers ("1
//     viewer", not "0 viewers" while it plays).
//   - The page does not ask a camera without controls for them (it got a
//     404, an error in the console and an INFO line in camrec's log).
//   - While recording, the list row of the file and the button show one
//     size, from the same status (they read "759 B" and "808 KB").
//   - The list shows times in 24-hour form, as the picture and the file
//     names do ("06:31:43 PM" before).
//   - Play opens the player in view, not below the fold.
func TestPageRecordingShownOnce(t *testing.T) {
	requireTool(t, "ffmpeg")
	d := startCamrec(t, "-device", "test:")
	waitStreaming(t, d)
	ctx := newBrowser(t)
	var mu sync.Mutex
	var controlsAsked []string
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok && e.Request != nil {
			if u, err := url.Parse(e.Request.URL); err == nil && strings.HasSuffix(u.Path, "/controls") {
				mu.Lock()
				controlsAsked = append(controlsAsked, e.Request.Method+" "+u.Path)
				mu.Unlock()
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "use en-US in UTC",
		func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Call(ctx, emulation.SetLocaleOverride, emulation.SetLocaleOverrideParams{Locale: "en-US"})
			return chromedp.Void{}, err
		},
		func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "UTC"})
			return chromedp.Void{}, err
		})
	do(t, ctx, "open the page", chromedp.Navigate(d.URL+"/"))
	const card = `[data-camera="cam0"]`
	poll[bool](t, ctx, "the preview's first frame", `document.querySelector('`+card+` img.preview')?.naturalWidth > 0`, 30*time.Second)

	// The page's own preview is a viewer.
	meta := poll[string](t, ctx, "the card to count this page's preview",
		`(() => { const m = document.querySelector('`+card+` .meta').textContent; return / 1 viewer$/.test(m) && m; })()`, 15*time.Second)
	t.Logf("the card reads %q", meta)
	var st cameraStatus
	if d.do(t, "GET", "/api/v1/cameras/cam0", "", &st); st.Clients != 1 {
		t.Errorf("camrec counts %d preview clients, want 1 (this page)", st.Clients)
	}

	// Record until the button shows kilobytes: the row of the file shows
	// the same size, at the same moment.
	poll[bool](t, ctx, "Record to be enabled", `!document.querySelector('`+card+` .record-toggle').disabled`, 20*time.Second)
	do(t, ctx, "click Record", chromedp.Click(chromedp.CSS(card+" .record-toggle")))
	sizes := poll[string](t, ctx, "the row and the button to show one size",
		`(() => {
			const b = document.querySelector('`+card+` .record-toggle').textContent.match(/Stop · \d+:\d\d · ([0-9.]+ [KM]B)$/);
			const row = document.querySelector('#recordings li[data-state="recording"] .rec-meta')?.textContent ?? '';
			return b && row.startsWith('recording… · ' + b[1] + ' · ') && b[1] + ' | ' + row;
		})()`, 30*time.Second)
	t.Logf("while recording: %s", sizes)
	d.do(t, "GET", "/api/v1/cameras/cam0/recording", "", &st.Recording)
	id := st.Recording.ID
	if !st.Recording.Active || id == "" {
		t.Fatalf("the API says %+v", st.Recording)
	}
	do(t, ctx, "click Stop", chromedp.Click(chromedp.CSS(card+" .record-toggle")))
	item := fmt.Sprintf(`#recordings li[data-id=%q]`, id)
	poll[bool](t, ctx, "the recording complete in the list", `document.querySelector('`+item+`')?.dataset.state === 'complete'`, 30*time.Second)

	// 24-hour times, in the browser's zone (UTC here).
	var started struct {
		StartedAt time.Time `json:"started_at"`
	}
	d.do(t, "GET", "/api/v1/recordings/"+id, "", &started)
	title := eval[string](t, ctx, `document.querySelector('`+item+` .rec-title').textContent`)
	if want := started.StartedAt.UTC().Format("15:04:05"); !strings.HasSuffix(title, want) {
		t.Errorf("the row's title reads %q, want the start in 24-hour form, ending %s", title, want)
	}

	// Play: the player is in view once it knows its size.
	do(t, ctx, "click Play", chromedp.Click(chromedp.CSS(item+" .play")))
	poll[bool](t, ctx, "the video's metadata", `document.querySelector('`+item+` video')?.readyState >= 1`, 30*time.Second)
	where := poll[string](t, ctx, "the player in view",
		`(() => {
			const r = document.querySelector('`+item+` video').getBoundingClientRect();
			return r.height > 100 && r.top >= 0 && r.bottom <= innerHeight && 'top ' + Math.round(r.top) + ', bottom ' + Math.round(r.bottom) + ' of ' + innerHeight;
		})()`, 10*time.Second)
	t.Logf("the player: %s", where)

	mu.Lock()
	defer mu.Unlock()
	if len(controlsAsked) != 0 {
		t.Errorf("the page asked a camera without controls for them: %v", controlsAsked)
	}
	if strings.Contains(d.Log(), "/controls") {
		t.Errorf("camrec logged a request for controls:\n%s", d.Log())
	}
}
