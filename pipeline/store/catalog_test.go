package store

import (
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/testutil"
)

func copyFixture(t *testing.T, fixture, dst string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", fixture))
	if err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, dst, string(b))
}

func putSidecar(t *testing.T, path string, s Sidecar) {
	t.Helper()
	if err := WriteSidecar(SidecarPath(path), s); err != nil {
		t.Fatal(err)
	}
}

func TestCatalogScan(t *testing.T) {
	probe := testutil.RequireTool(t, "ffprobe")
	root := t.TempDir()
	day := func(d, h int) time.Time { return time.Date(2026, 1, d, h, 0, 0, 0, time.Local) }
	ended := day(2, 11)

	// No sidecar: probed.
	copyFixture(t, "recorder_1s.mp4", filepath.Join(root, "cam0", "cam0-20260101-100000.mp4"))
	// Finished by camrec: the sidecar is trusted.
	done := filepath.Join(root, "cam0", "cam0-20260102-100000.mkv")
	copyFixture(t, "recorder_1s.mkv", done)
	putSidecar(t, done, Sidecar{StartedAt: day(2, 10), EndedAt: &ended, State: RecStateComplete,
		Codec: "mjpeg", Container: "mkv", Width: 160, Height: 120, Frames: 45, FPS: 30, DurationS: 1.5})
	// Left "recording" by a camrec that was killed: interrupted, probed.
	killed := filepath.Join(root, "cam0", "cam0-20260102-100000-2.mkv")
	copyFixture(t, "recorder_1s.mkv", killed)
	putSidecar(t, killed, Sidecar{StartedAt: day(2, 12), State: RecStateRecording, Codec: "mjpeg", Container: "mkv", FPS: 30})
	// Not a video: listed as failed with ffprobe's complaint.
	testutil.WriteFile(t, filepath.Join(root, "cam1", "cam1-20260103-090000.avi"), "not a video")
	// Ignored: not a recording name, camera part not matching its dir,
	// orphan sidecar, dirs that are not camera names, files at the root.
	testutil.WriteFile(t, filepath.Join(root, "cam0", "notes.txt"), "x")
	testutil.WriteFile(t, filepath.Join(root, "cam0", "cam1-20260101-100000.mp4"), "x")
	testutil.WriteFile(t, filepath.Join(root, "cam0", ".cam0-20251231-100000.mp4.json"), "{}")
	testutil.WriteFile(t, filepath.Join(root, "bad dir", "bad dir-20260101-100000.mp4"), "x")
	testutil.WriteFile(t, filepath.Join(root, "cam0-20260101-100000.mp4"), "x")
	if err := os.Mkdir(filepath.Join(root, "cam0", "cam0-20260104-100000.mp4"), 0o755); err != nil {
		t.Fatal(err)
	}

	cat := NewCatalog(root, probe, testutil.Logger(t))
	if err := cat.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	all := cat.List("")
	var ids []string
	for _, r := range all {
		ids = append(ids, r.ID)
	}
	wantIDs := []string{ // newest first
		"cam1-20260103-090000.avi",
		"cam0-20260102-100000-2.mkv",
		"cam0-20260102-100000.mkv",
		"cam0-20260101-100000.mp4",
	}
	if !slices.Equal(ids, wantIDs) {
		t.Fatalf("List = %v, want %v", ids, wantIDs)
	}
	byID := map[string]Recording{}
	for _, r := range all {
		byID[r.ID] = r
	}

	probed := byID["cam0-20260101-100000.mp4"]
	if probed.State != RecStateComplete || probed.VideoCodec != "h264" || probed.Width != 160 ||
		math.Abs(probed.DurationS-1) > 0.05 || !probed.StartedAt.Equal(day(1, 10)) || probed.Bytes == 0 {
		t.Errorf("file without sidecar: %+v", probed)
	}
	fromSidecar := byID["cam0-20260102-100000.mkv"]
	if fromSidecar.State != RecStateComplete || fromSidecar.DurationS != 1.5 || fromSidecar.EndedAt == nil ||
		!fromSidecar.EndedAt.Equal(ended) {
		t.Errorf("file with sidecar: %+v", fromSidecar)
	}
	interrupted := byID["cam0-20260102-100000-2.mkv"]
	if interrupted.State != RecStateInterrupted || math.Abs(interrupted.DurationS-1) > 0.05 ||
		interrupted.EndedAt == nil || interrupted.VideoCodec != "mjpeg" {
		t.Errorf("interrupted: %+v", interrupted)
	}
	if s, err := ReadSidecar(SidecarPath(killed)); err != nil || s.State != RecStateInterrupted {
		t.Errorf("interrupted sidecar not updated: %+v, %v", s, err)
	}
	if bad := byID["cam1-20260103-090000.avi"]; bad.State != RecStateFailed || bad.Error == "" {
		t.Errorf("not a video: %+v", bad)
	}

	if got := cat.List("cam1"); len(got) != 1 || got[0].Camera != "cam1" {
		t.Errorf("List(cam1) = %+v", got)
	}
	if got := cat.List("cam9"); len(got) != 0 {
		t.Errorf("List(cam9) = %+v", got)
	}

	// Open serves the file's bytes.
	f, rec, err := cat.Open("cam0-20260101-100000.mp4")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(f)
	f.Close()
	if err != nil || int64(len(b)) != rec.Bytes {
		t.Errorf("Open read %d bytes (%v), want %d", len(b), err, rec.Bytes)
	}

	// Delete removes file and sidecar.
	if err := cat.Delete("cam0-20260102-100000.mkv"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{done, SidecarPath(done)} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there after Delete (%v)", p, err)
		}
	}
	if _, err := cat.Get("cam0-20260102-100000.mkv"); !errors.Is(err, defs.ErrNotFound) {
		t.Errorf("Get after Delete = %v, want ErrNotFound", err)
	}
	if err := cat.Delete("cam0-20260102-100000.mkv"); !errors.Is(err, defs.ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}

	// A new scan finds the same (minus the deleted one).
	if err := cat.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(cat.List("")); n != 3 {
		t.Errorf("rescan: %d recordings, want 3", n)
	}
}

