package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/tlsreload"
)

// recordBoth makes one recording on cam0 and one on garage as the operator
// and returns their ids.
func recordBoth(t *testing.T, d *secured) (cam0ID, garageID string) {
	t.Helper()
	op := basicCred(operatorUser, operatorPass)
	ids := map[string]string{}
	for _, cam := range []string{"cam0", "garage"} {
		d.awaitStreaming(t, cam, op)
		code, _, b := d.request(t, "PUT", "/api/v1/cameras/"+cam+"/recording", `{"active": true}`, op)
		var st recordingState
		if code != 200 || json.Unmarshal(b, &st) != nil || !st.Active {
			t.Fatalf("start %s: %d %s", cam, code, b)
		}
		ids[cam] = st.ID
	}
	for _, cam := range []string{"cam0", "garage"} {
		waitFor(t, 20*time.Second, cam+" to record frames", func() bool {
			var st recordingState
			_, _, b := d.request(t, "GET", "/api/v1/cameras/"+cam+"/recording", "", op)
			return json.Unmarshal(b, &st) == nil && st.Frames >= 10
		})
		if code, _, b := d.request(t, "PUT", "/api/v1/cameras/"+cam+"/recording", `{"active": false}`, op); code != 200 {
			t.Fatalf("stop %s: %d %s", cam, code, b)
		}
		d.awaitFinished(t, cam, op)
	}
	return ids["cam0"], ids["garage"]
}

// recordOnce records a few frames on cam0 of a daemon without users and
// returns the recording's id.
func recordOnce(t *testing.T, d *Daemon) string {
	t.Helper()
	d.awaitStreaming(t, "cam0", cred{})
	if code, _, b := d.request(t, "PUT", "/api/v1/cameras/cam0/recording", `{"active":true}`, cred{}); code != 200 {
		t.Fatalf("start: %d %s", code, b)
	}
	var st recordingState
	waitFor(t, 20*time.Second, "frames recorded", func() bool {
		_, _, b := d.request(t, "GET", "/api/v1/cameras/cam0/recording", "", cred{})
		return json.Unmarshal(b, &st) == nil && st.Frames >= 10
	})
	if code, _, b := d.request(t, "PUT", "/api/v1/cameras/cam0/recording", `{"active":false}`, cred{}); code != 200 {
		t.Fatalf("stop: %d %s", code, b)
	}
	d.awaitFinished(t, "cam0", cred{})
	return st.ID
}

