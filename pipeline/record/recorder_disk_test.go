// Tests of the recorder and the record dir: a dir that cannot be written
// (nothing is left behind, the error says why), a delete during a remux.

package record

import (
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/testutil"
	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/pipeline/store"
)

// TestRecorderUnwritableDir: when the recording's file cannot be created,
// starting fails with an error that wraps ErrUnavailable (the API's 503,
// "cannot record now") and names the path and the cause, and nothing on disk
// is removed. Tests run as root, which ignores mode bits: the cases that
// work as root put a file where a folder must be, or mount a read-only
// file system.
func TestRecorderUnwritableDir(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(t *testing.T, root string) (dir, wantPath string)
		wantCause error
	}{
		{"record dir is a file", func(t *testing.T, root string) (string, string) {
			f := filepath.Join(root, "file")
			testutil.WriteFile(t, f, "x")
			return f, filepath.Join(f, "cam0")
		}, syscall.ENOTDIR},
		{"camera dir is a file", func(t *testing.T, root string) (string, string) {
			testutil.WriteFile(t, filepath.Join(root, "cam0"), "x")
			return root, filepath.Join(root, "cam0")
		}, syscall.ENOTDIR},
		{"camera dir read-only", func(t *testing.T, root string) (string, string) {
			if os.Geteuid() == 0 {
				t.Skip("root writes into read-only dirs")
			}
			d := filepath.Join(root, "cam0")
			if err := os.Mkdir(d, 0o555); err != nil {
				t.Fatal(err)
			}
			return root, d
		}, syscall.EACCES},
		{"read-only file system", func(t *testing.T, root string) (string, string) {
			if err := syscall.Mount("tmpfs", root, "tmpfs", 0, "size=1m"); err != nil {
				t.Skipf("mount a tmpfs (needs root): %v", err)
			}
			t.Cleanup(func() {
				if err := syscall.Unmount(root, syscall.MNT_DETACH); err != nil {
					t.Errorf("unmount %s: %v", root, err)
				}
			})
			// An earlier recording, which must survive.
			testutil.WriteFile(t, filepath.Join(root, "cam0", "cam0-20260101-100000.mp4"), "x")
			if err := syscall.Mount("", root, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
				t.Fatalf("remount read-only: %v", err)
			}
			return root, filepath.Join(root, "cam0")
		}, syscall.EROFS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, wantPath := tt.setup(t, t.TempDir())
			before := rtTree(t, dir)
			log := testutil.Logger(t)
			cat := store.NewCatalog(dir, "", log)
			// ffmpeg is not reached: the dir is checked first. The camera
			// streams (else the start is refused for want of frames).
			src := &rtSource{hub: pipeline.NewHub(), fps: 30}
			src.hub.Publish(&pipeline.Frame{Data: []byte{0xff, 0xd8, 0xff, 0xd9}, Time: time.Now()})
			r := NewRecorder(RecorderConfig{Camera: "cam0", Dir: dir, FFmpeg: "/nonexistent/ffmpeg"}, src, cat, log)
			rtRun(t, r)
			st, err := r.SetActive(rtCtx(t), true)
			if err == nil || st.Active {
				t.Fatalf("start = %+v, %v; want an error", st, err)
			}
			t.Logf("start: %v", err)
			if !errors.Is(err, defs.ErrUnavailable) {
				t.Errorf("error %q does not wrap ErrUnavailable (HTTP 503)", err)
			}
			if !errors.Is(err, tt.wantCause) || !strings.Contains(err.Error(), tt.wantCause.Error()) {
				t.Errorf("error %q does not wrap and name the cause %q", err, tt.wantCause)
			}
			if !strings.Contains(err.Error(), wantPath) {
				t.Errorf("error %q does not name %s", err, wantPath)
			}
			if after := rtTree(t, dir); !maps.Equal(after, before) {
				t.Errorf("files changed by the failed start:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// rtTree maps the files under path (path itself when it is a file) to their
// contents, and directories to "<dir>".
func rtTree(t *testing.T, path string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			out[p] = "<dir>"
			return nil
		}
		b, err := os.ReadFile(p)
		out[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRecorderDeleteDuringRemuxIsNotAWarning: a recording deleted while its
// MP4 is remuxed after stop stays deleted, and the recorder says so at info
// level, never warning that it keeps a fragmented MP4 that is gone.
func TestRecorderDeleteDuringRemuxIsNotAWarning(t *testing.T) {
	ff, probe := rtNeedFFmpeg(t)
	ctx := rtCtx(t)
	// What a recording looks like when it stops: a fragmented MP4.
	frag := filepath.Join(t.TempDir(), "frag.mp4")
	if out, err := exec.CommandContext(ctx, ff, "-hide_banner", "-loglevel", "error", "-nostdin",
		"-i", filepath.Join("testdata", "recorder_1s.mp4"), "-c", "copy",
		"-movflags", "frag_keyframe+empty_moov+default_base_moof", "-f", "mp4", frag).CombinedOutput(); err != nil {
		t.Fatalf("make a fragmented MP4: %v: %s", err, out)
	}
	fragBytes, err := os.ReadFile(frag)
	if err != nil {
		t.Fatal(err)
	}

	// setup returns a recorder (not running: only its remux is used) and
	// a finished fragmented recording in its catalogue, whose file is made
	// by makeFile.
	setup := func(t *testing.T, makeFile func(path string) error) (r *Recorder, cat *store.Catalog, logBuf *testutil.SyncBuffer, id, path string) {
		logBuf = &testutil.SyncBuffer{}
		log := slog.New(slog.NewTextHandler(io.MultiWriter(logBuf, t.Output()), &slog.HandlerOptions{Level: slog.LevelDebug}))
		dir := t.TempDir()
		cat = store.NewCatalog(dir, probe, log)
		r = NewRecorder(RecorderConfig{Camera: "cam0", Dir: dir, FFmpeg: ff}, &rtSource{hub: pipeline.NewHub(), fps: 30}, cat, log)
		id, path, err := cat.Reserve("cam0", "mp4", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if err := makeFile(path); err != nil {
			t.Fatal(err)
		}
		ended := time.Now()
		meta := store.Sidecar{StartedAt: ended.Add(-time.Second), EndedAt: &ended, State: store.RecStateComplete,
			Codec: "h264", Container: "mp4", FPS: 30, DurationS: 1, Fragmented: true}
		if err := cat.Put("cam0", id, path, meta, int64(len(fragBytes))); err != nil {
			t.Fatal(err)
		}
		return r, cat, logBuf, id, path
	}
	check := func(t *testing.T, cat *store.Catalog, logBuf *testutil.SyncBuffer, id, path string) {
		t.Helper()
		logs := logBuf.String()
		if !strings.Contains(logs, `level=INFO msg="recording deleted during remux; remux result discarded" camera=cam0 recording_id=`+id) {
			t.Errorf("no info line saying the remux result was discarded:\n%s", logs)
		}
		for _, bad := range []string{"keeping the fragmented MP4", "level=WARN", "recording remuxed"} {
			if strings.Contains(logs, bad) {
				t.Errorf("log says %q:\n%s", bad, logs)
			}
		}
		for _, p := range []string{path, store.SidecarPath(path), store.RemuxTemp(path)} {
			if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s after delete during remux: %v", p, err)
			}
		}
		if _, err := cat.Get(id); !errors.Is(err, defs.ErrNotFound) {
			t.Errorf("Get after delete during remux = %v, want ErrNotFound", err)
		}
	}

	t.Run("deleted while ffmpeg reads it", func(t *testing.T) {
		// The recording's file is a FIFO: ffmpeg's open of it returns when
		// the test opens the other end, so the delete lands, for sure,
		// while ffmpeg is reading the file; ffmpeg then remuxes it fine.
		r, cat, logBuf, id, path := setup(t, func(p string) error { return syscall.Mkfifo(p, 0o644) })
		r.remuxLater(ctx, id, path)
		remuxDone := make(chan struct{})
		go func() { r.post.Wait(); close(remuxDone) }()
		opened := make(chan *os.File, 1)
		go func() {
			w, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Errorf("open the FIFO: %v", err)
			}
			opened <- w
		}()
		var w *os.File
		select {
		case w = <-opened:
		case <-remuxDone:
			t.Fatalf("the remux ended without reading the file:\n%s", logBuf.String())
		case <-ctx.Done():
			t.Fatal("ffmpeg did not open the file")
		}
		if w == nil {
			t.FailNow()
		}
		if err := cat.Delete(id); err != nil {
			t.Fatalf("Delete while remuxing: %v", err)
		}
		_, werr := w.Write(fragBytes)
		if err := w.Close(); werr == nil {
			werr = err
		}
		if werr != nil {
			t.Fatalf("feed ffmpeg: %v", werr)
		}
		<-remuxDone
		check(t, cat, logBuf, id, path)
	})

	t.Run("deleted before ffmpeg opened it", func(t *testing.T) {
		// The remux then fails (its input is gone): still no warning.
		r, cat, logBuf, id, path := setup(t, func(p string) error { return os.WriteFile(p, fragBytes, 0o644) })
		if !cat.BeginRemux(id) {
			t.Fatal("beginRemux: want true")
		}
		if err := cat.Delete(id); err != nil {
			t.Fatalf("Delete while remuxing: %v", err)
		}
		t0 := time.Now()
		remuxErr := remuxMP4(ctx, ff, path, store.RemuxTemp(path))
		if remuxErr == nil {
			t.Fatal("remux of a deleted file succeeded")
		}
		r.remuxEnded(id, path, t0, remuxErr)
		check(t, cat, logBuf, id, path)
	})
}
