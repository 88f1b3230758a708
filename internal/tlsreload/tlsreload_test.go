package tlsreload

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/testutil"
)

var testHosts = []string{"127.0.0.1", "::1", "localhost"}

// fakeClock is the injected clock; safe for concurrent use.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

type fixture struct {
	t                 *testing.T
	dir               string
	certFile, keyFile string
	clock             *fakeClock
	logs              *testutil.SyncBuffer
	r                 *Reloader
	pool              *x509.CertPool // certificates the client trusts
	addr              string
}

// newFixture writes a pair with serial 1, creates a Reloader with a fake
// clock and a captured log, and serves HTTPS on loopback with r.TLSConfig().
func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{
		t:        t,
		dir:      dir,
		certFile: filepath.Join(dir, "cert.pem"),
		keyFile:  filepath.Join(dir, "key.pem"),
		clock:    newFakeClock(),
		logs:     &testutil.SyncBuffer{},
		pool:     x509.NewCertPool(),
	}
	f.writePair(1)
	logger := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r, err := New(f.certFile, f.keyFile, logger)
	if err != nil {
		t.Fatal(err)
	}
	r.now = f.clock.now
	r.lastCheck = f.clock.now()
	f.r = r

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, "ok")
		}),
		ErrorLog: log.New(io.Discard, "", 0), // refused TLS 1.1 handshakes
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(tls.NewListener(ln, r.TLSConfig()))
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	f.addr = ln.Addr().String()
	return f
}

// mtimeSeq makes every written pair's modification times distinct, whatever
// the file system's timestamp granularity.
var mtimeSeq atomic.Int64

func (f *fixture) touch(names ...string) {
	f.t.Helper()
	mt := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(mtimeSeq.Add(1)) * time.Minute)
	for _, n := range names {
		if err := os.Chtimes(n, mt, mt); err != nil {
			f.t.Fatal(err)
		}
	}
}

// writePair writes a new pair with the serial, trusts it and gives both files
// new modification times.
func (f *fixture) writePair(serial int64) {
	f.t.Helper()
	if err := WriteSelfSigned(f.certFile, f.keyFile, testHosts, serial); err != nil {
		f.t.Fatal(err)
	}
	f.touch(f.certFile, f.keyFile)
	f.pool.AddCert(readCert(f.t, f.certFile))
}

func readCert(t *testing.T, name string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s: no CERTIFICATE block", name)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// serial makes a request on a new connection and returns the serial number of
// the certificate the server presented.
func (f *fixture) serial() int64 {
	f.t.Helper()
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: f.pool.Clone()},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	resp, err := client.Get("https://" + f.addr + "/")
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err != nil {
		f.t.Fatal(err)
	}
	if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
		f.t.Fatal("no peer certificate")
	}
	return resp.TLS.PeerCertificates[0].SerialNumber.Int64()
}

func (f *fixture) wantSerial(want int64) {
	f.t.Helper()
	if got := f.serial(); got != want {
		f.t.Fatalf("server presented serial %d, want %d", got, want)
	}
}

func TestServesInitialCertificate(t *testing.T) {
	f := newFixture(t)
	f.wantSerial(1)
	f.wantSerial(1)
	logs := f.logs.String()
	if !strings.Contains(logs, "tls certificate loaded") ||
		!strings.Contains(logs, "cert_file="+f.certFile) ||
		!strings.Contains(logs, `subject_cn="camrec test 1"`) ||
		!strings.Contains(logs, "dns_names=[localhost]") ||
		!strings.Contains(logs, "not_after=") {
		t.Errorf("load not logged as expected:\n%s", logs)
	}
}

func TestReloadsChangedFilesAtNextCheck(t *testing.T) {
	f := newFixture(t)
	f.wantSerial(1)
	f.writePair(2)

	// The clock has not moved: no check, the old certificate is served.
	f.wantSerial(1)
	f.clock.advance(checkInterval / 2)
	f.wantSerial(1)

	f.clock.advance(checkInterval)
	f.wantSerial(2)
	f.wantSerial(2)
	if n := strings.Count(f.logs.String(), "tls certificate loaded"); n != 2 {
		t.Errorf("%d loads logged, want 2:\n%s", n, f.logs)
	}

	// Unchanged files: later checks do not reload.
	f.clock.advance(10 * checkInterval)
	f.wantSerial(2)
	if n := strings.Count(f.logs.String(), "tls certificate loaded"); n != 2 {
		t.Errorf("%d loads logged, want 2 (reloaded unchanged files):\n%s", n, f.logs)
	}
}