// diskState lists the record dir's files with their sizes.
func diskState(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		out = append(out, fmt.Sprintf("%s %d", strings.TrimPrefix(p, dir), fi.Size()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// fromAddr is a client whose connections come from the given loopback
// address, so the login throttle sees another client.
func fromAddr(ip string) *http.Client {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	return &http.Client{
		Transport:     contract.Transport(&http.Transport{DialContext: dialer.DialContext}),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
}

// TestAccessMatrix sends every endpoint with every kind of caller over
// real HTTP to the built binary and checks the status; then that nothing
// on disk or in the cameras' state changed through the refused requests,
// and that no log line holds a password, token or session id.
func TestAccessMatrix(t *testing.T) {
	requireTool(t, "ffmpeg")
	d := startSecured(t, "-log-level", "debug")
	cam0ID, garageID := recordBoth(t, d)
	// Both finished and remuxed (the remux rewrites file and sidecar).
	waitFor(t, 20*time.Second, "both recordings remuxed", func() bool {
		return strings.Count(d.Log(), `msg="recording remuxed"`) == 2
	})

	live, code := d.login(t, operatorUser, operatorPass)
	if live == "" || code != http.StatusSeeOther {
		t.Fatalf("login: %d, cookie %q", code, live)
	}
	old, _ := d.login(t, viewerUser, viewerPass)
	if code, _, _ := d.request(t, "POST", "/logout", "", cred{cookie: old}); code != http.StatusSeeOther {
		t.Fatalf("logout: %d", code)
	}

	creds := []cred{
		{name: "none"},
		basicCred(operatorUser, "wrong-password"),
		basicCred(viewerUser, viewerPass),
		basicCred(operatorUser, operatorPass),
		bearerCred("garage-only token", d.GarageToken),
		{name: "logged-out session", cookie: old},
		{name: "operator session", cookie: live},
	}
	creds[1].name = "wrong password"
	const skip = 0
	pageRow := [7]int{303, 401, 200, 200, 200, 303, 200}
	public := [7]int{200, 200, 200, 200, 200, 200, 200}
	all := [7]int{401, 401, 200, 200, 200, 401, 200}
	cam0 := [7]int{401, 401, 200, 200, 404, 401, 200}
	rows := []struct {
		method, path, body string
		want               [7]int
	}{
		{"GET", "/", "", pageRow},
		{"HEAD", "/", "", pageRow},
		{"GET", "/login", "", [7]int{200, 200, 200, 200, 200, 200, 303}},
		{"GET", "/static/app.js", "", public},
		{"GET", "/static/style.css", "", public},
		// Public, but credentials sent are checked (the identity's
		// cameras are named when one is down).
		{"GET", "/healthz", "", [7]int{200, 401, 200, 200, 200, 200, 200}},
		{"HEAD", "/healthz", "", [7]int{200, 401, 200, 200, 200, 200, 200}},
		// The event stream never ends: refusals only (TestEvents reads it).
		{"GET", "/api/v1/events", "", [7]int{401, 401, skip, skip, skip, 401, skip}},
		// Metrics cover every camera: not for a camera-limited token.
		{"GET", "/metrics", "", [7]int{401, 401, 200, 200, 403, 401, 200}},
		{"GET", "/api/v1/version", "", all},
		{"GET", "/api/v1/openapi.json", "", all},
		{"GET", "/api/v1/me", "", all},
		{"GET", "/api/v1/cameras", "", all},
		{"GET", "/api/v1/cameras/cam0", "", cam0},
		{"GET", "/api/v1/cameras/garage", "", all},
		{"GET", "/api/v1/cameras/cam0/snapshot.jpg", "", cam0},
		{"HEAD", "/api/v1/cameras/cam0/snapshot.jpg", "", cam0},
		{"GET", "/snapshot.jpg", "", all},
		{"GET", "/api/v1/cameras/cam0/stream.mjpg", "", cam0},
		{"HEAD", "/api/v1/cameras/cam0/stream.mjpg", "", cam0},
		{"GET", "/stream.mjpg?fps=1", "", all},
		{"GET", "/api/v1/cameras/cam0/recording", "", cam0},
		{"PUT", "/api/v1/cameras/cam0/recording", `{"active": false}`, [7]int{401, 401, 403, 200, 404, 401, 200}},
		{"POST", "/api/v1/cameras/cam0/recording", `{"active": false}`, [7]int{401, 401, 403, 200, 404, 401, 200}},
		{"PUT", "/api/v1/cameras/garage/recording", `{"active": false}`, [7]int{401, 401, 403, 200, 200, 401, 200}},
		{"GET", "/api/v1/cameras/cam0/controls", "", [7]int{401, 401, 404, 404, 404, 401, 404}},
		{"PUT", "/api/v1/cameras/cam0/controls", `{"name": "brightness", "value": 1}`, [7]int{401, 401, 403, 404, 404, 401, 404}},
		// No motion detection in this daemon: allowed callers learn that
		// (409); TestMotionAccess has it on.
		{"GET", "/api/v1/cameras/cam0/motion", "", [7]int{401, 401, 409, 409, 404, 401, 409}},
		{"PUT", "/api/v1/cameras/cam0/motion", `{"armed": false}`, [7]int{401, 401, 403, 409, 404, 401, 409}},
		{"GET", "/api/v1/motion-events", "", all},
		{"GET", "/api/v1/motion-events?camera=cam0", "", cam0},
		{"GET", "/api/v1/motion-events/cam0-20261208T120000.000Z", "", [7]int{401, 401, 404, 404, 404, 401, 404}},
		{"GET", "/api/v1/motion-events/cam0-20261208T120000.000Z/snapshot.jpg", "", [7]int{401, 401, 404, 404, 404, 401, 404}},
		{"DELETE", "/api/v1/motion-events/cam0-20261208T120000.000Z", "", [7]int{401, 401, 403, 404, 404, 401, 404}},
		{"GET", "/api/v1/recordings", "", all},
		{"GET", "/api/v1/recordings?camera=cam0", "", cam0},
		{"GET", "/api/v1/recordings/" + cam0ID, "", cam0},
		{"GET", "/api/v1/recordings/" + cam0ID + "/file", "", cam0},
		{"HEAD", "/api/v1/recordings/" + cam0ID + "/file", "", cam0},
		{"GET", "/api/v1/recordings/" + garageID + "/file", "", all},
		{"DELETE", "/api/v1/recordings/" + cam0ID, "", [7]int{401, 401, 403, skip, 404, 401, skip}},
		{"DELETE", "/api/v1/recordings/" + garageID, "", [7]int{401, 401, 403, skip, skip, 401, skip}},
		{"GET", "/api/v1/nope", "", [7]int{401, 401, 404, 404, 404, 401, 404}},
	}

	before := diskState(t, d.RecordDir)
	// The wrong password comes from its own address: the throttle then
	// answers it 429 after five tries without locking out the others.
	wrongClient := fromAddr("127.0.0.3")
	var table strings.Builder
	fmt.Fprintf(&table, "| request |")
	for _, c := range creds {
		fmt.Fprintf(&table, " %s |", c.name)
	}
	table.WriteString("\n")
	for _, r := range rows {
		fmt.Fprintf(&table, "| %s %s |", r.method, strings.ReplaceAll(strings.ReplaceAll(r.path, cam0ID, "{cam0-id}"), garageID, "{garage-id}"))
		for i, c := range creds {
			if r.want[i] == skip {
				table.WriteString(" (below) |")
				continue
			}
			var got int
			var body []byte
			var hdr http.Header
			if c.name == "wrong password" {
				got, hdr, body = d.requestVia(t, wrongClient, r.method, r.path, r.body, c)
			} else {
				got, hdr, body = d.request(t, r.method, r.path, r.body, c)
			}
			want := r.want[i]
			ok := got == want || (c.name == "wrong password" && want == 401 && got == 429)
			if !ok {
				t.Errorf("%s %s as %s: %d, want %d; body %.200s", r.method, r.path, c.name, got, want, body)
			}
			if got == 401 && hdr.Get("WWW-Authenticate") != `Basic realm="camrec", charset="UTF-8"` {
				t.Errorf("%s %s as %s: 401 without the Basic challenge", r.method, r.path, c.name)
			}
			if (got == 401 || got == 403 || got == 404) && r.method != "HEAD" && !json.Valid(body) {
				t.Errorf("%s %s as %s: %d body %q is not JSON", r.method, r.path, c.name, got, body)
			}
			if got == 303 && r.path == "/" && hdr.Get("Location") != "/login" {
				t.Errorf("GET / as %s: redirected to %q", c.name, hdr.Get("Location"))
			}
			fmt.Fprintf(&table, " %d |", got)
		}
		table.WriteString("\n")
	}
	t.Logf("status matrix:\n%s", table.String())

	if after := diskState(t, d.RecordDir); !slices.Equal(before, after) {
		t.Errorf("refused requests changed the record dir:\nbefore %v\nafter  %v", before, after)
	}
	op := basicCred(operatorUser, operatorPass)
	for _, cam := range []string{"cam0", "garage"} {
		var st recordingState
		_, _, b := d.request(t, "GET", "/api/v1/cameras/"+cam+"/recording", "", op)
		if json.Unmarshal(b, &st) != nil || st.Active {
			t.Errorf("%s recording after the matrix: %s", cam, b)
		}
	}

	// A camera-limited token sees only its camera in lists.
	var cams []cameraStatus
	_, _, b := d.request(t, "GET", "/api/v1/cameras", "", bearerCred("", d.GarageToken))
	if json.Unmarshal(b, &cams) != nil || len(cams) != 1 || cams[0].Name != "garage" {
		t.Errorf("cameras as the garage-only token: %s", b)
	}
	var recs []recording
	_, _, b = d.request(t, "GET", "/api/v1/recordings", "", bearerCred("", d.GarageToken))
	if json.Unmarshal(b, &recs) != nil || len(recs) != 1 || recs[0].ID != garageID {
		t.Errorf("recordings as the garage-only token: %s", b)
	}

	// The deletes the matrix skipped: the limited token deletes its own
	// camera's recording, the operator the other.
	if code, _, b := d.request(t, "DELETE", "/api/v1/recordings/"+garageID, "", bearerCred("", d.GarageToken)); code != 204 {
		t.Errorf("garage-only token deletes a garage recording: %d %s", code, b)
	}
	if code, _, b := d.request(t, "DELETE", "/api/v1/recordings/"+cam0ID, "", op); code != 204 {
		t.Errorf("operator deletes: %d %s", code, b)
	}

	// ?token= works on streams and snapshots only.
	for _, tc := range []struct {
		path string
		tok  string
		want int
	}{
		{"/api/v1/cameras/cam0/snapshot.jpg", d.ViewerToken, 200},
		{"/snapshot.jpg", d.ViewerToken, 200},
		{"/api/v1/cameras/cam0/stream.mjpg", d.ViewerToken, 200},
		{"/api/v1/cameras/cam0/snapshot.jpg", d.ViewerToken + "x", 401},
		{"/api/v1/cameras/cam0/snapshot.jpg", "not a token!", 401},
		{"/api/v1/cameras", d.ViewerToken, 401},
		{"/api/v1/recordings", d.OperatorToken, 401},
	} {
		got, _, body := d.request(t, "GET", tc.path, "", cred{query: "token=" + strings.ReplaceAll(tc.tok, " ", "%20")})
		if got != tc.want {
			t.Errorf("GET %s?token=…: %d, want %d; %.200s", tc.path, got, tc.want, body)
		}
	}

	// Nothing secret reached the log, even at debug level (read once the
	// last failure's line is there).
	d.awaitLog(t, `msg="authentication failed" client=127.0.0.3 user=alice via=basic`) // with address and user
	log := d.Log()
	for name, secret := range map[string]string{
		"operator password": operatorPass, "viewer password": viewerPass, "wrong password": "wrong-password",
		"operator token": d.OperatorToken, "viewer token": d.ViewerToken, "garage token": d.GarageToken,
		"live session": live, "old session": old,
	} {
		if strings.Contains(log, secret) {
			t.Errorf("the log contains the %s", name)
		}
	}
}

// TestLoginThrottle: the sixth wrong password within a minute is answered
// 429 with Retry-After, even with the right password; another address
// still logs in.
func TestLoginThrottle(t *testing.T) {
	d := startSecured(t)
	for i := 1; i <= 5; i++ {
		if _, code := d.login(t, operatorUser, fmt.Sprintf("guess-%d", i)); code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d, want 401", i, code)
		}
	}
	form := "username=" + operatorUser + "&password=" + operatorPass
	req, _ := http.NewRequest("POST", d.URL+"/login", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := fromAddr("127.0.0.1").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || len(resp.Cookies()) != 0 {
		t.Fatalf("6th try with the right password: %d, Retry-After %q, cookies %v", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Cookies())
	}
	if !strings.Contains(string(page), "Too many failed logins") {
		t.Errorf("the 429 page does not say why: %.300s", page)
	}
	// Basic auth from the same address is throttled too.
	if code, hdr, _ := d.request(t, "GET", "/api/v1/me", "", basicCred(operatorUser, operatorPass)); code != 429 || hdr.Get("Retry-After") == "" {
		t.Errorf("Basic auth from the locked address: %d", code)
	}
	req, _ = http.NewRequest("POST", d.URL+"/login", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = fromAddr("127.0.0.2").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) == 0 {
		t.Fatalf("right password from another address: %d", resp.StatusCode)
	}
	d.awaitLog(t, `msg="authentication failed" client=127.0.0.1 user=alice via=login_form`) // at warn, with address and user
	if strings.Contains(d.Log(), "guess-") {
		t.Error("the log holds a tried password")
	}
}

// TestSessionCookie: the cookie is HttpOnly and SameSite=Strict, expires,
// and logout ends the session on the server.
func TestSessionCookie(t *testing.T) {
	d := startSecured(t)
	req, _ := http.NewRequest("POST", d.URL+"/login", strings.NewReader("username=bob&password="+viewerPass+"&next=%2Fapi%2Fv1%2Fme"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := fromAddr("127.0.0.1").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/api/v1/me" {
		t.Fatalf("login: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	sc := resp.Header.Get("Set-Cookie")
	for _, want := range []string{"camrec_session=", "HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="} {
		if !strings.Contains(sc, want) {
			t.Errorf("Set-Cookie %q lacks %s", sc, want)
		}
	}
	if strings.Contains(sc, "Secure") {
		t.Errorf("Secure cookie over plain HTTP would never be sent back: %q", sc)
	}
	sid := resp.Cookies()[0].Value
	var me struct{ Name, Role, Via string }
	_, _, b := d.request(t, "GET", "/api/v1/me", "", cred{cookie: sid})
	if json.Unmarshal(b, &me) != nil || me.Name != "bob" || me.Role != "viewer" || me.Via != "session" {
		t.Fatalf("me: %s", b)
	}
	// A login form sent from another site is refused (login CSRF).
	if _, code := d.login(t, operatorUser, operatorPass, "Sec-Fetch-Site", "cross-site"); code != http.StatusForbidden {
		t.Errorf("cross-site login: %d, want 403", code)
	}
	if code, _, _ := d.request(t, "POST", "/logout", "", cred{cookie: sid}, "Origin", "http://evil.example"); code != http.StatusForbidden {
		t.Errorf("cross-site logout: %d, want 403", code)
	}
	if code, _, _ := d.request(t, "GET", "/api/v1/me", "", cred{cookie: sid}); code != 200 {
		t.Errorf("session after refused logout: %d", code)
	}
	code, hdr, _ := d.request(t, "POST", "/logout", "", cred{cookie: sid})
	if code != 303 || hdr.Get("Location") != "/login" || !strings.Contains(hdr.Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("logout: %d %v", code, hdr)
	}
	if code, _, _ := d.request(t, "GET", "/api/v1/me", "", cred{cookie: sid}); code != 401 {
		t.Errorf("old cookie after logout: %d, want 401", code)
	}
}

// TestCrossSiteWrites: state-changing requests a browser sends from
// another site are refused, and a text/plain or form body is refused even
// without browser headers.
func TestCrossSiteWrites(t *testing.T) {
	requireTool(t, "ffmpeg")
	d := startSecured(t)
	cam0ID, _ := recordBoth(t, d)
	op := basicCred(operatorUser, operatorPass)
	for _, tc := range []struct {
		name, method, path, body string
		hdr                      []string
		want                     int
	}{
		{"cross-site fetch", "POST", "/api/v1/cameras/cam0/recording", `{"active":true}`, []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"same-site other port", "PUT", "/api/v1/cameras/cam0/recording", `{"active":true}`, []string{"Sec-Fetch-Site", "same-site"}, 403},
		{"foreign Origin", "PUT", "/api/v1/cameras/cam0/recording", `{"active":true}`, []string{"Origin", "http://evil.example"}, 403},
		{"text/plain body", "POST", "/api/v1/cameras/cam0/recording", `{"active":true}`, []string{"Content-Type", "text/plain"}, 415},
		{"form body", "POST", "/api/v1/cameras/cam0/recording", `{"active":true}`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415},
		{"cross-site delete", "DELETE", "/api/v1/recordings/" + cam0ID, "", []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"foreign Origin delete", "DELETE", "/api/v1/recordings/" + cam0ID, "", []string{"Origin", "http://evil.example"}, 403},
		{"cross-site controls", "PUT", "/api/v1/cameras/cam0/controls", `{"name":"brightness","value":1}`, []string{"Sec-Fetch-Site", "cross-site"}, 403},
	} {
		code, _, body := d.request(t, tc.method, tc.path, tc.body, op, tc.hdr...)
		if code != tc.want {
			t.Errorf("%s: %d, want %d; %s", tc.name, code, tc.want, body)
		}
	}
	var st recordingState
	_, _, b := d.request(t, "GET", "/api/v1/cameras/cam0/recording", "", op)
	if json.Unmarshal(b, &st) != nil || st.Active {
		t.Errorf("cam0 records after refused cross-site requests: %s", b)
	}
	if code, _, _ := d.request(t, "GET", "/api/v1/recordings/"+cam0ID, "", op); code != 200 {
		t.Errorf("recording gone after refused cross-site deletes: %d", code)
	}
	// The page's own requests pass.
	if code, _, b := d.request(t, "PUT", "/api/v1/cameras/cam0/recording", `{"active":false}`, op, "Sec-Fetch-Site", "same-origin", "Origin", d.URL); code != 200 {
		t.Errorf("same-origin PUT: %d %s", code, b)
	}
}

// TestDNSRebinding: with the default loopback listen and no users, a
// request naming another host is answered 421 and changes nothing.
func TestDNSRebinding(t *testing.T) {
	requireTool(t, "ffmpeg")
	d := startCamrec(t, "-device", "test:", "-size", "320x240", "-allowed-host", "camrec.test")
	none := cred{}
	id := recordOnce(t, d)
	for _, tc := range []struct {
		method, path, host string
		want               int
	}{
		{"DELETE", "/api/v1/recordings/" + id, "rebind.attacker.example", 421},
		{"GET", "/api/v1/recordings", "evil.example", 421},
		{"GET", "/api/v1/recordings/" + id + "/file", "evil.example:8080", 421},
		{"GET", "/", "evil.example", 421},
		{"GET", "/healthz", "evil.example", 421},
		{"GET", "/api/v1/recordings", "camrec.test", 200},
		{"GET", "/api/v1/recordings", "CamRec.Test.:8080", 200},
		{"GET", "/api/v1/recordings", "localhost", 200},
		{"GET", "/api/v1/recordings", strings.TrimPrefix(d.URL, "http://"), 200},
		{"GET", "/api/v1/recordings", "[::1]:8080", 200},
	} {
		code, _, body := d.request(t, tc.method, tc.path, "", none, "Host", tc.host)
		if code != tc.want {
			t.Errorf("%s %s with Host %s: %d, want %d; %s", tc.method, tc.path, tc.host, code, tc.want, body)
		}
		if code == 421 && !strings.Contains(string(body), "allowed_hosts") {
			t.Errorf("421 body does not say how to allow a name: %s", body)
		}
	}
	if code, _, _ := d.request(t, "GET", "/api/v1/recordings/"+id, "", none); code != 200 {
		t.Fatalf("the recording is gone after a rebinding DELETE: %d", code)
	}
}

// TestTLS serves HTTPS with a self-signed certificate and picks up a new
// certificate without a restart (SIGHUP, and a file change).
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := tlsreload.WriteSelfSigned(cert, key, []string{"127.0.0.1", "localhost"}, 1); err != nil {
		t.Fatal(err)
	}
	d := startSecured(t, "-tls-cert", cert, "-tls-key", key)
	if !strings.HasPrefix(d.URL, "https://") {
		t.Fatalf("URL %s is not https", d.URL)
	}
	serial := func() (int64, int) {
		pem, err := os.ReadFile(cert)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		// Trust whatever is on disk now; a handshake with the old one
		// fails verification and counts as "not yet".
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest("GET", d.URL+"/api/v1/me", nil)
		req.SetBasicAuth(operatorUser, operatorPass)
		resp, err := (&http.Client{Transport: contract.Transport(tr), Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			return 0, 0
		}
		resp.Body.Close()
		return resp.TLS.PeerCertificates[0].SerialNumber.Int64(), resp.StatusCode
	}
	if s, code := serial(); s != 1 || code != 200 {
		t.Fatalf("first certificate: serial %d, status %d", s, code)
	}
	// Cookies are Secure under TLS.
	pem, _ := os.ReadFile(cert)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	req, _ := http.NewRequest("POST", d.URL+"/login", strings.NewReader("username=alice&password="+operatorPass))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c := &http.Client{Transport: contract.Transport(&http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if sc := resp.Header.Get("Set-Cookie"); !strings.Contains(sc, "; Secure") {
		t.Errorf("cookie over TLS is not Secure: %q", sc)
	}

	// Renewed on disk, then SIGHUP.
	if err := tlsreload.WriteSelfSigned(cert, key, []string{"127.0.0.1"}, 2); err != nil {
		t.Fatal(err)
	}
	d.Signal(syscall.SIGHUP)
	waitFor(t, 20*time.Second, "the renewed certificate (SIGHUP)", func() bool { s, _ := serial(); return s == 2 })
	// Renewed again, no signal: picked up from the files' change.
	if err := tlsreload.WriteSelfSigned(cert, key, []string{"127.0.0.1"}, 3); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the renewed certificate (file change)", func() bool { s, _ := serial(); return s == 3 })
	if strings.Contains(d.Log(), "PRIVATE KEY") {
		t.Error("key material in the log")
	}
}

// TestStartRefusals: a network address without users, and an auth file
// other users can read, stop camrec at start-up with exit code 2 and a
// message saying what to do.
func TestStartRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		args func(t *testing.T) []string
		want string
	}{
		{"network without users", func(*testing.T) []string { return []string{"-listen", "0.0.0.0:0"} }, "camrec -hash-password"},
		{"all interfaces without users", func(*testing.T) []string { return []string{"-listen", ":0"} }, "-insecure-no-auth"},
		{"world-readable auth file", func(t *testing.T) []string {
			p, _, _, _ := writeAuthFile(t, "cam0")
			if err := os.Chmod(p, 0o644); err != nil {
				t.Fatal(err)
			}
			return []string{"-auth-file", p}
		}, "readable by other users"},
		{"missing TLS key", func(*testing.T) []string { return []string{"-tls-cert", "/nonexistent.pem"} }, "tls_cert and tls_key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := execCamrec(append(tc.args(t), "-record-dir", t.TempDir())...)
			out, _ := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(out), tc.want) {
				t.Fatalf("exit %d, output:\n%s\nwant exit 2 and %q", code, out, tc.want)
			}
		})
	}
}

// TestInsecureNoAuthIsLoud: -insecure-no-auth starts on a network
// address and says at warn level that nothing protects it.
func TestInsecureNoAuthIsLoud(t *testing.T) {
	d := startCamrec(t, "-listen", "0.0.0.0:0", "-insecure-no-auth")
	waitFor(t, 10*time.Second, "a warning about the exposure", func() bool {
		return strings.Contains(d.Log(), `level=WARN msg=access exposed_to="every IPv4 interface" auth="off (insecure_no_auth`)
	})
	if strings.Contains(d.Log(), "url=http://[::]") {
		t.Error("0.0.0.0 listens on IPv6 too")
	}
}

// TestStreamLimitsAndChurn: past max_clients a stream gets 503 (counted in
// status), and stream clients coming and going do not flood the log.
func TestStreamLimitsAndChurn(t *testing.T) {
	d := startCamrec(t, "-device", "test:", "-size", "320x240", "-max-clients", "2")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	open := func() *http.Response {
		req, _ := http.NewRequestWithContext(ctx, "GET", d.URL+"/api/v1/cameras/cam0/stream.mjpg", nil)
		resp, err := apiClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	a, b := open(), open()
	defer a.Body.Close()
	defer b.Body.Close()
	if a.StatusCode != 200 || b.StatusCode != 200 {
		t.Fatalf("streams: %d %d", a.StatusCode, b.StatusCode)
	}
	// Reading a part proves each stream is live.
	for _, r := range []*http.Response{a, b} {
		if _, err := bufio.NewReader(r.Body).ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	c := open()
	body, _ := io.ReadAll(c.Body)
	c.Body.Close()
	if c.StatusCode != 503 || !strings.Contains(string(body), "max_clients") {
		t.Fatalf("third stream: %d %s, want 503", c.StatusCode, body)
	}
	var st struct {
		Clients        int    `json:"clients"`
		ClientsRefused uint64 `json:"clients_refused"`
	}
	d.do(t, "GET", "/api/v1/cameras/cam0", "", &st)
	if st.ClientsRefused != 1 {
		t.Errorf("clients_refused %d, want 1", st.ClientsRefused)
	}
	a.Body.Close()
	b.Body.Close()
	waitFor(t, 10*time.Second, "the streams to close", func() bool {
		d.do(t, "GET", "/api/v1/cameras/cam0", "", &st)
		return st.Clients == 0
	})

	lines := strings.Count(d.Log(), "\n")
	for range 200 {
		r := open()
		bufio.NewReader(r.Body).ReadString('\n')
		r.Body.Close()
	}
	waitFor(t, 10*time.Second, "the streams to close", func() bool {
		d.do(t, "GET", "/api/v1/cameras/cam0", "", &st)
		return st.Clients == 0
	})
	if n := strings.Count(d.Log(), "\n") - lines; n > 5 {
		t.Errorf("200 stream connections wrote %d log lines at info:\n%s", n, d.Log())
	}
}

// TestHeadAndHeaders: HEAD is answered like GET without a body (monitors),
// and the security headers are there.
func TestHeadAndHeaders(t *testing.T) {
	d := startCamrec(t, "-device", "test:", "-size", "320x240")
	waitFor(t, 10*time.Second, "a frame", func() bool {
		code, _, _ := d.request(t, "GET", "/snapshot.jpg", "", cred{})
		return code == 200
	})
	for _, p := range []string{"/", "/healthz", "/snapshot.jpg", "/api/v1/cameras/cam0/snapshot.jpg", "/api/v1/cameras", "/stream.mjpg"} {
		code, hdr, body := d.request(t, "HEAD", p, "", cred{})
		if code != 200 || len(body) != 0 {
			t.Errorf("HEAD %s: %d with %d bytes", p, code, len(body))
		}
		if hdr.Get("X-Content-Type-Options") != "nosniff" || hdr.Get("Referrer-Policy") != "same-origin" {
			t.Errorf("HEAD %s: headers %v", p, hdr)
		}
	}
	_, hdr, _ := d.request(t, "GET", "/", "", cred{})
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("page CSP %q", csp)
	}
	_, hdr, _ = d.request(t, "GET", "/api/v1/cameras", "", cred{})
	if hdr.Get("Cache-Control") != "no-store" {
		t.Errorf("API Cache-Control %q", hdr.Get("Cache-Control"))
	}
	_, hdr, _ = d.request(t, "GET", "/snapshot.jpg", "", cred{})
	if hdr.Get("Content-Security-Policy") != "" || hdr.Get("X-Frame-Options") != "" {
		t.Errorf("snapshots must stay embeddable: %v", hdr)
	}
}

// TestRecordingFileSwappedForSymlink: a recording replaced by a link to a
// file outside the record dir after start-up is not served.
func TestRecordingFileSwappedForSymlink(t *testing.T) {
	requireTool(t, "ffmpeg")
	d := startCamrec(t, "-device", "test:", "-size", "320x240")
	none := cred{}
	id := recordOnce(t, d)
	waitFor(t, 20*time.Second, "the remux", func() bool { return strings.Contains(d.Log(), `msg="recording remuxed"`) })

	secret := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(secret, []byte("TOP-SECRET-CONTENT"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(d.RecordDir, "cam0", id)
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, file); err != nil {
		t.Fatal(err)
	}
	code, _, body := d.request(t, "GET", "/api/v1/recordings/"+id+"/file", "", none)
	if code != 404 || strings.Contains(string(body), "TOP-SECRET") {
		t.Fatalf("symlinked recording: %d %.200s, want 404 without the target's content", code, body)
	}
	if b, _ := os.ReadFile(secret); string(b) != "TOP-SECRET-CONTENT" {
		t.Fatal("the link's target was changed")
	}
}

// TestUnwritableRecordDirIs503: when the recording's file cannot be made,
// starting answers 503 with the reason (the README's "cannot record now"),
// and nothing on disk is lost.
func TestUnwritableRecordDirIs503(t *testing.T) {
	requireTool(t, "ffmpeg")
	dir := t.TempDir()
	// Tests run as root, which ignores mode bits: a file where the
	// camera's folder belongs makes every create fail.
	if err := os.WriteFile(filepath.Join(dir, "cam0"), []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startCamrec(t, "-device", "test:", "-size", "320x240", "-record-dir", dir)
	waitFor(t, 10*time.Second, "a frame", func() bool {
		code, _, _ := d.request(t, "GET", "/snapshot.jpg", "", cred{})
		return code == 200
	})
	code, _, body := d.request(t, "PUT", "/api/v1/cameras/cam0/recording", `{"active":true}`, cred{})
	if code != 503 || !strings.Contains(string(body), "cam0") {
		t.Fatalf("start with an unwritable record dir: %d %s, want 503 naming the cause", code, body)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "cam0")); err != nil || string(b) != "keep me" {
		t.Fatalf("the file in the way was changed: %q %v", b, err)
	}
}

// TestSlowClientsAreCut: a client that sends its headers a byte at a time
// (slowloris) is disconnected instead of holding the connection.
func TestSlowClientsAreCut(t *testing.T) {
	d := startCamrec(t, "-device", "test:", "-size", "320x240")
	conn, err := net.Dial("tcp", strings.TrimPrefix(d.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /api/v1/cameras HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")); err != nil {
		t.Fatal(err)
	}
	// The server must close the connection (or answer 408) by itself; the
	// deadline here is only this test's patience.
	if err := conn.SetReadDeadline(time.Now().Add(60 * time.Second)); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("a client that never finishes its headers still holds its connection after 60 s")
	}
	if len(b) > 0 && !strings.HasPrefix(string(b), "HTTP/1.1 408") {
		t.Fatalf("answer to unfinished headers: %.100q", b)
	}
}

// TestNotFoundNamesTheIDOnce: error texts say what is missing, once.
func TestNotFoundNamesTheIDOnce(t *testing.T) {
	d := startCamrec(t, "-device", "test:", "-size", "320x240")
	const id = "cam0-19990101-000000.mp4"
	for _, p := range []string{"/api/v1/recordings/" + id, "/api/v1/recordings/" + id + "/file"} {
		code, _, body := d.request(t, "GET", p, "", cred{})
		if code != 404 || strings.Count(string(body), id) != 1 {
			t.Errorf("GET %s: %d %s, want 404 naming the id once", p, code, body)
		}
	}
	code, _, body := d.request(t, "DELETE", "/api/v1/recordings/"+id, "", cred{})
	if code != 404 || strings.Count(string(body), id) != 1 {
		t.Errorf("DELETE: %d %s, want 404 naming the id once", code, body)
	}
}

// TestHashPasswordAndNewToken: the two tool modes print entries that
// camrec then accepts, and keep secrets off stdout's config snippet.
func TestHashPasswordAndNewToken(t *testing.T) {
	cmd := execCamrec("-hash-password", "-user", "carol", "-role", "viewer")
	cmd.Stdin = strings.NewReader("carol-Secret-3\n")
	users, err := cmd.Output()
	if err != nil {
		t.Fatalf("-hash-password: %v", err)
	}
	if strings.Contains(string(users), "carol-Secret-3") || !strings.Contains(string(users), `password_hash: "$2a$12$`) {
		t.Fatalf("-hash-password printed %q", users)
	}
	cmd = execCamrec("-new-token", "-user", "scripts")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	tokens, err := cmd.Output()
	if err != nil {
		t.Fatalf("-new-token: %v", err)
	}
	tok := ""
	for _, f := range strings.Fields(stderr.String()) {
		if strings.HasPrefix(f, "camrec_") {
			tok = f
		}
	}
	if tok == "" || strings.Contains(string(tokens), tok) || !strings.Contains(string(tokens), `token_hash: "sha256:`) {
		t.Fatalf("-new-token: stdout %q, stderr %q", tokens, stderr.String())
	}
	path := filepath.Join(t.TempDir(), "auth.yaml")
	if err := os.WriteFile(path, []byte("users:\n"+string(users)+"tokens:\n"+string(tokens)), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startCamrec(t, "-device", "test:", "-size", "320x240", "-auth-file", path)
	var me struct{ Name, Role string }
	_, _, b := d.request(t, "GET", "/api/v1/me", "", basicCred("carol", "carol-Secret-3"))
	if json.Unmarshal(b, &me) != nil || me.Name != "carol" || me.Role != "viewer" {
		t.Errorf("the printed user: %s", b)
	}
	_, _, b = d.request(t, "GET", "/api/v1/me", "", bearerCred("", tok))
	if json.Unmarshal(b, &me) != nil || me.Name != "scripts" || me.Role != "operator" {
		t.Errorf("the printed token: %s", b)
	}
	cmd = execCamrec("-hash-password")
	cmd.Stdin = strings.NewReader("")
	if out, err := cmd.CombinedOutput(); err == nil || cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), "no password") {
		t.Errorf("-hash-password with nothing on stdin: %v %s", err, out)
	}
}
