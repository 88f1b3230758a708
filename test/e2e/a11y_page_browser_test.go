package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// axeScript is axe-core's axe.min.js: $CAMREC_AXE, else what make
// test-deps installs from npm (the version pinned in the Makefile) into
// ~/.cache/camrec/npm. Missing, the test fails when CI is set and skips
// otherwise.
func axeScript(t *testing.T) string {
	t.Helper()
	path := os.Getenv("CAMREC_AXE")
	if path == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		path = filepath.Join(home, ".cache", "camrec", "npm", "node_modules", "axe-core", "axe.min.js")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("axe-core is required in CI (make test-deps installs it): %v", err)
		}
		t.Skipf("axe-core not installed (make test-deps installs it): %v", err)
	}
	return string(b)
}

// consoleErrors collects what the page's console shows as errors: a
// console.error, an uncaught exception, a failed load (a 404 answer), as
// Lighthouse's "Browser errors were logged to the console" counts them.
type consoleErrors struct {
	mu   sync.Mutex
	msgs []string
}

func watchConsole(t *testing.T, ctx context.Context) *consoleErrors {
	t.Helper()
	c := &consoleErrors{}
	if err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch e := ev.(type) {
		case *cdplog.EventEntryAdded:
			if e.Entry != nil && e.Entry.Level == cdplog.EntryLevelError {
				msg = fmt.Sprintf("%s: %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL)
			}
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range e.Args {
					args = append(args, strings.Trim(string(a.Value), `"`)+a.Description)
				}
				msg = "console.error: " + strings.Join(args, " ")
			}
		case *runtime.EventExceptionThrown:
			msg = "exception: " + e.ExceptionDetails.Text
		}
		if msg != "" {
			c.mu.Lock()
			c.msgs = append(c.msgs, msg)
			c.mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("listen to the console: %v", err)
	}
	return c
}

func (c *consoleErrors) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.msgs...)
}

// axeViolation is one failed rule of an axe-core run, as much as a failure
// message needs.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target         []any  `json:"target"`
		FailureSummary string `json:"failureSummary"`
	} `json:"nodes"`
}

// wcagTags are the axe-core rules of WCAG 2.0, 2.1 and 2.2 at levels A and
// AA.
var wcagTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"}

// checkAccessibility injects axe-core into the page (once) and runs it in
// the given colour scheme, failing the test for each violation of a WCAG
// 2 A/AA rule.
func checkAccessibility(t *testing.T, ctx context.Context, axe, scheme string) {
	t.Helper()
	media := emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}}
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, media); err != nil {
		t.Fatalf("emulate %s mode: %v", scheme, err)
	}
	if !eval[bool](t, ctx, `matchMedia('(prefers-color-scheme: `+scheme+`)').matches`) {
		t.Fatalf("the page is not in %s mode", scheme)
	}
	// The buttons' colours take 0.15 s to change (a CSS transition): axe
	// must see the scheme's colours, not a mix of both.
	poll[bool](t, ctx, "the colours to settle", `document.getAnimations().every(a => !(a instanceof CSSTransition))`, 10*time.Second)
	if !eval[bool](t, ctx, `typeof axe === 'object'`) {
		do(t, ctx, "inject axe-core", chromedp.Evaluate[chromedp.Void](axe))
	}
	tags, _ := json.Marshal(wcagTags)
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	out, err := chromedp.Run(rctx, chromedp.Evaluate[string](`axe.run(document, {
		runOnly: {type: 'tag', values: `+string(tags)+`},
		resultTypes: ['violations'],
	}).then(r => JSON.stringify({version: axe.version, passes: r.passes.length, violations: r.violations}))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("run axe-core: %v", err)
	}
	var res struct {
		Version    string         `json:"version"`
		Passes     int            `json:"passes"`
		Violations []axeViolation `json:"violations"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("axe-core's result: %v", err)
	}
	t.Logf("axe-core %s, %s mode: %d rules passed, %d violated", res.Version, scheme, res.Passes, len(res.Violations))
	for _, v := range res.Violations {
		var nodes []string
		for _, n := range v.Nodes {
			nodes = append(nodes, fmt.Sprintf("%v: %s", n.Target, strings.ReplaceAll(n.FailureSummary, "\n", " ")))
		}
		t.Errorf("%s mode: %s (%s): %s\n  %s", scheme, v.ID, v.Impact, v.Help, strings.Join(nodes, "\n  "))
	}
}

