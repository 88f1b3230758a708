package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// User is a configured user.
type User struct {
	Name         string
	PasswordHash string // bcrypt
	Role         Role
	Cameras      []string // nil: all
}

// Token is a configured API token.
type Token struct {
	Name      string
	TokenHash string // "sha256:<hex>"
	Role      Role
	Cameras   []string // nil: all
}

// Config is what New needs.
type Config struct {
	Users  []User
	Tokens []Token
	// SessionTTL is how long a login session lasts; 0 means 12 h.
	SessionTTL time.Duration
	// Now is the clock; nil means time.Now. Tests inject their own.
	Now func() time.Time
}

// DefaultSessionTTL is how long a login lasts unless configured.
const DefaultSessionTTL = 12 * time.Hour

// verifiedTTL is how long a password bcrypt accepted is remembered.
const verifiedTTL = 5 * time.Minute

type token struct {
	name    string
	digest  []byte
	role    Role
	cameras []string
}

// Authenticator checks credentials. Its methods are safe for concurrent
// use.
type Authenticator struct {
	users    map[string]User
	tokens   []token
	now      func() time.Time
	verified *verifiedCache
	// dummyHash is verified against when the user is unknown, so an
	// unknown name costs as much as a wrong password: dummyName's hash
	// (nil without users: then no name is known at all).
	dummyName string
	dummyHash []byte
	// untrustedChecks and trustedChecks bound the bcrypt checks running
	// at once (a semaphore each): untrusted clients share
	// max(1, GOMAXPROCS/2), so a storm of guesses leaves the other cores
	// to everything else; trusted devices have one of their own, so the
	// storm cannot keep the real user from logging in.
	untrustedChecks chan struct{}
	trustedChecks   chan struct{}
	// flights are the password checks under way, by the keyed hash of
	// name and password, which identical tries wait for.
	flights flights

	Sessions *Sessions
	Throttle *Throttle
}

// MinPasswordCost is the lowest bcrypt cost accepted in the auth file:
// below it a guess costs an attacker little, and a wrong password answers
// measurably slower than an unknown user (user enumeration).
const MinPasswordCost = 10

// Validate checks cfg without building anything: names unique, password
// hashes bcrypt, token hashes well-formed. Errors name the user or token at
// fault and never quote a secret.
func (cfg Config) Validate() error {
	users := map[string]bool{}
	for _, u := range cfg.Users {
		if users[u.Name] {
			return fmt.Errorf("user %q: defined twice", u.Name)
		}
		users[u.Name] = true
		if err := checkPasswordHash(u.PasswordHash, MinPasswordCost); err != nil {
			return fmt.Errorf("user %q: %w", u.Name, err)
		}
	}
	tokens := map[string]bool{}
	for _, t := range cfg.Tokens {
		if tokens[t.Name] {
			return fmt.Errorf("token %q: defined twice", t.Name)
		}
		tokens[t.Name] = true
		if _, err := parseTokenHash(t.TokenHash); err != nil {
			return fmt.Errorf("token %q: %w", t.Name, err)
		}
	}
	return nil
}

// New checks cfg (see Validate) and returns an Authenticator.
func New(cfg Config) (*Authenticator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	ttl := cfg.SessionTTL
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	vc, err := newVerifiedCache(verifiedTTL)
	if err != nil {
		return nil, err
	}
	a := &Authenticator{
		users:    make(map[string]User, len(cfg.Users)),
		now:      now,
		verified: vc,
		Sessions: newSessions(ttl, now),
		Throttle: NewThrottle(now),

		untrustedChecks: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2)),
		trustedChecks:   make(chan struct{}, 1),
	}
	for _, u := range cfg.Users {
		a.users[u.Name] = u
		// An unknown name is checked against a real hash (the first
		// user's by name), so it costs what a wrong password costs.
		if a.dummyHash == nil || u.Name < a.dummyName {
			a.dummyName, a.dummyHash = u.Name, []byte(u.PasswordHash)
		}
	}
	for _, t := range cfg.Tokens {
		d, _ := parseTokenHash(t.TokenHash) // checked by Validate
		a.tokens = append(a.tokens, token{name: t.Name, digest: d, role: t.Role, cameras: t.Cameras})
	}
	return a, nil
}

// Count returns how many users and tokens are configured.
func (a *Authenticator) Count() (users, tokens int) { return len(a.users), len(a.tokens) }

// KnownUser reports whether name is a configured user, so that callers log
// a name only when it is one (a password typed into the user field is
// not).
func (a *Authenticator) KnownUser(name string) bool {
	_, ok := a.users[name]
	return ok
}

// Client is who tries a password: the connection's address and the device
// cookie it sent ("" when none).
type Client struct {
	Addr   netip.Addr
	Device string
}

// PasswordResult is what CheckPassword and Login found besides the
// identity.
type PasswordResult struct {
	// Lock is how long the client is locked out after this failure (0
	// while it has free failures left).
	Lock time.Duration
	// Trusted: the try came from a trusted device of the user.
	Trusted bool
}

