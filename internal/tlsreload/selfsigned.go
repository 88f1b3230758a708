package tlsreload

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// WriteSelfSigned writes a new self-signed ECDSA P-256 certificate and its
// key as PEM to certFile and keyFile (the key with mode 0600). It is meant for
// tests: the certificate is valid from one hour ago for 24 hours, is its own
// CA (so a client can trust it by adding it to a cert pool), is for server
// authentication, has subject CN "camrec test <serial>" and the given serial
// number (which must be positive), and has hosts as SANs: IP literals as IP
// addresses, anything else as DNS names.
//
// Each file is replaced atomically (written to a temporary file in the same
// directory, then renamed), so a reader never sees a half-written file; the
// two files are not replaced together, though, so a reader may see the new
// certificate with the old key for a moment.
func WriteSelfSigned(certFile, keyFile string, hosts []string, serial int64) error {
	if serial <= 0 {
		return fmt.Errorf("tlsreload: self-signed certificate: serial %d is not positive", serial)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("tlsreload: generate key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: fmt.Sprintf("camrec test %d", serial)},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(23 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("tlsreload: create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("tlsreload: marshal key: %w", err)
	}
	if err := writeFileAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return writeFileAtomic(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// writeFileAtomic writes data to a temporary file next to name with the given
// mode and renames it to name.
func writeFileAtomic(name string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return fmt.Errorf("tlsreload: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(mode); err != nil {
		return fmt.Errorf("tlsreload: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("tlsreload: write %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("tlsreload: write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, name); err != nil {
		os.Remove(tmp)
		ok = true
		return fmt.Errorf("tlsreload: %w", err)
	}
	ok = true
	return nil
}
