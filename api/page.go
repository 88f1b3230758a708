package api

import (
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/camrec/camrec/internal/defs"
)

// index serves the page itself. (gin's FileFromFS would redirect
// /index.html to ./, a loop at /.)
func (s *Server) index(c *gin.Context) {
	b, err := fs.ReadFile(s.web, "index.html")
	if err != nil {
		abortWithError(c, s.log, fmt.Errorf("read embedded page: %w", err))
		return
	}
	s.pageHeaders(c)
	c.Data(http.StatusOK, "text/html; charset=utf-8", b)
}

// static serves the page's other files (app.js, style.css) under /static/.
func (s *Server) static(c *gin.Context) {
	name := strings.TrimPrefix(path.Clean(c.Param("file")), "/")
	if !fs.ValidPath(name) || name == "." || path.Ext(name) == ".html" {
		abortWithError(c, s.log, fmt.Errorf("static file %q: %w", name, defs.ErrNotFound))
		return
	}
	b, err := fs.ReadFile(s.web, name)
	if err != nil {
		abortWithError(c, s.log, fmt.Errorf("static file %q: %w", name, defs.ErrNotFound))
		return
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	c.Header("Cache-Control", "no-cache")
	c.Data(http.StatusOK, ctype, b)
}