// CheckPassword checks a user name and password from client c under the
// throttle (see Throttle) and the bound on concurrent bcrypt checks. The
// error is ErrBadCredentials for an unknown user or a wrong password (the
// two take the same time), a *ThrottledError (errors.Is ErrThrottled) when
// the client must wait, or ErrBusy when every password check is taken.
//
// Tries of the same name and password while one of them is being checked
// wait for that check instead of making their own (a browser or Home
// Assistant opening several connections at once with the same Basic
// credentials; a storm repeating one guess): they learn only the verdict
// the first one gets, which is counted once.
func (a *Authenticator) CheckPassword(c Client, name, password string) (*Identity, PasswordResult, error) {
	u, known := a.users[name]
	user, device := "", ""
	if known {
		user = name
		device = a.device(c.Device, name)
		if device == "" && a.Throttle.TrustedAddr(c.Addr, name) {
			device = "addr:" + name + ":" + addrKey(c.Addr).String()
		}
	}
	res := PasswordResult{Trusted: device != ""}
	mac := a.verified.mac(name, password)
	for {
		f, lead := a.flights.joinOrLead(string(mac))
		if !lead {
			<-f.done
			switch f.verdict {
			case flightAccepted:
				return userIdentity(u, "basic"), res, nil
			case flightRefused:
				return nil, res, ErrBadCredentials
			}
			continue // the first try was not checked (throttled, busy): try on our own
		}
		id, err := a.checkPassword(c, u, known, user, device, password, mac, &res)
		v := flightUnchecked
		switch {
		case err == nil:
			v = flightAccepted
		case errors.Is(err, ErrBadCredentials):
			v = flightRefused
		}
		a.flights.end(string(mac), f, v)
		return id, res, err
	}
}

// checkPassword is CheckPassword's own check of a try: the throttle, the
// verified cache, a bcrypt slot and bcrypt.
func (a *Authenticator) checkPassword(c Client, u User, known bool, user, device, password string, mac []byte, res *PasswordResult) (*Identity, error) {
	att, wait := a.Throttle.Begin(c.Addr, user, device)
	if att == nil {
		return nil, &ThrottledError{Wait: wait}
	}
	now := a.now()
	if known && a.verified.hasMAC(user, mac, now) {
		att.Succeed()
		return userIdentity(u, "basic"), nil
	}
	slots := a.untrustedChecks
	if device != "" {
		slots = a.trustedChecks
	}
	select {
	case slots <- struct{}{}:
	default:
		att.Cancel()
		return nil, ErrBusy
	}
	ok := a.verify(u, known, password)
	<-slots
	if !ok {
		res.Lock = att.Fail()
		return nil, ErrBadCredentials
	}
	a.verified.addMAC(user, mac, now)
	att.Succeed()
	return userIdentity(u, "basic"), nil
}

// verify runs bcrypt: the user's hash, or the dummy hash for an unknown
// name, so that both cost the same.
func (a *Authenticator) verify(u User, known bool, password string) bool {
	hash := a.dummyHash
	if known {
		hash = []byte(u.PasswordHash)
	}
	if len(password) > maxPasswordBytes {
		password = password[:0] // bcrypt refuses it; compare an empty one
		known = false
	}
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	return known && err == nil
}

func userIdentity(u User, via string) *Identity {
	return &Identity{Name: u.Name, Role: u.Role, Cameras: slices.Clip(u.Cameras), Via: via}
}

// Token checks an API token. Every configured token is compared, so the
// time taken says nothing about which one matched. Tokens are 256-bit
// random: a wrong one is never throttled or counted.
func (a *Authenticator) Token(tok string, via string) (*Identity, error) {
	sum := sha256.Sum256([]byte(tok))
	match := -1
	for i, t := range a.tokens {
		if subtle.ConstantTimeCompare(sum[:], t.digest) == 1 {
			match = i
		}
	}
	if match < 0 {
		return nil, ErrBadCredentials
	}
	t := a.tokens[match]
	return &Identity{Name: t.name, Role: t.role, Cameras: slices.Clip(t.cameras), Via: via}, nil
}

// LoginResult is a successful login: the session and the device cookie.
type LoginResult struct {
	Identity  *Identity
	SessionID string
	Expires   time.Time
	// Device is the device cookie's value to set (the client's own when
	// it was valid, else a new one).
	Device string
}

// Login checks a user's password from client c as CheckPassword does and
// opens a session for it.
func (a *Authenticator) Login(c Client, name, password string) (LoginResult, PasswordResult, error) {
	_, res, err := a.CheckPassword(c, name, password)
	if err != nil {
		return LoginResult{}, res, err
	}
	u := a.users[name]
	sid, exp, err := a.Sessions.create(userIdentity(u, "session"))
	if err != nil {
		return LoginResult{}, res, err
	}
	dev := c.Device
	if a.device(dev, name) == "" {
		if dev, err = newDevice(u); err != nil {
			return LoginResult{}, res, err
		}
	}
	return LoginResult{Identity: userIdentity(u, "session"), SessionID: sid, Expires: exp, Device: dev}, res, nil
}
