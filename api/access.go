package api

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/camrec/camrec/internal/auth"
)

// access is what a route needs of the caller.
type access int

const (
	// accessPublic: anyone (the login page, its style, /healthz).
	accessPublic access = iota + 1
	accessViewer
	accessOperator
)

// tokenInQuery marks the routes that accept ?token= (GET of streams and
// snapshots only: clients that cannot send headers, such as VLC).
const tokenInQuery = true

// rule is the access rule of one route.
type rule struct {
	need       access
	queryToken bool
	// identify (public routes): credentials, when sent, are checked (and
	// refused when wrong), so that the route can show what the identity
	// may see. Other public routes look at the session cookie only.
	identify bool
}

// The page's cookies: the login session, and the device cookie that keeps
// a browser that logged in before from being locked out by someone
// guessing the same user's password (see auth.Throttle). Under TLS they
// carry the __Host- prefix: the browser then only accepts them Secure,
// for this host alone (no Domain), for the whole site.
const (
	sessionCookie = "camrec_session"
	deviceCookie  = "camrec_device"
	hostPrefix    = "__Host-"
)

// cookieName is the cookie's name on this request's scheme.
func cookieName(r *http.Request, name string) string {
	if r.TLS != nil {
		return hostPrefix + name
	}
	return name
}

// cookieValue returns the value of the request's cookie name (on its
// scheme), or "".
func cookieValue(r *http.Request, name string) string {
	ck, err := r.Cookie(cookieName(r, name))
	if err != nil {
		return ""
	}
	return ck.Value
}

// hstsMaxAge is the Strict-Transport-Security max-age under TLS (a year).
// Browsers ignore the header from a host whose certificate they had to be
// told to accept (self-signed), and for IP addresses, so it never makes a
// self-signed camrec unreachable.
const hstsMaxAge = "max-age=31536000"

// identityKey is the gin context key of the caller's *auth.Identity.
const identityKey = "camrec.identity"

// handle registers a route with its access rule. Every route goes through
// here, so none can be added without one; the guard refuses a request
// whose route has no rule.
func (s *Server) handle(g *gin.RouterGroup, method, p string, r rule, h ...gin.HandlerFunc) {
	full := path.Join(g.BasePath(), p)
	if strings.HasSuffix(p, "/") && !strings.HasSuffix(full, "/") {
		full += "/"
	}
	s.rules[method+" "+full] = r
	g.Handle(method, p, h...)
}

// identity returns the caller, set by the guard.
func identity(c *gin.Context) *auth.Identity {
	if v, ok := c.Get(identityKey); ok {
		return v.(*auth.Identity)
	}
	return nil
}

