package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// Device cookies (OWASP's "device cookies" against lockout): when a user
// logs in through the page, camrec gives the browser a cookie that says
// "this browser logged in as alice before". A password try that comes with
// a valid device cookie for the user it names is counted for that device
// alone (see Throttle), so whoever guesses alice's password elsewhere
// cannot lock alice's own browser out.
//
// The cookie is <user>.<nonce>.<mac>: a random 128-bit nonce (one per
// device) and an HMAC-SHA256 over the user and nonce, keyed with a key
// derived from the user's bcrypt hash. So it survives restarts without any
// state, it cannot be made without the auth file, and changing the user's
// password invalidates every device cookie of that user. It proves no
// identity (it is not a credential: a password is still needed).

// DeviceMaxAge is the lifetime of a device cookie (Chromium's limit for a
// cookie's Max-Age is 400 days); every login renews it.
const DeviceMaxAge = 400 * 24 * time.Hour

const (
	deviceNonceBytes = 16
	deviceKeyLabel   = "camrec device cookie v1\x00"
)

// deviceMAC returns the MAC of a device cookie of user u with nonce.
func deviceMAC(u User, nonce []byte) []byte {
	k := sha256.Sum256([]byte(deviceKeyLabel + u.PasswordHash))
	h := hmac.New(sha256.New, k[:])
	h.Write([]byte(u.Name))
	h.Write([]byte{0})
	h.Write(nonce)
	return h.Sum(nil)
}

// newDevice returns a fresh device cookie value for u.
func newDevice(u User) (string, error) {
	nonce := make([]byte, deviceNonceBytes)
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("random device id: %w", err)
	}
	enc := base64.RawURLEncoding
	return u.Name + "." + enc.EncodeToString(nonce) + "." + enc.EncodeToString(deviceMAC(u, nonce)), nil
}

// device checks a device cookie value for the user name and returns the
// device's key for the throttle, or "" when the cookie is not a valid one
// for that user.
func (a *Authenticator) device(cookie, name string) string {
	if cookie == "" || len(cookie) > 200 {
		return ""
	}
	user, rest, ok := strings.Cut(cookie, ".")
	if !ok || user != name {
		return ""
	}
	u, ok := a.users[name]
	if !ok {
		return ""
	}
	n64, m64, ok := strings.Cut(rest, ".")
	if !ok {
		return ""
	}
	enc := base64.RawURLEncoding
	nonce, err := enc.DecodeString(n64)
	if err != nil || len(nonce) != deviceNonceBytes {
		return ""
	}
	mac, err := enc.DecodeString(m64)
	if err != nil || !hmac.Equal(mac, deviceMAC(u, nonce)) {
		return ""
	}
	return "cookie:" + name + ":" + n64
}
