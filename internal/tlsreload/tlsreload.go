// Package tlsreload serves TLS from a certificate and key file that are
// renewed on disk (certbot, step-ca, ...) without restarting the daemon.
//
// A Reloader loads the pair once at start-up. Afterwards, on a TLS handshake
// at most once per second, it compares the modification time and size of both
// files with those of the last successful load (two os.Stat calls) and reloads
// the pair when either changed. A reload that fails — a half-written file, or
// a certificate already replaced while the key is not yet — keeps serving the
// previous certificate, logs a warning once per distinct failure and is
// retried at the next check. Reload forces a reload (for SIGHUP).
//
// The Reloader starts no goroutines. Typical wiring:
//
//	r, err := tlsreload.New(certFile, keyFile, log)
//	if err != nil {
//		return err
//	}
//	srv := &http.Server{Addr: addr, Handler: h, TLSConfig: r.TLSConfig()}
//	go srv.ListenAndServeTLS("", "") // file names empty: GetCertificate is set
//	// on SIGHUP: if err := r.Reload(); err != nil { ... }
package tlsreload

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// checkInterval is the minimum time between two checks of the files'
// modification times and sizes from GetCertificate.
const checkInterval = time.Second

// Reloader holds the current certificate of a certificate/key file pair and
// reloads it when the files change. Its methods are safe for concurrent use.
type Reloader struct {
	certFile, keyFile string
	log               *slog.Logger

	// now is the clock used to rate-limit the checks; tests replace it
	// before the Reloader is used concurrently.
	now func() time.Time

	cert atomic.Pointer[tls.Certificate] // never nil after New

	mu        sync.Mutex // guards the fields below
	lastCheck time.Time  // time of the last check (or load)
	loaded    pairStamp  // stat of the files as of the last successful load
	lastErr   string     // last failure logged; "" after a success
}

// New loads the pair once and returns a Reloader serving it. The error names
// the files and the cause (missing file, bad PEM, key not matching the
// certificate). A nil log discards log output.
func New(certFile, keyFile string, log *slog.Logger) (*Reloader, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Reloader{certFile: certFile, keyFile: keyFile, log: log, now: time.Now}
	st := statPair(certFile, keyFile)
	cert, err := loadPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	r.install(cert, st)
	return r, nil
}

// GetCertificate is for tls.Config.GetCertificate. At most once per second it
// checks whether either file changed since the last load and, if so, reloads
// the pair; on failure the previous certificate keeps being served. It never
// returns an error.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.maybeReload()
	return r.cert.Load(), nil
}

// Reload reloads the pair now (for SIGHUP), whether or not the files changed.
// On failure it keeps the previous certificate, logs a warning (once per
// distinct failure, like the automatic reloads) and returns the error.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastCheck = r.now()
	return r.reloadLocked()
}

// TLSConfig returns a new *tls.Config with MinVersion TLS 1.2 and
// GetCertificate set to r.GetCertificate. Do not add Certificates to it: the
// crypto/tls server uses Certificates[0] instead of GetCertificate for clients
// that send no server name (e.g. connecting to an IP address).
func (r *Reloader) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   tls12CipherSuites(),
		GetCertificate: r.GetCertificate,
	}
}

// tls12CipherSuites are the suites offered to TLS 1.2 clients: forward
// secret and authenticated encryption only (Go's defaults add two
// CBC-SHA1 suites). TLS 1.3's suites are all of that kind and not
// configurable.
func tls12CipherSuites() []uint16 {
	return []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
}

// maybeReload does the rate-limited check. A handshake that finds another
// goroutine checking or reloading does not wait: it gets the current
// certificate.
func (r *Reloader) maybeReload() {
	if !r.mu.TryLock() {
		return
	}
	defer r.mu.Unlock()
	now := r.now()
	if d := now.Sub(r.lastCheck); d >= 0 && d < checkInterval {
		return
	}
	r.lastCheck = now
	if statPair(r.certFile, r.keyFile).equal(r.loaded) {
		return
	}
	_ = r.reloadLocked() // logged; retried at the next check
}

// reloadLocked loads the pair and installs it, or logs the failure. r.mu is
// held.
func (r *Reloader) reloadLocked() error {
	// Stat before reading: if a file changes while it is read, the recorded
	// stamp is the older one and the next check reloads again.
	st := statPair(r.certFile, r.keyFile)
	cert, err := loadPair(r.certFile, r.keyFile)
	if err != nil {
		if msg := err.Error(); msg != r.lastErr {
			r.lastErr = msg
			// The errors of loadPair carry file names and causes from
			// os and crypto/tls, never file contents.
			r.log.Warn("tls certificate reload failed, keeping the previous certificate",
				"cert_file", r.certFile, "key_file", r.keyFile, "error", msg)
		}
		return err
	}
	r.install(cert, st)
	return nil
}

// install makes cert the served certificate and logs it. Called from New
// (before r is shared) or with r.mu held.
func (r *Reloader) install(cert *tls.Certificate, st pairStamp) {
	r.cert.Store(cert)
	r.loaded = st
	r.lastErr = ""
	r.lastCheck = r.now()
	leaf := cert.Leaf
	if leaf == nil { // GODEBUG x509keypairleaf=0
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			r.log.Info("tls certificate loaded", "cert_file", r.certFile)
			return
		}
	}
	r.log.Info("tls certificate loaded",
		"cert_file", r.certFile,
		"subject_cn", leaf.Subject.CommonName,
		"dns_names", leaf.DNSNames,
		"not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
}

// loadPair reads and parses the pair. Its errors name both files.
func loadPair(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("tlsreload: read certificate file: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("tlsreload: read key file: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tlsreload: load certificate %s with key %s: %w", certFile, keyFile, err)
	}
	return &cert, nil
}

// fileStamp is what a check compares: modification time and size.
type fileStamp struct {
	ok      bool // stat succeeded
	modTime time.Time
	size    int64
}

type pairStamp struct{ cert, key fileStamp }

func statFile(name string) fileStamp {
	fi, err := os.Stat(name) // follows symlinks (certbot's live/ directory)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{ok: true, modTime: fi.ModTime(), size: fi.Size()}
}

func statPair(certFile, keyFile string) pairStamp {
	return pairStamp{cert: statFile(certFile), key: statFile(keyFile)}
}

func (a fileStamp) equal(b fileStamp) bool {
	return a.ok && b.ok && a.size == b.size && a.modTime.Equal(b.modTime)
}

// equal reports whether both files are unchanged; a file that could not be
// stat'ed counts as changed, so that the failure is reported by a reload.
func (a pairStamp) equal(b pairStamp) bool {
	return a.cert.equal(b.cert) && a.key.equal(b.key)
}