// guard runs first on every request, matched or not: security headers,
// the request's read deadline, the Host check (DNS rebinding), the
// cross-origin check (CSRF), then who the caller is and whether the route
// allows them. Anything it cannot place is refused.
func (s *Server) guard(c *gin.Context) {
	r := c.Request
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: with no-referrer a browser on a
	// non-secure origin (http://camrec.lan) sends "Origin: null" with the
	// page's own POSTs, which the cross-origin check must refuse. Other
	// sites still get no Referer (no ?token= leaks).
	h.Set("Referrer-Policy", "same-origin")
	if r.TLS != nil {
		h.Set("Strict-Transport-Security", hstsMaxAge)
	}
	if strings.HasPrefix(r.URL.Path, "/api/") {
		h.Set("Cache-Control", "no-store")
	}
	watchBody(c)

	if s.hostCheck {
		if host, ok := s.hostAllowed(r.Host); !ok {
			refuseJSON(c, http.StatusMisdirectedRequest, fmt.Sprintf(
				"host %q is not allowed here (DNS rebinding protection): use an IP address or localhost, or add the name to allowed_hosts (-allowed-host)", host))
			return
		}
	}
	if err := s.crossOrigin.Check(r); err != nil {
		refuseJSON(c, http.StatusForbidden, "cross-origin request refused: "+r.Method+" must come from camrec's own page")
		return
	}

	ru, ok := s.rules[r.Method+" "+c.FullPath()]
	switch {
	case !ok && c.FullPath() != "":
		// A route registered without a rule: deny (a test walks the
		// routes so this never ships).
		refuseJSON(c, http.StatusForbidden, "no access rule for "+r.Method+" "+c.FullPath())
		return
	case !ok:
		// Unknown endpoints and methods: answered by NoRoute/NoMethod,
		// but only to a caller who may see the API at all.
		ru = rule{need: accessViewer}
	}
	if s.auth == nil {
		c.Set(identityKey, auth.Anonymous())
		return
	}
	if ru.need == accessPublic && !ru.identify {
		if id := s.sessionIdentity(c); id != nil {
			connAuthenticated(r)
			c.Set(identityKey, id)
		}
		return
	}
	id, err := s.authenticate(c, ru)
	if err != nil {
		s.refuse(c, err)
		return
	}
	if id != nil {
		connAuthenticated(r)
		c.Set(identityKey, id)
	}
	if ru.need == accessPublic {
		return
	}
	if id == nil {
		s.challenge(c)
		return
	}
	need := auth.RoleViewer
	if ru.need == accessOperator {
		need = auth.RoleOperator
	}
	if !id.Has(need) {
		refuseJSON(c, http.StatusForbidden, fmt.Sprintf(
			"%s %q has the %s role: %s %s needs %s", kindOf(id), id.Name, id.Role, r.Method, c.FullPath(), need))
		return
	}
}

func kindOf(id *auth.Identity) string {
	if id.Via == "bearer" || id.Via == "token_query" {
		return "token"
	}
	return "user"
}

// bodyWatch is a request body that lifts the request's read deadline
// (http.Server's ReadTimeout) once it is read to its end: from then on the
// handler may take as long as it needs.
type bodyWatch struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *bodyWatch) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// watchBody lifts the read deadline of a request without a body at once
// (there is nothing left to read, and long answers such as streams must
// not be cut), and watches the body of any other request (bodyWatch). The
// body is wrapped in a copy of the request: net/http keeps its own, which
// it closes after the handler.
func watchBody(c *gin.Context) {
	r := c.Request
	rc := http.NewResponseController(c.Writer)
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		_ = rc.SetReadDeadline(time.Time{})
		return
	}
	r2 := *r
	r2.Body = &bodyWatch{ReadCloser: r.Body, rc: rc}
	c.Request = &r2
}

// closeIfUnread asks net/http to close the connection after the answer
// when the request's body has not been read to its end: the answer then
// goes out at once, instead of after net/http has read the rest of a body
// that a slow client may never finish sending.
func closeIfUnread(c *gin.Context) {
	if b, ok := c.Request.Body.(*bodyWatch); ok && !b.done {
		c.Header("Connection", "close")
	}
}

// refuseJSON answers a refused request with code and {"error": msg}.
func refuseJSON(c *gin.Context, code int, msg string) {
	closeIfUnread(c)
	c.AbortWithStatusJSON(code, errorBody{Error: msg})
}

// crossSite reports whether a browser says the request comes from another
// site's page (Sec-Fetch-Site, sent to secure origins) or another origin
// (an Origin header naming another host).
func crossSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return true
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		return err != nil || u.Host != r.Host
	}
	return false
}

