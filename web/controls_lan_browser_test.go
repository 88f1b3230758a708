package web_test

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/camrec/camrec/api"
	"github.com/camrec/camrec/internal/auth"
	"github.com/camrec/camrec/internal/testutil"
	"github.com/camrec/camrec/pipeline"
)

// TestControlsPanelOverPlainHTTPOnTheLAN: with users and no TLS, the page
// opened as http://camrec.lan:PORT/ (not a secure context: no
// Sec-Fetch-Site, and Origin only if the referrer policy allows it) logs
// in and sets a camera control through the panel: the PUT passes the
// cross-origin check and reaches the camera.
func TestControlsPanelOverPlainHTTPOnTheLAN(t *testing.T) {
	chromium := testutil.RequireTool(t, "chromium")
	hash, err := bcrypt.GenerateFromPassword([]byte("alice-pw"), auth.MinPasswordCost)
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(auth.Config{Users: []auth.User{{Name: "alice", PasswordHash: string(hash), Role: auth.RoleOperator}}})
	if err != nil {
		t.Fatal(err)
	}
	p := newPanel()
	log := slog.New(slog.DiscardHandler)
	srv := api.New(api.Config{Auth: a, Cameras: []api.Camera{
		{View: pipeline.NewCamera(pipeline.CameraConfig{Name: "cam0", Device: "/dev/video0"}, nil, log), Controls: p},
	}})
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln, nil) }()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("host-resolver-rules", "MAP camrec.lan 127.0.0.1"))
	defer cancelAlloc()
	tab, cancelTab := chromedp.NewContext(actx)
	defer cancelTab() // before Serve stops, which waits for the page's streams
	tab, cancel := context.WithTimeout(tab, 60*time.Second)
	defer cancel()
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(tab, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	base := "http://camrec.lan:" + port
	run("open the login form", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#username")))
	secure, err := chromedp.Run(tab, chromedp.Evaluate[bool](`window.isSecureContext`))
	if err != nil || secure {
		t.Fatalf("%s is a secure context (%v): the test would not show the plain-HTTP case", base, err)
	}
	run("log in",
		chromedp.SetValue(chromedp.CSS("#username"), "alice"),
		chromedp.SetValue(chromedp.CSS("#password"), "alice-pw"),
		chromedp.Click(chromedp.CSS("#login-submit")))
	const cam = `[data-camera="cam0"] `
	run("open the panel", chromedp.WaitVisible(chromedp.CSS(cam+"details.controls summary")),
		chromedp.Click(chromedp.CSS(cam+"details.controls summary")),
		chromedp.WaitVisible(chromedp.CSS(cam+`.ctl[data-key="brightness"] input[type="range"]`)))
	run("move the slider", chromedp.Evaluate[chromedp.Void](`(() => {
		const s = document.querySelector('`+cam+`.ctl[data-key="brightness"] input');
		s.value = 200; s.dispatchEvent(new Event('input')); s.dispatchEvent(new Event('change'));
	})()`))
	testutil.Eventually(t, 20*time.Second, "the slider's PUT to reach the camera", func() bool {
		return p.setCalls() == "brightness=200"
	})
}
