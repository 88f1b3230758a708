package store

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/testutil"
)

// goneDir is a catalogue of two finished recordings of cam0 (real MP4s)
// and one in progress, scanned from disk; it returns their paths, oldest
// first.
func goneDir(t *testing.T) (*Catalog, []string) {
	t.Helper()
	root := t.TempDir()
	start := time.Date(2026, 1, 2, 10, 0, 0, 0, time.Local)
	var paths []string
	for i := range 3 {
		started := start.Add(time.Duration(i) * time.Minute)
		path := filepath.Join(root, "cam0", "cam0-"+started.Format("20060102-150405")+".mp4")
		copyFixture(t, "recorder_1s.mp4", path)
		ended := started.Add(time.Second)
		s := Sidecar{StartedAt: started, EndedAt: &ended, State: RecStateComplete, Codec: "h264",
			Container: "mp4", Width: 160, Height: 120, Frames: 30, FPS: 30, DurationS: 1}
		if i == 2 {
			s = Sidecar{StartedAt: started, State: RecStateRecording, Codec: "h264", Container: "mp4", FPS: 30}
		}
		putSidecar(t, path, s)
		paths = append(paths, path)
	}
	cat := NewCatalog(root, "", testutil.Logger(t))
	if err := cat.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The one in progress is this process's own (as the recorder's Put
	// makes it): Scan would call it interrupted otherwise.
	id := filepath.Base(paths[2])
	if err := cat.Put("cam0", id, paths[2], Sidecar{StartedAt: start.Add(2 * time.Minute), State: RecStateRecording,
		Codec: "h264", Container: "mp4", FPS: 30}, 0); err != nil {
		t.Fatal(err)
	}
	if n := len(cat.List("cam0")); n != 3 {
		t.Fatalf("%d recordings listed, want 3", n)
	}
	return cat, paths
}

// A finished recording whose file a hook moved away (or someone deleted)
// leaves the catalogue as soon as the catalogue is asked, whichever way:
// it is neither listed, nor found, nor pending upload, nor
// counted by retention, and its sidecar goes too. One uploaded before stays
// listed as remote-only (played from the bucket). A recording in progress
// is left alone.
func TestCatalogNoticesFileGone(t *testing.T) {
	asks := []struct {
		name string
		ask  func(cat *Catalog)
	}{
		{"List", func(cat *Catalog) { cat.List("") }},
		{"Get", func(cat *Catalog) { _, _ = cat.Get("cam0-20260102-100000.mp4") }},
		{"NotUploaded", func(cat *Catalog) { cat.NotUploaded("cam0") }},
		{"PendingUploads", func(cat *Catalog) { cat.PendingUploads("cam0") }},
		{"Prune", func(cat *Catalog) { _, _ = cat.Prune("cam0", Retention{MaxDisk: 1 << 40}, time.Now()) }},
	}
	for _, a := range asks {
		t.Run(a.name, func(t *testing.T) {
			cat, paths := goneDir(t)
			now := time.Now()
			uploaded := filepath.Base(paths[1])
			rec, err := cat.Get(uploaded)
			if err != nil {
				t.Fatal(err)
			}
			if err := cat.MarkUploaded(uploaded, rec.Bytes, now, "http://s3/b/k"); err != nil {
				t.Fatal(err)
			}
			away := t.TempDir()
			for _, p := range paths {
				if err := os.Rename(p, filepath.Join(away, filepath.Base(p))); err != nil {
					t.Fatal(err)
				}
			}
			a.ask(cat)

			moved := filepath.Base(paths[0])
			if _, err := cat.Get(moved); !errors.Is(err, defs.ErrNotFound) {
				t.Errorf("Get of the moved recording: %v, want ErrNotFound", err)
			}
			if _, err := os.Stat(SidecarPath(paths[0])); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("sidecar of the moved recording: %v, want it deleted", err)
			}
			for _, p := range cat.PendingUploads("cam0") {
				if p.ID == moved {
					t.Errorf("the moved recording is pending upload")
				}
			}
			r, err := cat.Get(uploaded)
			if err != nil || !r.RemoteOnly || r.Bytes != rec.Bytes || r.RemoteURL != "http://s3/b/k" {
				t.Errorf("uploaded recording whose file went: %+v, %v; want remote-only, %d bytes", r, err, rec.Bytes)
			}
			if s, err := ReadSidecar(SidecarPath(paths[1])); err != nil || !s.RemoteOnly {
				t.Errorf("its sidecar: %+v, %v; want remote_only", s, err)
			}
			if r, err := cat.Get(filepath.Base(paths[2])); err != nil || r.State != RecStateRecording {
				t.Errorf("recording in progress: %+v, %v; want listed, recording", r, err)
			}
			if n := len(cat.List("")); n != 2 {
				t.Errorf("%d recordings listed, want 2", n)
			}
		})
	}
}

// The catalogue looks at a camera's files again only when its folder
// changed since it last looked; a folder whose modification time is too
// recent to be trusted (the kernel's clock for it is coarse: a change in
// the same tick keeps the time) is looked at again every time.
func TestCatalogNoticesFileGoneWithinAClockTick(t *testing.T) {
	cat, paths := goneDir(t)
	dir := filepath.Dir(paths[0])
	setMtime := func(at time.Time) {
		t.Helper()
		if err := os.Chtimes(dir, at, at); err != nil {
			t.Fatal(err)
		}
	}
	// A change that kept the folder's time: seen, the last look having
	// come too soon after that time to trust it.
	recent := time.Now()
	setMtime(recent)
	cat.List("cam0")
	if err := os.Remove(paths[0]); err != nil {
		t.Fatal(err)
	}
	setMtime(recent)
	if _, err := cat.Get(filepath.Base(paths[0])); !errors.Is(err, defs.ErrNotFound) {
		t.Errorf("a file removed within the folder's clock tick is still found: %v", err)
	}

	// A settled folder that did not change is not looked into: one stat
	// per camera while nothing happens. (The test fakes a removal that
	// kept an old time to see it.)
	old := time.Now().Add(-time.Hour)
	setMtime(old)
	cat.List("cam0")
	if err := os.Remove(paths[1]); err != nil {
		t.Fatal(err)
	}
	setMtime(old)
	if _, err := cat.Get(filepath.Base(paths[1])); err != nil {
		t.Errorf("the settled, unchanged folder was looked into: %v", err)
	}
	// Any real change moves the time: seen.
	setMtime(time.Now())
	if _, err := cat.Get(filepath.Base(paths[1])); !errors.Is(err, defs.ErrNotFound) {
		t.Errorf("a file removed from a changed folder is still found: %v", err)
	}
}
