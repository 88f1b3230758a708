// Tests of opening a recording to serve it: only a regular file inside
// the record dir, never through a link.

package store

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/testutil"
)

// TestCatalogOpenRefusesLinks: Open serves only the regular file at
// <dir>/<camera>/<id>. A file or camera folder swapped after the scan for a
// symlink (to a secret outside the record dir, or anywhere), a FIFO or a
// directory is ErrNotFound, and nothing of the link's target is served.
func TestCatalogOpenRefusesLinks(t *testing.T) {
	const id = "cam0-20260101-100000.mp4"
	const secret = "SECRET: root:$6$hash:19000:0:99999:7:::"
	outside := t.TempDir()
	testutil.WriteFile(t, filepath.Join(outside, "shadow"), secret)
	// What a camera folder pointing here would serve under the same name.
	testutil.WriteFile(t, filepath.Join(outside, "cam0", id), secret)

	// setup returns a catalogue that listed the real file at path.
	setup := func(t *testing.T) (cat *Catalog, root, path string) {
		root = t.TempDir()
		path = filepath.Join(root, "cam0", id)
		testutil.WriteFile(t, path, "video")
		cat = NewCatalog(root, "", testutil.Logger(t))
		if err := cat.Scan(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := cat.Get(id); err != nil {
			t.Fatal(err)
		}
		return cat, root, path
	}
	replaceFile := func(t *testing.T, path string, with func(path string) error) {
		t.Helper()
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if err := with(path); err != nil {
			t.Fatal(err)
		}
	}
	replaceCameraDir := func(t *testing.T, root, target string) {
		t.Helper()
		if err := os.Rename(filepath.Join(root, "cam0"), filepath.Join(root, "moved")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(root, "cam0")); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("regular file", func(t *testing.T) {
		cat, _, _ := setup(t)
		f, rec, err := cat.Open(id)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		if err != nil || string(b) != "video" || rec.ID != id {
			t.Errorf("Open read %q (%v), recording %s; want the file's bytes", b, err, rec.ID)
		}
	})

	tests := []struct {
		name    string
		swap    func(t *testing.T, root, path string)
		wantMsg string
	}{
		{"file is a symlink outside", func(t *testing.T, _, path string) {
			replaceFile(t, path, func(p string) error { return os.Symlink(filepath.Join(outside, "shadow"), p) })
		}, "file is not a regular file"},
		{"file is a relative symlink inside", func(t *testing.T, root, path string) {
			testutil.WriteFile(t, filepath.Join(root, "cam0", "other.mp4"), secret)
			replaceFile(t, path, func(p string) error { return os.Symlink("other.mp4", p) })
		}, "file is not a regular file"},
		{"file is a FIFO", func(t *testing.T, _, path string) {
			// Opening a FIFO for reading would block until a writer came.
			replaceFile(t, path, func(p string) error { return syscall.Mkfifo(p, 0o644) })
		}, "file is not a regular file"},
		{"file is a directory", func(t *testing.T, _, path string) {
			replaceFile(t, path, func(p string) error { return os.Mkdir(p, 0o755) })
		}, "file is not a regular file"},
		{"camera folder is a symlink outside", func(t *testing.T, root, _ string) {
			replaceCameraDir(t, root, filepath.Join(outside, "cam0"))
		}, "cam0 is not a directory"},
		{"camera folder is a relative symlink inside", func(t *testing.T, root, _ string) {
			replaceCameraDir(t, root, "moved")
		}, "is not a directory"},
		{"file is gone", func(t *testing.T, _, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, "file is gone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cat, root, path := setup(t)
			tt.swap(t, root, path)
			type result struct {
				f   *os.File
				err error
			}
			res := make(chan result, 1)
			go func() {
				f, _, err := cat.Open(id)
				res <- result{f, err}
			}()
			var r result
			select {
			case r = <-res:
			case <-time.After(10 * time.Second):
				// A safety net, not a speed limit: Open is stuck (in the
				// open of a FIFO); a writer unblocks it.
				w, err := os.OpenFile(path, os.O_RDWR, 0)
				r = <-res
				if err == nil {
					w.Close()
				}
				t.Errorf("Open blocked")
			}
			f, err := r.f, r.err
			if f != nil {
				b, _ := io.ReadAll(f)
				f.Close()
				t.Fatalf("Open served %q (err %v); want ErrNotFound", b, err)
			}
			if !errors.Is(err, defs.ErrNotFound) {
				t.Errorf("Open = %v, want ErrNotFound", err)
			}
			if err != nil && (!strings.Contains(err.Error(), tt.wantMsg) || strings.Contains(err.Error(), "SECRET")) {
				t.Errorf("Open error %q: want it to say %q, and nothing of the target", err, tt.wantMsg)
			}
		})
	}
	if b, err := os.ReadFile(filepath.Join(outside, "shadow")); err != nil || string(b) != secret {
		t.Errorf("the link's target changed: %q, %v", b, err)
	}
}
