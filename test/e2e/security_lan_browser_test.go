package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/camrec/camrec/internal/testutil"
)

// TestBrowserPageOverPlainHTTPOnTheLAN: the most common home setup — users,
// no TLS — opened as http://camrec.lan:PORT/ (a name Chromium resolves to
// camrec through --host-resolver-rules) and as http://<LAN address>:PORT/.
// Neither is a secure context, so Chromium sends no Sec-Fetch-Site, and with
// "Referrer-Policy: no-referrer" it sent "Origin: null" with the page's own
// POSTs, which the cross-origin check refused: login and logout answered
// 403. Here the page logs in, records and stops, deletes the recording,
// reaches the controls endpoint and logs out; meanwhile a page of another
// site (evil.lan) attempts the same and is refused.
func TestBrowserPageOverPlainHTTPOnTheLAN(t *testing.T) {
	requireTool(t, "ffmpeg")
	lan := testutil.LANAddr(t)
	d := startSecured(t, "-listen", "0.0.0.0:0", "-log-level", "debug")
	u, err := url.Parse(d.URL)
	if err != nil {
		t.Fatal(err)
	}
	port := u.Port()

	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/attack" {
			http.NotFound(w, r)
			return
		}
		q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, attackerPage, q(r.URL.Query().Get("target")), q(r.URL.Query().Get("rec")), q(operatorUser), q(operatorPass))
	}))
	t.Cleanup(evil.Close)
	_, evilPort, _ := net.SplitHostPort(strings.TrimPrefix(evil.URL, "http://"))

	for _, origin := range []struct{ name, base string }{
		{"LAN name", "http://camrec.lan:" + port},
		{"LAN address", "http://" + lan.String() + ":" + port},
	} {
		t.Run(origin.name, func(t *testing.T) {
			ctx := newBrowser(t, chromedp.Flag("host-resolver-rules", "MAP camrec.lan 127.0.0.1, MAP evil.lan 127.0.0.1"))
			do(t, ctx, "open the page", chromedp.Navigate(origin.base+"/"))
			if p := pathname(t, ctx); p != "/login" {
				t.Fatalf("opening %s/ without a session landed on %q, want /login", origin.base, p)
			}
			if secure := eval[bool](t, ctx, `window.isSecureContext`); secure {
				t.Fatalf("%s is a secure context: the test would not show the plain-HTTP case", origin.base)
			}

			// Log in through the form.
			fillLogin(t, ctx, operatorUser, operatorPass)
			clickAndLoad(t, ctx, "log in", "#login-submit")
			if p := pathname(t, ctx); p != "/" {
				t.Fatalf("after logging in at %s the tab is at %q, want /; camrec's log:\n%s", origin.base, p, lastLines(d.Log(), 20))
			}
			poll[bool](t, ctx, "the page to show the user", `document.querySelector('#user-name').textContent === 'alice' && !document.querySelector('#user').hidden`, 30*time.Second)

			// Record, then Stop, with the page's buttons.
			const card = `[data-camera="cam0"]`
			poll[bool](t, ctx, "Record to be enabled", `document.querySelector('`+card+` .record-toggle')?.disabled === false`, 30*time.Second)
			clickJS(t, ctx, "click Record", card+" .record-toggle")
			var st recordingState
			waitFor(t, 30*time.Second, "the API to say cam0 is recording", func() bool {
				st = cam0Recording(t, d)
				return st.Active && st.Frames >= 10
			})
			poll[bool](t, ctx, "the button to offer Stop",
				`(() => { const b = document.querySelector('`+card+` .record-toggle'); return b.classList.contains('on') && !b.disabled && b.textContent.includes('Stop'); })()`, 30*time.Second)
			clickJS(t, ctx, "click Stop", card+" .record-toggle")
			item := fmt.Sprintf(`#recordings li[data-id=%q]`, st.ID)
			poll[bool](t, ctx, "the recording in the list, complete", `document.querySelector('`+item+`')?.dataset.state === 'complete'`, 30*time.Second)

			// The page's own PUT to the controls reaches the handler (a
			// test: camera has none: 404, not the cross-origin 403).
			ctl := poll[int](t, ctx, "the page's PUT to the controls",
				`fetch('/api/v1/cameras/cam0/controls', {method:'PUT', headers:{'Content-Type':'application/json'}, body:'{"name":"brightness","value":1}'}).then(r => r.status)`, 30*time.Second)
			if ctl != http.StatusNotFound {
				t.Errorf("PUT controls from the page: %d, want 404 (the handler's answer for a camera without controls)", ctl)
			}

			// Another site's page, opened in the same browser, attacks.
			tab, cancel := chromedp.NewContext(ctx)
			if err := chromedp.Do(tab); err != nil {
				t.Fatalf("open a tab: %v", err)
			}
			attack := fmt.Sprintf("http://evil.lan:%s/attack?target=%s&rec=%s", evilPort, url.QueryEscape(origin.base), url.QueryEscape(st.ID))
			do(t, tab, "open the attacker's page", chromedp.Navigate(attack))
			poll[bool](t, tab, "the attacker's page to finish its attempts", `document.title === 'done'`, 60*time.Second)
			t.Logf("the attacker saw: %s", strings.Join(eval[[]string](t, tab, `window.results`), "; "))
			cancel()
			if st := cam0Recording(t, d); st.Active {
				t.Errorf("cam0 records after another site's attempts: %+v", st)
			}
			if code, _, _ := d.request(t, "GET", "/api/v1/recordings/"+st.ID, "", basicCred(operatorUser, operatorPass)); code != 200 {
				t.Errorf("the recording is gone after another site's attempts: %d", code)
			}
			do(t, ctx, "back to camrec's page", chromedp.Navigate(origin.base+"/"))
			if p := pathname(t, ctx); p != "/" {
				t.Fatalf("camrec's page after the attack is at %q: the session was lost (a cross-site logout got through)", p)
			}

			// Delete it with the page's button.
			poll[bool](t, ctx, "the recording in the list again", `document.querySelector('`+item+`')?.dataset.state === 'complete'`, 30*time.Second)
			do(t, ctx, "accept confirm dialogs", chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`))
			clickJS(t, ctx, "click Delete", item+" .delete")
			poll[bool](t, ctx, "the recording to leave the list", `document.querySelector('`+item+`') === null`, 30*time.Second)
			if code, _, _ := d.request(t, "GET", "/api/v1/recordings/"+st.ID, "", basicCred(operatorUser, operatorPass)); code != 404 {
				t.Errorf("the deleted recording: GET answered %d, want 404", code)
			}

			// Log out: the form, and the session is over on the server.
			sid := browserCookie(t, ctx, origin.base, "camrec_session")
			clickAndLoad(t, ctx, "click Log out", "#logout")
			if p := pathname(t, ctx); p != "/login" {
				t.Errorf("after logging out the tab is at %q, want /login", p)
			}
			if code, _, _ := d.request(t, "GET", "/api/v1/me", "", cred{cookie: sid}); code != 401 {
				t.Errorf("the session after logout: GET /api/v1/me answered %d, want 401", code)
			}
		})
	}
	// Every attempt of the other site was refused by the cross-origin
	// check: two form POSTs to the recording, one to /logout and one to
	// /login, from each origin.
	for _, want := range []struct {
		line string
		n    int
	}{
		{"method=POST path=/api/v1/cameras/cam0/recording status=403", 4},
		{"method=POST path=/logout status=403", 2},
		{"method=POST path=/login status=403", 2},
	} {
		waitFor(t, 15*time.Second, fmt.Sprintf("%d lines %q in camrec's log", want.n, want.line), func() bool {
			return strings.Count(d.Log(), want.line) >= want.n
		})
	}
}

// browserCookie returns the value of the browser's cookie name for base.
func browserCookie(t *testing.T, ctx context.Context, base, name string) string {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/"}})
	if err != nil {
		t.Fatalf("read the browser's cookies: %v", err)
	}
	for _, c := range res.Cookies {
		if c.Name == name {
			return c.Value
		}
	}
	t.Fatalf("no cookie %s for %s", name, base)
	return ""
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
