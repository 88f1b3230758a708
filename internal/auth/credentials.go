package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// PasswordCost is the bcrypt cost of HashPassword: about a quarter of a
// second of one core on a small machine, which is what a guess costs.
const PasswordCost = 12

// maxPasswordBytes is bcrypt's input limit; longer passwords are refused
// rather than silently cut.
const maxPasswordBytes = 72

// TokenPrefix starts every token made by NewToken, so a leaked one is
// recognisable in a scanner's rules.
const TokenPrefix = "camrec_"

// tokenHashPrefix starts a stored token hash.
const tokenHashPrefix = "sha256:"

// HashPassword returns the bcrypt hash of password at PasswordCost.
func HashPassword(password string) (string, error) {
	return hashPassword(password, PasswordCost)
}

func hashPassword(password string, cost int) (string, error) {
	if password == "" {
		return "", errors.New("empty password")
	}
	if len(password) > maxPasswordBytes {
		return "", fmt.Errorf("password longer than %d bytes (bcrypt's limit)", maxPasswordBytes)
	}
	b, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(b), nil
}

// NewToken returns a fresh random token (256 bits) and the hash to store.
func NewToken() (token, hash string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("random token: %w", err)
	}
	token = TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token), nil
}

// HashToken returns the stored form of a token: "sha256:" and the hex
// digest.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return tokenHashPrefix + hex.EncodeToString(sum[:])
}

// parseTokenHash checks a stored token hash and returns its digest.
func parseTokenHash(s string) ([]byte, error) {
	hexDigest, ok := strings.CutPrefix(s, tokenHashPrefix)
	if !ok {
		return nil, fmt.Errorf("token_hash: want %q and 64 hex digits (from camrec -new-token)", tokenHashPrefix)
	}
	d, err := hex.DecodeString(hexDigest)
	if err != nil || len(d) != sha256.Size {
		return nil, fmt.Errorf("token_hash: want %q and 64 hex digits (from camrec -new-token)", tokenHashPrefix)
	}
	return d, nil
}

// checkPasswordHash checks a stored bcrypt hash and its cost.
func checkPasswordHash(s string, minCost int) error {
	cost, err := bcrypt.Cost([]byte(s))
	if err != nil {
		return errors.New("password_hash: not a bcrypt hash (make one with camrec -hash-password)")
	}
	if cost < minCost {
		return fmt.Errorf("password_hash: bcrypt cost %d is below %d: guessing it is cheap and a wrong password answers slower than an unknown user; make a new hash with camrec -hash-password (cost %d)", cost, minCost, PasswordCost)
	}
	return nil
}

// verifiedCache remembers passwords that bcrypt accepted recently, as a
// keyed hash, so HTTP Basic clients (Home Assistant polls a snapshot every
// few seconds) do not pay a bcrypt verification on every request. The key
// is random per process; nothing in it can be turned back into a password.
type verifiedCache struct {
	key [32]byte
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]verified // by user name
}

type verified struct {
	mac     []byte
	expires time.Time
}

// maxVerified bounds the cache: one entry per user at most anyway.
const maxVerified = 1024

func newVerifiedCache(ttl time.Duration) (*verifiedCache, error) {
	c := &verifiedCache{ttl: ttl, m: map[string]verified{}}
	if _, err := rand.Read(c.key[:]); err != nil {
		return nil, fmt.Errorf("random key: %w", err)
	}
	return c, nil
}

func (c *verifiedCache) mac(user, password string) []byte {
	h := hmac.New(sha256.New, c.key[:])
	h.Write([]byte(user))
	h.Write([]byte{0})
	h.Write([]byte(password))
	return h.Sum(nil)
}

// hasMAC reports whether user's password was verified recently as the
// one whose mac (c.mac) is m.
func (c *verifiedCache) hasMAC(user string, m []byte, now time.Time) bool {
	c.mu.Lock()
	v, ok := c.m[user]
	c.mu.Unlock()
	return ok && now.Before(v.expires) && subtle.ConstantTimeCompare(v.mac, m) == 1
}

// addMAC remembers the password of user whose mac is m as verified.
func (c *verifiedCache) addMAC(user string, m []byte, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxVerified {
		clear(c.m)
	}
	c.m[user] = verified{mac: m, expires: now.Add(c.ttl)}
}

// flights are the password checks under way (see CheckPassword).
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

// flight is one password check under way; done is closed when its verdict
// is known.
type flight struct {
	done    chan struct{}
	verdict flightVerdict
	waiters int // tries waiting for it (under flights.mu)
}

type flightVerdict int

const (
	flightUnchecked flightVerdict = iota // throttled or busy: not checked
	flightAccepted
	flightRefused
)

// joinOrLead returns the flight under way for key, or makes one that the
// caller leads (lead true) and must end.
func (fs *flights) joinOrLead(key string) (f *flight, lead bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f := fs.m[key]; f != nil {
		f.waiters++
		return f, false
	}
	if fs.m == nil {
		fs.m = map[string]*flight{}
	}
	f = &flight{done: make(chan struct{})}
	fs.m[key] = f
	return f, true
}

// waiting returns how many tries wait for the flight of key.
func (fs *flights) waiting(key string) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f := fs.m[key]; f != nil {
		return f.waiters
	}
	return 0
}

// end gives the flight its verdict and lets its waiters go.
func (fs *flights) end(key string, f *flight, v flightVerdict) {
	fs.mu.Lock()
	delete(fs.m, key)
	fs.mu.Unlock()
	f.verdict = v
	close(f.done)
}
