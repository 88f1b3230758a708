// Package web holds camrec's browser page: index.html, app.js and style.css,
// and the login form (login.html, a html/template filled by package api),
// embedded in the binary and served by package api. The page has no build
// step and loads nothing from other hosts.
package web

import (
	"embed"
	"io/fs"
)

//go:embed index.html login.html app.js style.css
var files embed.FS

// FS returns the page's files: index.html at the root, app.js and style.css
// beside it.
func FS() fs.FS { return files }