// authenticate finds the caller from the Authorization header, the session
// cookie or, where the route allows it, ?token=. It returns nil, nil when
// the request carries no credentials at all.
func (s *Server) authenticate(c *gin.Context, ru rule) (*auth.Identity, error) {
	r := c.Request
	if hdr := r.Header.Get("Authorization"); hdr != "" {
		cred, err := auth.ParseAuthorization(hdr)
		if err != nil {
			return nil, fmt.Errorf("%w: Authorization header: want Basic or Bearer credentials", errBadCredentials)
		}
		switch cred.Scheme {
		case auth.SchemeBasic:
			if crossSite(r) {
				// Only a browser's own cache sends Basic credentials
				// from another site's page; they never reach the
				// password check (nor its throttle).
				return nil, fmt.Errorf("%w: HTTP Basic credentials are not taken from another site's page (use a token)", errBadCredentials)
			}
			return s.checkPassword(c, cred.User, cred.Password, "basic")
		case auth.SchemeBearer:
			return s.checkToken(c, cred.Token, "bearer")
		}
	}
	if id := s.sessionIdentity(c); id != nil {
		return id, nil
	}
	if ru.queryToken {
		if tok, ok := c.GetQuery("token"); ok {
			if !auth.ValidToken(tok) {
				return nil, fmt.Errorf("%w: token parameter", errBadCredentials)
			}
			return s.checkToken(c, tok, "token_query")
		}
	}
	return nil, nil
}

// client is who tries a password, for the throttle.
func client(c *gin.Context) auth.Client {
	return auth.Client{Addr: clientAddr(c.Request), Device: cookieValue(c.Request, deviceCookie)}
}

// checkPassword checks a user's password under the throttle and logs a
// failure with the address and the user name (never the secret).
func (s *Server) checkPassword(c *gin.Context, user, password, via string) (*auth.Identity, error) {
	id, res, err := s.auth.CheckPassword(client(c), user, password)
	if err != nil {
		return nil, s.passwordFailed(c, user, via, res, err)
	}
	return id, nil
}

// passwordFailed logs a wrong password (a known user by name, any other
// name as "unknown": it may be a password typed into the user field) and
// returns the error to answer with.
func (s *Server) passwordFailed(c *gin.Context, user, via string, res auth.PasswordResult, err error) error {
	if !errors.Is(err, auth.ErrBadCredentials) {
		return err // throttled, busy, or not the client's fault
	}
	if !s.auth.KnownUser(user) {
		user = "unknown"
	}
	s.log.Warn("authentication failed", "client", clientAddr(c.Request).String(), "user", user, "via", via,
		"path", c.Request.URL.Path, "trusted_device", res.Trusted, "locked_s", int(res.Lock.Seconds()))
	return fmt.Errorf("%w: %w", errBadCredentials, err)
}

// checkToken checks an API token. Tokens are 256-bit random: a wrong one
// is answered 401 and never counted by the throttle (a stale token on a
// dashboard, or a hostile page's junk, locks nobody out). Its log line is
// limited to one per address every tokenLogEvery.
func (s *Server) checkToken(c *gin.Context, tok, via string) (*auth.Identity, error) {
	id, err := s.auth.Token(tok, via)
	if err != nil {
		addr := clientAddr(c.Request)
		if n, ok := s.tokenFailures.note(addr, time.Now()); ok {
			s.log.Warn("authentication failed", "client", addr.String(), "via", via,
				"path", c.Request.URL.Path, "similar_before", n)
		}
		return nil, fmt.Errorf("%w: %w", errBadCredentials, err)
	}
	return id, nil
}

// sessionIdentity returns the identity of the request's session cookie,
// or nil.
func (s *Server) sessionIdentity(c *gin.Context) *auth.Identity {
	if s.auth == nil {
		return nil
	}
	v := cookieValue(c.Request, sessionCookie)
	if v == "" {
		return nil
	}
	id, ok := s.auth.Sessions.Lookup(v)
	if !ok {
		return nil
	}
	return id
}

