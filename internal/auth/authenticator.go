package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
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

	Sessions *Sessions
	Throttle *Throttle
}

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
		if err := checkPasswordHash(u.PasswordHash); err != nil {
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

// Password checks a user name and password. The error is
// ErrBadCredentials for an unknown user or a wrong password (the two take
// the same time).
func (a *Authenticator) Password(name, password string) (*Identity, error) {
	u, ok := a.users[name]
	now := a.now()
	if ok && a.verified.has(name, password, now) {
		return userIdentity(u, "basic"), nil
	}
	hash := a.dummyHash
	if ok {
		hash = []byte(u.PasswordHash)
	}
	if len(password) > maxPasswordBytes {
		password = password[:0] // bcrypt refuses it; compare an empty one
		ok = false
	}
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	if !ok || err != nil {
		return nil, ErrBadCredentials
	}
	a.verified.add(name, password, now)
	return userIdentity(u, "basic"), nil
}

func userIdentity(u User, via string) *Identity {
	return &Identity{Name: u.Name, Role: u.Role, Cameras: slices.Clip(u.Cameras), Via: via}
}

// Token checks an API token. Every configured token is compared, so the
// time taken says nothing about which one matched.
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

// Login checks a user's password and opens a session for it; it returns
// the session id for the cookie and when it expires.
func (a *Authenticator) Login(name, password string) (id *Identity, sessionID string, expires time.Time, err error) {
	id, err = a.Password(name, password)
	if err != nil {
		return nil, "", time.Time{}, err
	}
	u := a.users[name]
	sid, exp, err := a.Sessions.create(userIdentity(u, "session"))
	if err != nil {
		return nil, "", time.Time{}, err
	}
	return userIdentity(u, "session"), sid, exp, nil
}