// TestPageAccessibility runs axe-core's WCAG 2 A/AA rules on the real page
// in headless Chromium, in dark and in light mode, in what a user sees of
// a test: camera (no users): its live preview, a recording under way (the
// REC badge, Stop, the row being recorded) and a finished one in the list
// (Play, Download, Delete); and of a camera that is not there (the
// overlay, Record disabled). No violation (Lighthouse's accessibility
// score 1.0: the green "live" and "Streaming" were 2.8:1 on the light
// theme), and nothing in the console (its best-practices score: the page
// asked a test: camera for its controls and got a 404).
func TestPageAccessibility(t *testing.T) {
	requireTool(t, "ffmpeg")
	axe := axeScript(t)

	t.Run("streaming and recording", func(t *testing.T) {
		d := startCamrec(t, "-device", "test:", "-size", "640x360")
		waitStreaming(t, d)
		record(t, d, "cam0", time.Second)
		var st recordingState
		if code, b := d.do(t, "PUT", "/api/v1/cameras/cam0/recording", `{"active": true}`, &st); code != 200 || !st.Active {
			t.Fatalf("start: %d %s", code, b)
		}
		ctx := newBrowser(t)
		console := watchConsole(t, ctx)
		do(t, ctx, "open the page", chromedp.Navigate(d.URL+"/"))
		const card = `[data-camera="cam0"]`
		poll[bool](t, ctx, "the preview's first frame", `document.querySelector('`+card+` img.preview')?.naturalWidth > 0`, 30*time.Second)
		poll[bool](t, ctx, "the recording on the card", `(() => { const b = document.querySelector('`+card+` .record-toggle'); return b.classList.contains('on') && !b.disabled && !document.querySelector('`+card+` .rec-badge').hidden; })()`, 30*time.Second)
		poll[bool](t, ctx, "both recordings in the list", `document.querySelectorAll('#recordings li[data-state="complete"]').length === 1 && document.querySelectorAll('#recordings li[data-state="recording"]').length === 1`, 30*time.Second)
		poll[bool](t, ctx, "the page live", `document.body.dataset.live === 'events' && document.querySelector('#conn').textContent === 'live'`, 30*time.Second)
		poll[bool](t, ctx, "the card to count this page", `/ 1 viewer$/.test(document.querySelector('`+card+` .meta').textContent)`, 30*time.Second)
		checkAccessibility(t, ctx, axe, "dark")
		checkAccessibility(t, ctx, axe, "light")
		for _, m := range console.all() {
			t.Errorf("the console shows an error: %s", m)
		}
	})

	t.Run("camera missing", func(t *testing.T) {
		d := startCamrec(t, "-device", missingDevice)
		ctx := newBrowser(t)
		console := watchConsole(t, ctx)
		do(t, ctx, "open the page", chromedp.Navigate(d.URL+"/"))
		poll[bool](t, ctx, "the overlay and Record disabled", `(() => { const c = document.querySelector('[data-camera="cam0"]'); return c && !c.querySelector('.overlay').hidden && c.querySelector('.record-toggle').disabled && document.body.dataset.live === 'events'; })()`, 30*time.Second)
		checkAccessibility(t, ctx, axe, "dark")
		checkAccessibility(t, ctx, axe, "light")
		for _, m := range console.all() {
			t.Errorf("the console shows an error: %s", m)
		}
	})
}