// refuse answers an authentication error: 429 for a throttled client and
// when every password check is taken (both with Retry-After), else 401.
func (s *Server) refuse(c *gin.Context, err error) {
	var t *auth.ThrottledError
	switch {
	case errors.As(err, &t):
		secs := retryAfter(c, t.Wait)
		refuseJSON(c, http.StatusTooManyRequests, fmt.Sprintf(
			"too many failed logins from your address or for this user: try again in %d s", secs))
	case errors.Is(err, auth.ErrBusy):
		retryAfter(c, time.Second)
		refuseJSON(c, http.StatusTooManyRequests, "too many password checks at once: try again in a second")
	case errors.Is(err, errBadCredentials):
		s.basicChallenge(c)
		refuseJSON(c, http.StatusUnauthorized, err.Error())
	default:
		closeIfUnread(c)
		abortWithError(c, s.log, err)
	}
}

// retryAfter sets Retry-After for a client that must wait and returns the
// seconds it holds.
func retryAfter(c *gin.Context, wait time.Duration) int {
	secs := max(int((wait+time.Second-1)/time.Second), 1)
	c.Header("Retry-After", strconv.Itoa(secs))
	return secs
}

// challenge answers a request without credentials: the page redirects to
// the login form, everything else gets 401.
func (s *Server) challenge(c *gin.Context) {
	r := c.Request
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && c.FullPath() == "/" {
		c.Redirect(http.StatusSeeOther, "/login")
		c.Abort()
		return
	}
	s.basicChallenge(c)
	refuseJSON(c, http.StatusUnauthorized, "authentication required: log in, or send HTTP Basic credentials or a Bearer token")
}

// basicChallenge adds WWW-Authenticate, except for requests made by
// camrec's own page (same-origin fetch, img), where the browser would
// pop up its own password dialog instead of letting the page go to the
// login form. On a non-secure origin a browser sends no Sec-Fetch-Site;
// the page's own requests are then told by their Referer (same-origin
// policy: only camrec's pages send one).
func (s *Server) basicChallenge(c *gin.Context) {
	r := c.Request
	if r.Header.Get("Sec-Fetch-Site") == "same-origin" || ownReferer(r) {
		return
	}
	c.Header("WWW-Authenticate", `Basic realm="camrec", charset="UTF-8"`)
}

// ownReferer reports whether the request's Referer is a page of this host.
func ownReferer(r *http.Request) bool {
	ref := r.Header.Get("Referer")
	if ref == "" {
		return false
	}
	u, err := url.Parse(ref)
	return err == nil && u.Host == r.Host
}

// clientAddr is the request's peer address (no proxy headers are
// trusted).
func clientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		a, _ := netip.ParseAddr(r.RemoteAddr)
		return a
	}
	return ap.Addr().Unmap()
}

// hostAllowed checks the Host header against DNS rebinding: IP literals,
// localhost and the allowed names pass. It returns the host without port.
func (s *Server) hostAllowed(hostport string) (string, bool) {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if host == "" {
		return host, false
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return host, true
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return host, true
	}
	for _, a := range s.allowedHosts {
		if host == a {
			return host, true
		}
	}
	return host, false
}

// tokenLogEvery is how often a wrong token from one address is logged.
const tokenLogEvery = 10 * time.Second

// failureLog limits a log line per client address to one every
// tokenLogEvery, counting those left out.
type failureLog struct {
	mu sync.Mutex
	m  map[netip.Addr]*failureLogEntry
}

type failureLogEntry struct {
	last    time.Time
	skipped int
}

// maxFailureLog bounds the addresses remembered (then it starts afresh).
const maxFailureLog = 4096

// note records a failure from addr at now. It reports whether to log it,
// and how many were left out since the last line.
func (f *failureLog) note(addr netip.Addr, now time.Time) (int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil || len(f.m) >= maxFailureLog {
		f.m = map[netip.Addr]*failureLogEntry{}
	}
	e := f.m[addr]
	if e == nil {
		f.m[addr] = &failureLogEntry{last: now}
		return 0, true
	}
	if now.Sub(e.last) < tokenLogEvery {
		e.skipped++
		return 0, false
	}
	n := e.skipped
	e.last, e.skipped = now, 0
	return n, true
}
