package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/camrec/camrec/internal/auth"
)

// Identities of the secured daemon every security test starts.
const (
	operatorUser = "alice"
	operatorPass = "alice-Secret-1"
	viewerUser   = "bob"
	viewerPass   = "bob-Secret-2"
)

// secured is a camrec with two cameras (cam0, garage) and an auth file:
// alice (operator), bob (viewer), an operator token, a viewer token and an
// operator token limited to garage.
type secured struct {
	*Daemon
	OperatorToken, ViewerToken, GarageToken string
	AuthFile                                string
}

// writeAuthFile writes an auth file (mode 0600) and returns its path and
// the tokens in it; the third token is limited to camera limitedTo.
// Password hashes use the lowest cost camrec accepts (auth.MinPasswordCost),
// each made once per test binary.
func writeAuthFile(t *testing.T, limitedTo string) (path, opTok, viewTok, garageTok string) {
	t.Helper()
	hash := func(pw string) string { return testHash(t, pw) }
	tok := func() (string, string) {
		tk, h, err := auth.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		return tk, h
	}
	opTok, opHash := tok()
	viewTok, viewHash := tok()
	garageTok, garageHash := tok()
	body := fmt.Sprintf(`users:
  - {name: %s, password_hash: %q, role: operator}
  - {name: %s, password_hash: %q, role: viewer}
tokens:
  - {name: scripts, token_hash: %q, role: operator}
  - {name: dashboard, token_hash: %q, role: viewer}
  - {name: garage-only, token_hash: %q, role: operator, cameras: [%s]}
`, operatorUser, hash(operatorPass), viewerUser, hash(viewerPass), opHash, viewHash, garageHash, limitedTo)
	path = filepath.Join(t.TempDir(), "auth.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, opTok, viewTok, garageTok
}

// testHashes caches the bcrypt hash of each test password.
var testHashes sync.Map

// testHash returns a bcrypt hash of pw at auth.MinPasswordCost.
func testHash(t testing.TB, pw string) string {
	t.Helper()
	if h, ok := testHashes.Load(pw); ok {
		return h.(string)
	}
	b, err := bcrypt.GenerateFromPassword([]byte(pw), auth.MinPasswordCost)
	if err != nil {
		t.Fatal(err)
	}
	testHashes.Store(pw, string(b))
	return string(b)
}

// twoCameraConfig writes a config with cam0 and garage on test: sources.
func twoCameraConfig(t *testing.T, extra string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "camrec.yaml")
	body := "cameras:\n  - {name: cam0, device: \"test:\", size: 320x240, fps: 15}\n  - {name: garage, device: \"test:\", size: 320x240, fps: 15}\n" + extra
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startSecured starts camrec with the auth file and two cameras; args are
// added.
func startSecured(t *testing.T, args ...string) *secured {
	t.Helper()
	path, op, view, garage := writeAuthFile(t, "garage")
	args = append([]string{"-config", twoCameraConfig(t, ""), "-auth-file", path}, args...)
	d := startCamrec(t, args...)
	return &secured{Daemon: d, OperatorToken: op, ViewerToken: view, GarageToken: garage, AuthFile: path}
}

// cred is how a request authenticates.
type cred struct {
	name   string
	header [2]string // a header to set, e.g. Authorization
	cookie string    // a session cookie value
	query  string    // appended to the URL: token=...
}

func basicCred(user, pass string) cred {
	r, _ := http.NewRequest("GET", "http://x/", nil)
	r.SetBasicAuth(user, pass)
	return cred{name: user, header: [2]string{"Authorization", r.Header.Get("Authorization")}}
}

func bearerCred(name, tok string) cred {
	return cred{name: name, header: [2]string{"Authorization", "Bearer " + tok}}
}

// noRedirects is a client that shows redirects instead of following them.
// Its answers are checked against the API's contract, like apiClient's.
var noRedirects = &http.Client{
	Transport:     contract.Transport(nil),
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// request sends one request with credentials and headers ("Host" sets the
// Host header) and returns the status, headers and body (bodies of streams
// are not read).
func (d *Daemon) request(t *testing.T, method, path, body string, c cred, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	return d.requestVia(t, noRedirects, method, path, body, c, hdr...)
}

// requestVia is request through the given client (e.g. another source
// address).
func (d *Daemon) requestVia(t *testing.T, client *http.Client, method, path, body string, c cred, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := d.URL + path
	if c.query != "" {
		if strings.Contains(path, "?") {
			url += "&" + c.query
		} else {
			url += "?" + c.query
		}
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.header[0] != "" {
		req.Header.Set(c.header[0], c.header[1])
	}
	if c.cookie != "" {
		req.AddCookie(&http.Cookie{Name: "camrec_session", Value: c.cookie})
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var b []byte
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "multipart/") {
		b, _ = io.ReadAll(resp.Body)
	}
	return resp.StatusCode, resp.Header, b
}

// awaitStreaming waits until camera cam streams, asking with c: a
// recording can only start on a camera that delivers frames.
func (d *Daemon) awaitStreaming(t *testing.T, cam string, c cred) {
	t.Helper()
	waitFor(t, 20*time.Second, cam+" streaming", func() bool {
		var st cameraStatus
		_, _, b := d.request(t, "GET", "/api/v1/cameras/"+cam, "", c)
		return json.Unmarshal(b, &st) == nil && st.State == "streaming"
	})
}

// awaitFinished waits until cam's stopped recording is no longer finishing
// (a stop may answer while ffmpeg still finishes the file, which until then
// cannot be deleted).
func (d *Daemon) awaitFinished(t *testing.T, cam string, c cred) {
	t.Helper()
	waitFor(t, 30*time.Second, cam+"'s recording to be finished", func() bool {
		var st recordingState
		_, _, b := d.request(t, "GET", "/api/v1/cameras/"+cam+"/recording", "", c)
		return json.Unmarshal(b, &st) == nil && st.State != "" && st.State != "finishing"
	})
}

// login posts the login form and returns the session cookie's value ("" if
// none was set) and the status.
func (d *Daemon) login(t *testing.T, user, pass string, hdr ...string) (string, int) {
	t.Helper()
	form := "username=" + user + "&password=" + pass
	req, err := http.NewRequest("POST", d.URL+"/login", strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	for _, ck := range resp.Cookies() {
		if ck.Name == "camrec_session" && ck.Value != "" {
			return ck.Value, resp.StatusCode
		}
	}
	return "", resp.StatusCode
}
