package web

import (
	"io/fs"
	"strings"
	"testing"
)

// TestFS checks that the page and everything it loads are embedded, and
// that it loads nothing from other hosts.
func TestFS(t *testing.T) {
	index, err := fs.ReadFile(FS(), "index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"app.js", "style.css"} {
		b, err := fs.ReadFile(FS(), name)
		if err != nil || len(b) == 0 {
			t.Errorf("%s: %d bytes, %v", name, len(b), err)
		}
		if !strings.Contains(string(index), `"/static/`+name+`"`) {
			t.Errorf("index.html does not load /static/%s", name)
		}
	}
	for _, needle := range []string{`name="viewport"`, `id="recordings"`, `class="btn record-toggle"`} {
		if !strings.Contains(string(index), needle) {
			t.Errorf("index.html lacks %s", needle)
		}
	}
	for _, name := range []string{"index.html", "login.html", "app.js", "style.css"} {
		b, _ := fs.ReadFile(FS(), name)
		for _, ext := range []string{"http://", "https://"} {
			if i := strings.Index(string(b), ext); i >= 0 && !strings.HasPrefix(string(b[i:]), "http://www.w3.org/2000/svg") {
				t.Errorf("%s refers to another host: %.60s", name, b[i:])
			}
		}
	}
}
