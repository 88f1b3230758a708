package api

import (
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// recovery turns a panicking handler into a 500 and a log line with the
// stack. http.ErrAbortHandler is passed on: it is how a handler asks the
// server to drop the connection.
func (s *Server) recovery(c *gin.Context) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
			panic(v)
		}
		s.log.Error("handler panic", "method", c.Request.Method, "path", c.Request.URL.Path,
			"panic", v, "stack", string(debug.Stack()))
		if !c.Writer.Written() {
			c.AbortWithStatusJSON(http.StatusInternalServerError, errorBody{Error: "internal error"})
		} else {
			c.Abort()
		}
	}()
	c.Next()
}

// logRequests logs one line per request once it is answered. MJPEG streams
// are skipped (their handler logs the session when it ends); successful
// reads and /healthz are logged at debug level, because the page polls
// status every second and monitors poll /healthz.
func (s *Server) logRequests(c *gin.Context) {
	if strings.HasSuffix(c.Request.URL.Path, "/stream.mjpg") {
		c.Next()
		return
	}
	start := time.Now()
	c.Next()
	status := c.Writer.Status()
	level := slog.LevelDebug
	switch {
	case c.Request.URL.Path == "/healthz":
		// Monitors poll it; a camera's trouble is logged where it happens.
	case status == http.StatusUnauthorized, status == http.StatusForbidden,
		status == http.StatusMisdirectedRequest, status == http.StatusTooManyRequests:
		// Refusals cost an attacker nothing to repeat: a real credential
		// failure is logged (at warn, throttled) where it is checked.
	case status >= 500 && status != http.StatusServiceUnavailable:
		level = slog.LevelWarn
	case c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead, status >= 400:
		level = slog.LevelInfo
	}
	attrs := []any{
		"method", c.Request.Method,
		"path", c.Request.URL.Path,
		"status", status,
		"bytes", max(c.Writer.Size(), 0), // -1: nothing written
		"duration_ms", float64(time.Since(start).Microseconds()) / 1000,
		"client", c.Request.RemoteAddr,
	}
	if id := identity(c); id != nil && id.Name != "" {
		attrs = append(attrs, "user", id.Name) // who changed what
	}
	s.log.Log(c.Request.Context(), level, "http request", attrs...)
}
