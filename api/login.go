package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/camrec/camrec/internal/auth"
)

// pageCSP is the Content-Security-Policy of camrec's pages: everything
// from camrec itself, nothing inline, no framing (clickjacking). The media
// of recordings whose local copy was deleted after their upload come from
// the S3 servers (a redirect to a presigned URL): mediaOrigins adds them.
func pageCSP(mediaOrigins []string) string {
	media := "'self'"
	for _, o := range mediaOrigins {
		media += " " + o
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
		"media-src " + media + "; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}

// pageHeaders sets the headers of an HTML page.
func (s *Server) pageHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", s.csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
}

// loginView is what login.html shows.
type loginView struct {
	Error string
	Next  string
	User  string
}

// renderLogin answers with the login form (login.html, parsed once by New).
func (s *Server) renderLogin(c *gin.Context, code int, v loginView) {
	if s.loginTmpl == nil {
		abortWithError(c, s.log, fmt.Errorf("login page: %w", s.loginTmplErr))
		return
	}
	var b bytes.Buffer
	if err := s.loginTmpl.Execute(&b, v); err != nil {
		abortWithError(c, s.log, fmt.Errorf("login page: %w", err))
		return
	}
	s.pageHeaders(c)
	c.Data(code, "text/html; charset=utf-8", b.Bytes())
}

// loginPage serves GET /login: the form, or the page itself for someone
// already logged in (or when auth is off).
func (s *Server) loginPage(c *gin.Context) {
	next := auth.SafeNext(c.Query("next"))
	if s.auth == nil || identity(c) != nil {
		c.Redirect(http.StatusSeeOther, next)
		return
	}
	s.renderLogin(c, http.StatusOK, loginView{Next: next})
}

// login serves POST /login: checks the form under the throttle, opens a
// session and sets its cookie, and the device cookie that keeps this
// browser from being locked out by others' guesses (auth.Throttle).
func (s *Server) login(c *gin.Context) {
	if s.auth == nil {
		c.Redirect(http.StatusSeeOther, "/")
		return
	}
	if err := requireType(c.Request, "application/x-www-form-urlencoded"); err != nil {
		abortWithError(c, s.log, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, auth.MaxFormBytes))
	if err != nil {
		closeIfUnread(c)
		s.renderLogin(c, http.StatusBadRequest, loginView{Error: "The form could not be read.", Next: "/"})
		return
	}
	form, err := auth.ParseLoginForm(body)
	if err != nil {
		s.renderLogin(c, http.StatusBadRequest, loginView{Error: "Enter a user name and a password.", Next: "/"})
		return
	}
	lr, res, err := s.auth.Login(client(c), form.User, form.Password)
	if err != nil {
		err = s.passwordFailed(c, form.User, "login_form", res, err)
	}
	user := form.User
	if !s.auth.KnownUser(user) {
		user = "" // do not show back what may be a password
	}
	var wait *auth.ThrottledError
	switch {
	case errors.As(err, &wait):
		secs := retryAfter(c, wait.Wait)
		s.renderLogin(c, http.StatusTooManyRequests, loginView{
			Error: fmt.Sprintf("Too many failed logins from your address or for this user. Try again in %d s.", secs), Next: form.Next, User: user})
		return
	case errors.Is(err, auth.ErrBusy):
		retryAfter(c, time.Second)
		s.renderLogin(c, http.StatusTooManyRequests, loginView{
			Error: "Too many logins are being checked right now. Try again in a moment.", Next: form.Next, User: user})
		return
	case errors.Is(err, auth.ErrBadCredentials):
		s.renderLogin(c, http.StatusUnauthorized, loginView{Error: "Wrong user name or password.", Next: form.Next, User: user})
		return
	case err != nil:
		abortWithError(c, s.log, err)
		return
	}
	secure := c.Request.TLS != nil
	http.SetCookie(c.Writer, &http.Cookie{
		Name:     cookieName(c.Request, sessionCookie),
		Value:    lr.SessionID,
		Path:     "/",
		Expires:  lr.Expires,
		MaxAge:   int(time.Until(lr.Expires).Seconds()),
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteStrictMode,
	})
	http.SetCookie(c.Writer, &http.Cookie{
		Name:     cookieName(c.Request, deviceCookie),
		Value:    lr.Device,
		Path:     "/",
		MaxAge:   int(auth.DeviceMaxAge.Seconds()),
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteStrictMode,
	})
	id := lr.Identity
	s.log.Info("logged in", "user", id.Name, "role", id.Role.String(), "client", clientAddr(c.Request).String(), "trusted_device", res.Trusted)
	c.Redirect(http.StatusSeeOther, form.Next)
}

// logout serves POST /logout: ends the session on the server (the cookie
// is useless afterwards, even if kept) and clears the cookie. The device
// cookie stays: it is no credential, only the memory that this browser
// logged in before.
func (s *Server) logout(c *gin.Context) {
	if s.auth != nil {
		if v := cookieValue(c.Request, sessionCookie); v != "" {
			if id, ok := s.auth.Sessions.Lookup(v); ok {
				s.log.Info("logged out", "user", id.Name, "client", clientAddr(c.Request).String())
			}
			s.auth.Sessions.End(v)
		}
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: cookieName(c.Request, sessionCookie), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: c.Request.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	c.Redirect(http.StatusSeeOther, "/login")
}

// meBody is the body of GET /api/v1/me.
type meBody struct {
	// Auth is false when camrec runs without users (everyone operates).
	Auth bool   `json:"auth"`
	Name string `json:"name"`
	Role string `json:"role"`
	// Via: basic, bearer, token_query, session or none.
	Via string `json:"via"`
	// Cameras limits the caller to these cameras; null means all.
	Cameras []string `json:"cameras"`
}

// me answers who the caller is, for the page (user name, which buttons to
// show) and for checking a token.
func (s *Server) me(c *gin.Context) {
	id := identity(c)
	c.JSON(http.StatusOK, meBody{Auth: s.auth != nil, Name: id.Name, Role: id.Role.String(), Via: id.Via, Cameras: id.Cameras})
}
