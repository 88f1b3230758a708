package auth

import (
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Scheme is the kind of credential in an Authorization header.
type Scheme int

// The schemes camrec accepts.
const (
	SchemeNone Scheme = iota
	SchemeBasic
	SchemeBearer
)

// Credentials are what a request presented; never log them.
type Credentials struct {
	Scheme   Scheme
	User     string // Basic
	Password string // Basic
	Token    string // Bearer
}

// Limits on what the parsers accept.
const (
	maxUserBytes  = 64
	maxTokenBytes = 256
	// MaxFormBytes bounds the login form's body.
	MaxFormBytes = 2048
)

// errMalformed is what every parser returns for input it refuses; it
// never quotes the input (which may hold a password).
var errMalformed = errors.New("malformed credentials")

// ParseAuthorization reads an Authorization header value: "Basic
// base64(user:password)" or "Bearer token" (schemes are case-insensitive,
// RFC 9110). An empty header is SchemeNone with no error.
func ParseAuthorization(h string) (Credentials, error) {
	if h == "" {
		return Credentials{}, nil
	}
	scheme, rest, ok := strings.Cut(h, " ")
	if !ok {
		return Credentials{}, errMalformed
	}
	rest = strings.TrimLeft(rest, " ")
	switch {
	case strings.EqualFold(scheme, "Basic"):
		if len(rest) > 4*(maxUserBytes+maxPasswordBytes+1)/3+4 {
			return Credentials{}, errMalformed
		}
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return Credentials{}, errMalformed
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok || user == "" || len(user) > maxUserBytes || !utf8.ValidString(user) || hasControl(user) {
			return Credentials{}, errMalformed
		}
		return Credentials{Scheme: SchemeBasic, User: user, Password: pass}, nil
	case strings.EqualFold(scheme, "Bearer"):
		if !validToken(rest) {
			return Credentials{}, errMalformed
		}
		return Credentials{Scheme: SchemeBearer, Token: rest}, nil
	}
	return Credentials{}, errMalformed
}

// validToken accepts the token68 syntax of RFC 9110, bounded in length.
func validToken(s string) bool {
	if s == "" || len(s) > maxTokenBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._~+/=", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// ValidToken reports whether s could be a token (for ?token=).
func ValidToken(s string) bool { return validToken(s) }

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// ValidSessionID reports whether s has the form of a session id made by
// this package (43 base64url characters), so junk cookies are refused
// before any lookup.
func ValidSessionID(s string) bool {
	if len(s) != base64.RawURLEncoding.EncodedLen(sessionIDBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// LoginForm is the login page's form.
type LoginForm struct {
	User     string
	Password string
	// Next is where to go after logging in: a local path, else "/".
	Next string
}

// ParseLoginForm reads an application/x-www-form-urlencoded login form
// body (fields username, password and optional next).
func ParseLoginForm(body []byte) (LoginForm, error) {
	if len(body) > MaxFormBytes {
		return LoginForm{}, errMalformed
	}
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return LoginForm{}, errMalformed
	}
	for k, vals := range v {
		if len(vals) != 1 {
			return LoginForm{}, errMalformed
		}
		switch k {
		case "username", "password", "next":
		default:
			return LoginForm{}, errMalformed
		}
	}
	f := LoginForm{User: v.Get("username"), Password: v.Get("password"), Next: SafeNext(v.Get("next"))}
	if f.User == "" || len(f.User) > maxUserBytes || !utf8.ValidString(f.User) || hasControl(f.User) {
		return LoginForm{}, errMalformed
	}
	if len(f.Password) > 1024 {
		return LoginForm{}, errMalformed
	}
	return f, nil
}

// SafeNext returns p if it is a path on this server ("/…", not "//host"
// or "/\host", which browsers read as another host), else "/".
func SafeNext(p string) string {
	if p == "" || p[0] != '/' || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") ||
		strings.ContainsAny(p, "\\\r\n\t") || len(p) > 512 {
		return "/"
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return p
}
