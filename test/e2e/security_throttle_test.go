package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// statusCount counts the answers to a batch of requests; err counts
// requests that got no answer (a connection closed at accept).
type statusCount struct {
	mu    sync.Mutex
	codes map[int]int
	err   int
}

func (s *statusCount) add(code int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.codes == nil {
		s.codes = map[int]int{}
	}
	if err != nil {
		s.err++
		return
	}
	s.codes[code]++
}

// basicGet sends GET path with Basic credentials through client and
// returns the status.
func basicGet(d *Daemon, client *http.Client, path, user, pass string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", d.URL+path, nil)
	req.SetBasicAuth(user, pass)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestThrottleConcurrentGuesses: wrong passwords sent at once from one
// address (30, then 300) are counted before they are checked: at most five
// get a verdict (401), the rest are refused at once (429, or a connection
// closed at accept past the bound on unauthenticated connections), and the
// address is locked even for the right password. Before, all got 401.
func TestThrottleConcurrentGuesses(t *testing.T) {
	d := startSecured(t)
	for i, n := range []int{30, 300} {
		addr := fmt.Sprintf("127.0.0.%d", 50+i)
		client := fromAddr(addr)
		var sc statusCount
		var wg sync.WaitGroup
		start := make(chan struct{})
		for j := range n {
			wg.Go(func() {
				<-start
				sc.add(basicGet(d.Daemon, client, "/api/v1/me", operatorUser, fmt.Sprintf("guess-%d", j)))
			})
		}
		close(start)
		wg.Wait()
		t.Logf("%d concurrent wrong passwords from %s: %v, %d without an answer", n, addr, sc.codes, sc.err)
		if sc.codes[401] == 0 || sc.codes[401] > 5 || sc.codes[401]+sc.codes[429]+sc.err != n || sc.codes[429] == 0 {
			t.Errorf("%d concurrent wrong passwords: %v and %d unanswered; want 1-5 checked (401), the rest 429 or refused", n, sc.codes, sc.err)
		}
		// Free failures left by the burst are used up one by one.
		for range 5 {
			basicGet(d.Daemon, client, "/api/v1/me", operatorUser, "again")
		}
		if code, err := basicGet(d.Daemon, client, "/api/v1/me", operatorUser, operatorPass); code != 429 {
			t.Errorf("the right password from %s after the burst: %d %v, want 429", addr, code, err)
		}
	}
}

// TestThrottleSuccessClearsOnlyWhatItProves: from one address, ten rounds
// of four guesses at alice, each followed by a good login as bob and a
// good viewer token: the good logins do not reset the count of guesses at
// alice (before, they did: 40 × 401 and no 429).
func TestThrottleSuccessClearsOnlyWhatItProves(t *testing.T) {
	d := startSecured(t)
	client := fromAddr("127.0.0.60")
	var guesses statusCount
	for range 10 {
		for range 4 {
			guesses.add(basicGet(d.Daemon, client, "/api/v1/me", operatorUser, "guess"))
		}
		basicGet(d.Daemon, client, "/api/v1/me", viewerUser, viewerPass)
		if code, _, _ := d.requestVia(t, client, "GET", "/api/v1/cameras/cam0/snapshot.jpg", "", cred{query: "token=" + d.ViewerToken}); code != 200 {
			t.Fatalf("the viewer token: %d", code)
		}
	}
	t.Logf("40 guesses at alice between good logins as bob: %v", guesses.codes)
	if guesses.codes[401] != 5 || guesses.codes[429] != 35 {
		t.Errorf("guesses at alice: %v, want 5 × 401 then 35 × 429", guesses.codes)
	}
	// bob, who proved his password from here, is not locked out.
	if code, err := basicGet(d.Daemon, client, "/api/v1/me", viewerUser, viewerPass); code != 200 {
		t.Errorf("bob from the address that guessed at alice: %d %v, want 200", code, err)
	}
}

// junkTokenPage is another site's page that loads camrec's snapshot with
// a junk token in every <img> (an attempt to lock the viewer's own address
// out), and sets its title to "done" once all have been answered.
const junkTokenPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>cats</title></head><body>
<script>
const T = %q, N = 40;
let left = N;
for (let i = 0; i < N; i++) {
  const img = document.createElement('img');
  img.onerror = img.onload = () => { if (--left === 0) document.title = 'done'; };
  img.src = T + '/api/v1/cameras/cam0/snapshot.jpg?token=camrec_junk' + i;
  document.body.appendChild(img);
}
</script></body></html>`

// TestThrottleCannotLockOutTheUser: nothing an attacker does locks the
// real user out of her own device.
//   - A page of another site, opened in her browser, loads 40 snapshots
//     with junk tokens (a stale token on the Home Assistant host is the
//     same): tokens are never counted, so she logs in right after.
//   - Guesses at her password from her own address and from 40 others lock
//     those addresses and her account for untrusted clients (a new address
//     gets 429 with the right password), but her browser, which logged in
//     before (device cookie), and the Home Assistant host, whose Basic
//     login succeeded before, still get in.
func TestThrottleCannotLockOutTheUser(t *testing.T) {
	requireTool(t, "ffmpeg")
	d := startSecured(t)
	port := strings.TrimPrefix(d.URL, "http://127.0.0.1:")
	camrec := "http://camrec.lan:" + port

	evil := httpServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, junkTokenPage, camrec)
	})
	ctx := newBrowser(t, chromedp.Flag("host-resolver-rules", "MAP camrec.lan 127.0.0.1, MAP evil.lan 127.0.0.1"))
	do(t, ctx, "open the other site's page", chromedp.Navigate("http://evil.lan:"+evil.port+"/"))
	poll[bool](t, ctx, "the junk-token images to be answered", `document.title === 'done'`, 60*time.Second)

	// Home Assistant (Basic) on another host logs in before the attack.
	ha := fromAddr("127.0.0.70")
	if code, err := basicGet(d.Daemon, ha, "/api/v1/me", operatorUser, operatorPass); code != 200 {
		t.Fatalf("Home Assistant's first login: %d %v", code, err)
	}
	// She logs in through the page right after the junk tokens.
	do(t, ctx, "open camrec's page", chromedp.Navigate(camrec+"/"))
	fillLogin(t, ctx, operatorUser, operatorPass)
	clickAndLoad(t, ctx, "log in after the junk tokens", "#login-submit")
	if p := pathname(t, ctx); p != "/" {
		t.Fatalf("after 40 junk tokens from her own browser her login lands on %q, want /", p)
	}
	// The junk was refused and logged (once: wrong tokens are logged at
	// most every 10 s per address).
	d.awaitLog(t, `msg="authentication failed" client=127.0.0.1 via=token_query`)
	if n := strings.Count(d.Log(), "via=token_query"); n > 2 {
		t.Errorf("%d log lines for 40 junk tokens from one address in a few seconds, want them summed up", n)
	}
	clickAndLoad(t, ctx, "log out", "#logout")

	// The guessing: from her address and from 40 others.
	var sc statusCount
	for range 8 {
		sc.add(basicGet(d.Daemon, fromAddr("127.0.0.1"), "/api/v1/me", operatorUser, "guess"))
	}
	for i := range 40 {
		sc.add(basicGet(d.Daemon, fromAddr(fmt.Sprintf("127.0.1.%d", i+1)), "/api/v1/me", operatorUser, "guess"))
	}
	t.Logf("48 guesses at alice from 41 addresses: %v", sc.codes)
	if sc.codes[429] == 0 {
		t.Fatalf("no guess was throttled: %v", sc.codes)
	}
	if code, _ := basicGet(d.Daemon, fromAddr("127.0.2.1"), "/api/v1/me", operatorUser, operatorPass); code != 429 {
		t.Errorf("the right password from a new address during the attack: %d, want 429 (the account is locked for untrusted clients)", code)
	}
	if code, _ := basicGet(d.Daemon, fromAddr("127.0.0.1"), "/api/v1/me", operatorUser, operatorPass); code != 429 {
		t.Errorf("the right password from the guessing address without a device cookie: %d, want 429", code)
	}
	// Her browser logs in (its device cookie), and Home Assistant goes on.
	fillLogin(t, ctx, operatorUser, operatorPass)
	clickAndLoad(t, ctx, "log in during the attack", "#login-submit")
	if p := pathname(t, ctx); p != "/" {
		t.Errorf("her browser, which logged in before, during the attack: the tab is at %q, want /", p)
	}
	if code, err := basicGet(d.Daemon, ha, "/api/v1/me", operatorUser, operatorPass); code != 200 {
		t.Errorf("Home Assistant's Basic login during the attack: %d %v, want 200", code, err)
	}
	d.awaitLog(t, `msg="logged in" user=alice role=operator client=127.0.0.1 trusted_device=true`)
}

// testServer is a plain HTTP server on loopback for another site's pages.
type testServer struct{ port string }

func httpServer(t *testing.T, h http.HandlerFunc) testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return testServer{port: port}
}

// slowRequest sends a request's headers with Content-Length: 1000 and one
// byte of body from addr, then waits for the answer and for camrec to
// close the connection. It returns the status line, how long the answer
// took and how long until the connection ended.
func slowRequest(t *testing.T, d *Daemon, addr, method, path string, hdr ...string) (status string, answered, closed time.Duration) {
	t.Helper()
	u, _ := url.Parse(d.URL)
	dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(addr)}, Timeout: 10 * time.Second}
	c, err := dialer.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 1000\r\n", method, path, u.Host)
	for i := 0; i+1 < len(hdr); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", hdr[i], hdr[i+1])
	}
	b.WriteString("\r\n{")
	start := time.Now()
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
	// Generous: the point is that it ends at all while the client holds
	// the body back (before, never until the client gave up).
	c.SetReadDeadline(time.Now().Add(90 * time.Second))
	buf := make([]byte, 4096)
	var got []byte
	for {
		n, err := c.Read(buf)
		if n > 0 && got == nil {
			answered = time.Since(start)
		}
		got = append(got, buf[:n]...)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("%s %s with a slow body: the connection is still open after 90 s (%q so far)", method, path, got)
			}
			break
		}
	}
	closed = time.Since(start)
	status, _, _ = strings.Cut(string(got), "\r\n")
	return status, answered, closed
}

// TestSlowBodiesAreCut: a request whose body never comes ends within
// camrec's read timeout whatever the route did with it; a request refused
// before its body was read is answered at once and its connection closed.
// Before, camrec answered only once net/http had read the whole body: a
// client that never sent it held the connection (and its memory) forever.
func TestSlowBodiesAreCut(t *testing.T) {
	d := startSecured(t)
	op := basicCred(operatorUser, operatorPass)
	for _, tc := range []struct {
		name, method, path string
		hdr                []string
		want               string
	}{
		{"login form (read by the handler)", "POST", "/login", []string{"Content-Type", "application/x-www-form-urlencoded"}, "400"},
		{"me, no credentials", "GET", "/api/v1/me", nil, "401"},
		{"recording, no credentials", "PUT", "/api/v1/cameras/cam0/recording", []string{"Content-Type", "application/json"}, "401"},
		{"recording as the operator", "PUT", "/api/v1/cameras/cam0/recording", []string{"Content-Type", "application/json", op.header[0], op.header[1]}, "400"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, answered, closed := slowRequest(t, d.Daemon, "127.0.0.80", tc.method, tc.path, tc.hdr...)
			t.Logf("%q after %v, connection closed after %v", status, answered.Round(time.Millisecond), closed.Round(time.Millisecond))
			if !strings.Contains(status, " "+tc.want+" ") {
				t.Errorf("%s %s with a slow body: %q, want %s", tc.method, tc.path, status, tc.want)
			}
		})
	}
}

// TestUnauthenticatedConnectionsAreBounded: one address opening 200
// connections without authenticating keeps at most 64 of them (the rest
// are closed at accept), while a client elsewhere is served and, once
// logged in, is not counted.
func TestUnauthenticatedConnectionsAreBounded(t *testing.T) {
	d := startSecured(t)
	u, _ := url.Parse(d.URL)
	dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.90")}, Timeout: 10 * time.Second}
	var conns []net.Conn
	for range 200 {
		c, err := dialer.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// Each asks for /healthz (public: it does not authenticate the
	// connection); those closed at accept get no answer.
	answered := 0
	for _, c := range conns {
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: "+u.Host+"\r\n\r\n"); err != nil {
			continue
		}
		buf := make([]byte, 12)
		if _, err := io.ReadFull(c, buf); err == nil && string(buf[:9]) == "HTTP/1.1 " {
			answered++
		}
	}
	t.Logf("200 connections from one address without credentials: %d answered", answered)
	if answered == 0 || answered > 64 {
		t.Errorf("%d of 200 unauthenticated connections from one address were served, want 1-64", answered)
	}
	if code, _, _ := d.request(t, "GET", "/api/v1/me", "", basicCred(viewerUser, viewerPass)); code != 200 {
		t.Errorf("a client at another address meanwhile: %d", code)
	}
}

// TestConcurrentLoginsWithOnePassword: a client opening 20 connections at
// once with the same right password (Home Assistant's cameras after a
// restart, a browser's parallel requests) is let in on all of them: the
// tries share one bcrypt check instead of being refused as too many.
func TestConcurrentLoginsWithOnePassword(t *testing.T) {
	d := startSecured(t)
	client := fromAddr("127.0.0.110")
	var sc statusCount
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 20 {
		wg.Go(func() {
			<-start
			sc.add(basicGet(d.Daemon, client, "/api/v1/me", viewerUser, viewerPass))
		})
	}
	close(start)
	wg.Wait()
	if sc.codes[200] != 20 {
		t.Errorf("20 connections at once with bob's right password: %v, %d unanswered; want 20 × 200", sc.codes, sc.err)
	}
}
