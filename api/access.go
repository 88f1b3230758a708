package api

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"path"
	"strconv"
	"strings"
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
}

// sessionCookie is the page's session cookie.
const sessionCookie = "camrec_session"

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
// the Host check (DNS rebinding), the cross-origin check (CSRF), then who
// the caller is and whether the route allows them. Anything it cannot
// place is refused.
func (s *Server) guard(c *gin.Context) {
	r := c.Request
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if strings.HasPrefix(r.URL.Path, "/api/") {
		h.Set("Cache-Control", "no-store")
	}

	if s.hostCheck {
		if host, ok := s.hostAllowed(r.Host); !ok {
			c.AbortWithStatusJSON(http.StatusMisdirectedRequest, errorBody{Error: fmt.Sprintf(
				"host %q is not allowed here (DNS rebinding protection): use an IP address or localhost, or add the name to allowed_hosts (-allowed-host)", host)})
			return
		}
	}
	if err := s.crossOrigin.Check(r); err != nil {
		c.AbortWithStatusJSON(http.StatusForbidden, errorBody{Error: "cross-origin request refused: " + r.Method + " must come from camrec's own page"})
		return
	}

	ru, ok := s.rules[r.Method+" "+c.FullPath()]
	switch {
	case !ok && c.FullPath() != "":
		// A route registered without a rule: deny (a test walks the
		// routes so this never ships).
		c.AbortWithStatusJSON(http.StatusForbidden, errorBody{Error: "no access rule for " + r.Method + " " + c.FullPath()})
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
	if ru.need == accessPublic {
		if id := s.sessionIdentity(c); id != nil {
			c.Set(identityKey, id)
		}
		return
	}
	id, err := s.authenticate(c, ru)
	if err != nil {
		s.refuse(c, err)
		return
	}
	if id == nil {
		s.challenge(c)
		return
	}
	c.Set(identityKey, id)
	need := auth.RoleViewer
	if ru.need == accessOperator {
		need = auth.RoleOperator
	}
	if !id.Has(need) {
		c.AbortWithStatusJSON(http.StatusForbidden, errorBody{Error: fmt.Sprintf(
			"%s %q has the %s role: %s %s needs %s", kindOf(id), id.Name, id.Role, r.Method, c.FullPath(), need)})
		return
	}
}

func kindOf(id *auth.Identity) string {
	if id.Via == "bearer" || id.Via == "token_query" {
		return "token"
	}
	return "user"
}

// throttled is an error carrying how long the client must wait.
type throttled struct{ wait time.Duration }

func (t throttled) Error() string { return auth.ErrThrottled.Error() }

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
			return s.checkCredential(c, cred.User, "basic", func() (*auth.Identity, error) { return s.auth.Password(cred.User, cred.Password) })
		case auth.SchemeBearer:
			return s.checkCredential(c, "", "bearer", func() (*auth.Identity, error) { return s.auth.Token(cred.Token, "bearer") })
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
			return s.checkCredential(c, "", "token_query", func() (*auth.Identity, error) { return s.auth.Token(tok, "token_query") })
		}
	}
	return nil, nil
}

// checkCredential runs check under the per-address throttle and logs a
// failure with the address and user name (never the secret).
func (s *Server) checkCredential(c *gin.Context, user, via string, check func() (*auth.Identity, error)) (*auth.Identity, error) {
	addr := clientAddr(c.Request)
	if wait := s.auth.Throttle.Blocked(addr); wait > 0 {
		return nil, throttled{wait}
	}
	id, err := check()
	if err != nil {
		lock := s.auth.Throttle.Fail(addr)
		s.log.Warn("authentication failed", "client", addr.String(), "user", user, "via", via,
			"path", c.Request.URL.Path, "locked_s", int(lock.Seconds()))
		if !errors.Is(err, auth.ErrBadCredentials) {
			return nil, err // not the client's fault (no randomness for a session id)
		}
		return nil, fmt.Errorf("%w: %w", errBadCredentials, err)
	}
	s.auth.Throttle.Succeed(addr)
	return id, nil
}

// sessionIdentity returns the identity of the request's session cookie,
// or nil.
func (s *Server) sessionIdentity(c *gin.Context) *auth.Identity {
	if s.auth == nil {
		return nil
	}
	ck, err := c.Request.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	id, ok := s.auth.Sessions.Lookup(ck.Value)
	if !ok {
		return nil
	}
	return id
}

// refuse answers an authentication error: 429 for a throttled address,
// else 401.
func (s *Server) refuse(c *gin.Context, err error) {
	var t throttled
	if errors.As(err, &t) {
		secs := retryAfter(c, t)
		c.AbortWithStatusJSON(http.StatusTooManyRequests, errorBody{Error: fmt.Sprintf(
			"too many failed logins from your address: try again in %d s", secs)})
		return
	}
	s.basicChallenge(c)
	c.AbortWithStatusJSON(http.StatusUnauthorized, errorBody{Error: err.Error()})
}

// retryAfter sets Retry-After for a throttled client and returns the
// seconds it holds.
func retryAfter(c *gin.Context, t throttled) int {
	secs := int((t.wait + time.Second - 1) / time.Second)
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
	c.AbortWithStatusJSON(http.StatusUnauthorized, errorBody{Error: "authentication required: log in, or send HTTP Basic credentials or a Bearer token"})
}

// basicChallenge adds WWW-Authenticate, except for requests made by
// camrec's own page (same-origin fetch, img), where the browser would
// pop up its own password dialog instead of letting the page go to the
// login form.
func (s *Server) basicChallenge(c *gin.Context) {
	if c.Request.Header.Get("Sec-Fetch-Site") == "same-origin" {
		return
	}
	c.Header("WWW-Authenticate", `Basic realm="camrec", charset="UTF-8"`)
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