func TestChangeOfOneFileTriggersReload(t *testing.T) {
	f := newFixture(t)
	// Only the modification time of the key changes: the pair is reread
	// (the same certificate, logged again).
	f.touch(f.keyFile)
	f.clock.advance(2 * checkInterval)
	f.wantSerial(1)
	if n := strings.Count(f.logs.String(), "tls certificate loaded"); n != 2 {
		t.Errorf("%d loads logged, want 2:\n%s", n, f.logs)
	}
}

func TestBrokenKeyKeepsOldCertificate(t *testing.T) {
	f := newFixture(t)
	f.wantSerial(1)

	// A renewal in progress: a new key, half written in place.
	other := t.TempDir()
	if err := WriteSelfSigned(filepath.Join(other, "c.pem"), filepath.Join(other, "k.pem"), testHosts, 9); err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(other, "k.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.keyFile, keyPEM[:len(keyPEM)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	f.touch(f.keyFile)

	f.clock.advance(2 * checkInterval)
	f.wantSerial(1)
	f.clock.advance(2 * checkInterval) // retried, same failure: not logged again
	f.wantSerial(1)

	err = f.r.Reload()
	if err == nil {
		t.Fatal("Reload with a broken key file succeeded")
	}
	if !strings.Contains(err.Error(), f.keyFile) {
		t.Errorf("error %q does not name the key file %s", err, f.keyFile)
	}
	f.wantSerial(1)

	logs := f.logs.String()
	if n := strings.Count(logs, "level=WARN"); n != 1 {
		t.Errorf("%d warnings logged, want 1:\n%s", n, logs)
	}
	if !strings.Contains(logs, "key_file="+f.keyFile) {
		t.Errorf("warning does not name the key file:\n%s", logs)
	}
	if strings.Contains(logs, "PRIVATE KEY") {
		t.Errorf("log mentions the PEM key block:\n%s", logs)
	}
	for _, line := range strings.Split(string(keyPEM), "\n") {
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") && strings.Contains(logs, line) {
			t.Errorf("log contains key material %q:\n%s", line, logs)
		}
	}
	for _, k := range [][]byte{keyPEM, mustRead(t, f.keyFile)} {
		if block, _ := pem.Decode(k); block != nil && bytes.Contains([]byte(logs), block.Bytes) {
			t.Error("log contains key bytes")
		}
	}

	// The renewal completes: served at the next check, and a new failure
	// would be logged again.
	f.writePair(3)
	f.clock.advance(2 * checkInterval)
	f.wantSerial(3)
	if !strings.Contains(f.logs.String(), `subject_cn="camrec test 3"`) {
		t.Errorf("reload not logged:\n%s", f.logs)
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMismatchedPairDuringRenewalKeepsOldCertificate(t *testing.T) {
	f := newFixture(t)
	// The certificate is renewed, the key not yet.
	keyBefore := mustRead(t, f.keyFile)
	f.writePair(2)
	if err := os.WriteFile(f.keyFile, keyBefore, 0o600); err != nil {
		t.Fatal(err)
	}
	f.touch(f.keyFile)
	f.clock.advance(2 * checkInterval)
	f.wantSerial(1)
	if logs := f.logs.String(); !strings.Contains(logs, "private key does not match public key") {
		t.Errorf("mismatch not logged:\n%s", logs)
	}
}

func TestReloadWithoutClockMoving(t *testing.T) {
	f := newFixture(t)
	f.wantSerial(1)
	f.writePair(2)
	f.wantSerial(1)
	if err := f.r.Reload(); err != nil {
		t.Fatal(err)
	}
	f.wantSerial(2)
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	certA, keyA := filepath.Join(dir, "a.crt"), filepath.Join(dir, "a.key")
	certB, keyB := filepath.Join(dir, "b.crt"), filepath.Join(dir, "b.key")
	if err := WriteSelfSigned(certA, keyA, testHosts, 1); err != nil {
		t.Fatal(err)
	}
	if err := WriteSelfSigned(certB, keyB, testHosts, 2); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a pem file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")

	for _, tc := range []struct {
		name, cert, key string
		want            []string
		notExist        bool
	}{
		{"missing cert", missing, keyA, []string{missing}, true},
		{"missing key", certA, missing, []string{missing}, true},
		{"mismatched pair", certA, keyB, []string{certA, keyB, "private key does not match public key"}, false},
		{"bad cert PEM", garbage, keyA, []string{garbage, keyA, "PEM"}, false},
		{"bad key PEM", certA, garbage, []string{certA, garbage, "PEM"}, false},
		{"swapped files", keyA, certA, []string{keyA, certA, "certificate"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(tc.cert, tc.key, nil)
			if err == nil {
				t.Fatal("New succeeded")
			}
			if r != nil {
				t.Error("New returned a Reloader with an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tc.notExist != errors.Is(err, os.ErrNotExist) {
				t.Errorf("errors.Is(%q, os.ErrNotExist) = %v", err, !tc.notExist)
			}
		})
	}
}

func TestTLSConfig(t *testing.T) {
	f := newFixture(t)
	cfg := f.r.TLSConfig()
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion = %#x, want TLS 1.2", cfg.MinVersion)
	}
	if cfg.GetCertificate == nil || len(cfg.Certificates) != 0 {
		t.Error("GetCertificate not set or Certificates set")
	}
	// A TLS 1.1 client is refused by the server.
	conn, err := tls.Dial("tcp", f.addr, &tls.Config{RootCAs: f.pool, MaxVersion: tls.VersionTLS11})
	if err == nil {
		conn.Close()
		t.Fatal("TLS 1.1 handshake succeeded")
	}
	// TLS 1.2 works.
	conn, err = tls.Dial("tcp", f.addr, &tls.Config{RootCAs: f.pool, MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	if got := conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64(); got != 1 {
		t.Errorf("serial %d, want 1", got)
	}
	conn.Close()
}

// TestConcurrentGetCertificate hammers GetCertificate from many goroutines
// while the files are replaced and the clock moves; run with -race.
func TestConcurrentGetCertificate(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := f.r.GetCertificate(&tls.ClientHelloInfo{})
				if err != nil || c == nil || len(c.Certificate) == 0 {
					t.Errorf("GetCertificate = %v, %v", c, err)
					return
				}
			}
		}()
	}
	for serial := int64(2); serial <= 20; serial++ {
		f.writePair(serial)
		f.clock.advance(checkInterval)
		if serial%5 == 0 {
			if err := f.r.Reload(); err != nil {
				t.Error(err)
			}
		}
	}
	close(stop)
	wg.Wait()
	if err := f.r.Reload(); err != nil {
		t.Fatal(err)
	}
	f.wantSerial(20)
}

func TestWriteSelfSigned(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	// An existing key file with a loose mode ends up 0600.
	if err := os.WriteFile(keyFile, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteSelfSigned(certFile, keyFile, []string{"127.0.0.1", "::1", "cam.example", "localhost"}, 42); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	c := readCert(t, certFile)
	if c.SerialNumber.Int64() != 42 || c.Subject.CommonName != "camrec test 42" {
		t.Errorf("serial %v, CN %q", c.SerialNumber, c.Subject.CommonName)
	}
	if !c.IsCA || c.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageCertSign ||
		len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("IsCA %v, KeyUsage %v, ExtKeyUsage %v", c.IsCA, c.KeyUsage, c.ExtKeyUsage)
	}
	if got := c.NotAfter.Sub(c.NotBefore); got != 24*time.Hour {
		t.Errorf("validity %v, want 24h", got)
	}
	if now := time.Now(); !c.NotBefore.Before(now) || !c.NotAfter.After(now) {
		t.Errorf("not valid now: %v .. %v", c.NotBefore, c.NotAfter)
	}
	if len(c.IPAddresses) != 2 || !c.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) || !c.IPAddresses[1].Equal(net.ParseIP("::1")) {
		t.Errorf("IPAddresses %v", c.IPAddresses)
	}
	if strings.Join(c.DNSNames, ",") != "cam.example,localhost" {
		t.Errorf("DNSNames %v", c.DNSNames)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	if _, err := c.Verify(x509.VerifyOptions{Roots: pool, DNSName: "cam.example"}); err != nil {
		t.Errorf("does not verify against itself: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("temporary files left: %v", entries)
	}
	if err := WriteSelfSigned(certFile, keyFile, nil, 0); err == nil {
		t.Error("serial 0 accepted")
	}
}
