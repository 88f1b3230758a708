package web_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gin-gonic/gin"

	"github.com/camrec/camrec/api"
	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/v4l2"
)

// panel is a camera's controls for the page: one of each kind the page
// shows, and a button the driver refuses.
type panel struct {
	mu    sync.Mutex
	ctls  []pipeline.Control
	asked []string
}

func newPanel() *panel {
	return &panel{ctls: []pipeline.Control{
		{ID: 1, Name: "Brightness", Key: "brightness", Type: v4l2.TypeInteger, Min: 0, Max: 255, Step: 1, Default: 128, Value: 128, Flags: []string{}},
		{ID: 2, Name: "White Balance, Automatic", Key: "white_balance_automatic", Type: v4l2.TypeBoolean, Max: 1, Step: 1, Default: 1, Value: 1, Flags: []string{}},
		{ID: 3, Name: "Power Line Frequency", Key: "power_line_frequency", Type: v4l2.TypeMenu, Max: 2, Step: 1, Default: 1, Value: 1, Flags: []string{},
			Menu: []v4l2.MenuEntry{{Index: 0, Name: "Disabled"}, {Index: 1, Name: "50 Hz"}, {Index: 2, Name: "60 Hz"}}},
		{ID: 4, Name: "Focus, Reset", Key: "focus_reset", Type: v4l2.TypeButton, Flags: []string{v4l2.FlagWrite}},
		{ID: 5, Name: "Exposure Time, Absolute", Key: "exposure_time_absolute", Type: v4l2.TypeInteger, Min: 3, Max: 2047, Step: 1, Default: 250, Value: 250, Flags: []string{v4l2.FlagInactive}},
	}}
}

func (p *panel) List(ctx context.Context) ([]pipeline.Control, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.ctls), nil
}

func (p *panel) Set(ctx context.Context, target string, value int64) (pipeline.Control, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.asked = append(p.asked, fmt.Sprintf("%s=%d", target, value))
	for i := range p.ctls {
		c := &p.ctls[i]
		if c.Key != target {
			continue
		}
		if c.Type == v4l2.TypeButton {
			return pipeline.Control{}, errors.New("set focus_reset to 1: input/output error")
		}
		c.Value = value
		return *c, nil
	}
	return pipeline.Control{}, defs.ErrNotFound
}

func (p *panel) setCalls() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.asked, " ")
}

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

// TestControlsPanel drives the page's controls panel in headless Chromium
// against the real API: a camera with controls gets a slider, a checkbox, a
// select and a button, each sending PUT on change; a camera without
// controls (test:) shows no panel.
func TestControlsPanel(t *testing.T) {
	p := newPanel()
	log := slog.New(slog.DiscardHandler)
	srv := httptest.NewServer(api.New(api.Config{Cameras: []api.Camera{
		{View: pipeline.NewCamera(pipeline.CameraConfig{Name: "cam0", Device: "/dev/video0"}, nil, log), Controls: p},
		{View: pipeline.NewCamera(pipeline.CameraConfig{Name: "test0", Device: "test:"}, nil, log)},
	}}).Handler())
	defer srv.Close()
	ctx, closeBrowser := newTab(t)
	defer closeBrowser() // before srv.Close, which waits for the page's streams

	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	const cam = `[data-camera="cam0"] `
	run("open the page", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS(cam+"details.controls summary")))
	hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('[data-camera="test0"] details.controls').hidden`))
	if err != nil || !hidden {
		t.Errorf("the test: camera shows a controls panel (hidden=%v, %v)", hidden, err)
	}
	run("open the panel", chromedp.Click(chromedp.CSS(cam+"details.controls summary")),
		chromedp.WaitVisible(chromedp.CSS(cam+`.ctl[data-key="brightness"] input[type="range"]`)))

	shape, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('`+cam+`.ctl')].map(r => {
		const i = r.querySelector('input, select, button');
		return r.dataset.key + ':' + (i ? (i.type || i.tagName) + '=' + (i.type === 'checkbox' ? i.checked : i.value) : '-') + (r.classList.contains('inactive') ? ':inactive' : '');
	}).join(' ')`))
	const want = "brightness:range=128 white_balance_automatic:checkbox=true power_line_frequency:select-one=1 focus_reset:button= exposure_time_absolute:range=250:inactive"
	if err != nil || shape != want {
		t.Fatalf("panel rows:\n got %s\nwant %s (%v)", shape, want, err)
	}

	// Each kind of input sends its PUT.
	run("move the slider", chromedp.Evaluate[chromedp.Void](`(() => {
		const s = document.querySelector('`+cam+`.ctl[data-key="brightness"] input');
		s.value = 200; s.dispatchEvent(new Event('input')); s.dispatchEvent(new Event('change'));
	})()`))
	run("untick the checkbox", chromedp.Click(chromedp.CSS(cam+`.ctl[data-key="white_balance_automatic"] input`)))
	run("pick 60 Hz", chromedp.Evaluate[chromedp.Void](`(() => {
		const s = document.querySelector('`+cam+`.ctl[data-key="power_line_frequency"] select');
		s.value = '2'; s.dispatchEvent(new Event('change'));
	})()`))
	run("press the button", chromedp.Click(chromedp.CSS(cam+`.ctl[data-key="focus_reset"] button`)))

	// The page sends each PUT as its own request: they may arrive in any order.
	sorted := func(s string) string { f := strings.Fields(s); sort.Strings(f); return strings.Join(f, " ") }
	wantCalls := sorted("brightness=200 white_balance_automatic=0 power_line_frequency=2 focus_reset=1")
	deadline := time.Now().Add(10 * time.Second)
	for sorted(p.setCalls()) != wantCalls {
		if time.Now().After(deadline) {
			t.Fatalf("PUTs %q, want %q", p.setCalls(), wantCalls)
		}
		time.Sleep(20 * time.Millisecond)
	}
	status, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => { const s = document.querySelector('`+cam+`.controls-status'); return !s.hidden && s.textContent; })()`,
		chromedp.WithPollingTimeout(5*time.Second)))
	if err != nil || !strings.Contains(status, "input/output error") {
		t.Errorf("the refused button shows %q (%v), want the server's error", status, err)
	}
	out, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => { const o = document.querySelector('`+cam+`.ctl[data-key="brightness"] output'); return o.value === '200' && o.value; })()`,
		chromedp.WithPollingTimeout(5*time.Second)))
	if err != nil || out != "200" {
		t.Errorf("brightness shows %q after the slider moved, want 200 (%v)", out, err)
	}
}