func TestCatalogRejectsPathTricks(t *testing.T) {
	root := t.TempDir()
	// Something an escaping ID might reach.
	testutil.WriteFile(t, filepath.Join(root, "secret.mp4"), "secret")
	testutil.WriteFile(t, filepath.Join(root, "cam0", "cam0-20260101-100000.mp4"), "video")
	cat := NewCatalog(root, "", testutil.Logger(t))
	if err := cat.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := cat.Get("cam0-20260101-100000.mp4"); err != nil {
		t.Fatalf("the real recording: %v", err)
	}
	for _, id := range []string{
		"", ".", "..", "../x", "a/b", "%2e%2e", "..%2f..%2fsecret.mp4", "../secret.mp4",
		"cam0/../../secret.mp4", "/etc/passwd", "cam0-20260101-100000.mp4/",
		"cam0\\cam0-20260101-100000.mp4", "cam0-20260101-100000.MP4",
		"cam0-20260101-100000.mp4\x00", ".cam0-20260101-100000.mp4.json",
		"cam0-20260101-100000", "cam9-20260101-100000.mp4", "-20260101-100000.mp4",
		"cam0-2026010-100000.mp4", " cam0-20260101-100000.mp4",
	} {
		t.Run(id, func(t *testing.T) {
			if _, err := cat.Get(id); !errors.Is(err, defs.ErrNotFound) {
				t.Errorf("Get = %v, want ErrNotFound", err)
			}
			if f, _, err := cat.Open(id); !errors.Is(err, defs.ErrNotFound) {
				if f != nil {
					f.Close()
				}
				t.Errorf("Open = %v, want ErrNotFound", err)
			}
			if err := cat.Delete(id); !errors.Is(err, defs.ErrNotFound) {
				t.Errorf("Delete = %v, want ErrNotFound", err)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(root, "secret.mp4")); err != nil {
		t.Errorf("secret.mp4: %v", err)
	}
}

func TestCatalogNamesNeverOverwrite(t *testing.T) {
	root := t.TempDir()
	cat := NewCatalog(root, "", testutil.Logger(t))
	at := time.Date(2026, 11, 25, 10, 53, 0, 0, time.Local)
	existing := filepath.Join(root, "cam0", "cam0-20261125-105300.mp4")
	testutil.WriteFile(t, existing, "keep me")
	// A sidecar whose file is gone keeps its name retired too.
	testutil.WriteFile(t, filepath.Join(root, "cam0", ".cam0-20261125-105300-2.mp4.json"), "{}")

	var got []string
	for range 3 {
		id, path, err := cat.Reserve("cam0", "mp4", at)
		if err != nil {
			t.Fatal(err)
		}
		if path != filepath.Join(root, "cam0", id) {
			t.Errorf("path %s for id %s", path, id)
		}
		got = append(got, id)
	}
	want := []string{"cam0-20261125-105300-3.mp4", "cam0-20261125-105300-4.mp4", "cam0-20261125-105300-5.mp4"}
	if !slices.Equal(got, want) {
		t.Errorf("names %v, want %v", got, want)
	}
	if id, _, err := cat.Reserve("cam0", "mkv", at); err != nil || id != "cam0-20261125-105300.mkv" {
		t.Errorf("other container: %q, %v", id, err)
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Errorf("existing file changed: %q", b)
	}
	for _, id := range got {
		if cam, started, container, ok := parseID(id); !ok || cam != "cam0" || !started.Equal(at) || container != "mp4" {
			t.Errorf("parseID(%s) = %s %s %s %v", id, cam, started, container, ok)
		}
	}
}

// TestCatalogRemuxReplacesFileOnlyOnSuccess: a failed remux leaves the
// original; a recording deleted while it is remuxed stays deleted; a good one
// replaces it atomically and updates size and sidecar; Scan removes a stale
// temp.
func TestCatalogRemuxReplacesFileOnlyOnSuccess(t *testing.T) {
	root := t.TempDir()
	cat := NewCatalog(root, "", testutil.Logger(t))
	id, path, err := cat.Reserve("cam0", "mp4", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, path, "fragmented")
	meta := Sidecar{StartedAt: time.Now(), State: RecStateComplete, Container: "mp4", Fragmented: true}
	if err := cat.Put("cam0", id, path, meta, 10); err != nil {
		t.Fatal(err)
	}
	tmp := RemuxTemp(path)

	if !cat.BeginRemux(id) || cat.BeginRemux(id) {
		t.Fatal("beginRemux: want true once, then false while busy")
	}
	testutil.WriteFile(t, tmp, "half")
	if err := cat.EndRemux(id, tmp, errors.New("ffmpeg failed")); err == nil {
		t.Error("endRemux with an error returned nil")
	}
	if b, _ := os.ReadFile(path); string(b) != "fragmented" {
		t.Errorf("original after a failed remux: %q", b)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp after a failed remux: %v", err)
	}

	if !cat.BeginRemux(id) {
		t.Fatal("beginRemux after a failed one: want true")
	}
	testutil.WriteFile(t, tmp, "plain mp4")
	if err := cat.EndRemux(id, tmp, nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "plain mp4" {
		t.Errorf("file after remux: %q", b)
	}
	if rec, _ := cat.Get(id); rec.Bytes != int64(len("plain mp4")) {
		t.Errorf("bytes after remux: %d", rec.Bytes)
	}
	if s, err := ReadSidecar(SidecarPath(path)); err != nil || s.Fragmented {
		t.Errorf("sidecar after remux: %+v, %v", s, err)
	}

	testutil.WriteFile(t, tmp, "stale")
	if err := cat.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temp after Scan: %v", err)
	}
	if err := cat.Delete(id); err != nil {
		t.Errorf("Delete after remux: %v", err)
	}

	// Deleted while a remux runs: the delete wins.
	if err := cat.Put("cam0", id, path, meta, 10); err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, path, "fragmented")
	if !cat.BeginRemux(id) {
		t.Fatal("beginRemux: want true")
	}
	if err := cat.Delete(id); err != nil {
		t.Fatalf("Delete while remuxing: %v", err)
	}
	testutil.WriteFile(t, tmp, "plain mp4")
	if err := cat.EndRemux(id, tmp, nil); !errors.Is(err, defs.ErrNotFound) {
		t.Errorf("endRemux after a delete = %v, want ErrNotFound", err)
	}
	for _, p := range []string{path, tmp} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after delete during remux: %v", p, err)
		}
	}
	if _, err := cat.Get(id); !errors.Is(err, defs.ErrNotFound) {
		t.Errorf("Get after delete during remux: %v", err)
	}
}
